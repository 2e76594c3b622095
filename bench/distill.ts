// Distillation benchmark on the generated ~52M model (BENCHMARK_MODEL, vocab 32k):
//  1. time to distill the default pack's 8 prompted experts, per 1000 positions (collect) plus the fit;
//  2. tokens/s of the default pack in explicit mode (K+1 = 9 sequences) vs parameter mode with the 8 distilled head
//     adapters (one decode per token), as a median of per-repeat ratios measured back to back in one run.
// Usage: node --import tsx bench/distill.ts [--positions N] [--rank R] [--json]. Figures go to docs/BENCHMARKS.md.
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { BENCHMARK_MODEL, syntheticModelCache } from "../src/core/gguf/synthetic";
import { distillBasis } from "../src/engine/distill";
import type { GenerateParams, SoupMode } from "../src/engine/protocol";
import { SoupEngine } from "../src/engine/soupEngine";

const REPO = path.resolve(__dirname, "..");
const TOKENS = 48;
const REPEATS = 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const v = parseArgs({ options: { positions: { type: "string" }, rank: { type: "string" }, json: { type: "boolean" } } }).values;
  const log = (s: string) => process.stderr.write(s + "\n");
  const cache = path.join(os.tmpdir(), "spectral-soup-bench-models");
  log(`generating/locating the benchmark model in ${cache} ...`);
  const modelPath = await syntheticModelCache(cache, BENCHMARK_MODEL);
  const packPath = path.join(REPO, "models/default-pack.json");
  const outDir = path.join(os.tmpdir(), "spectral-soup-bench-distill");
  const signal = new AbortController().signal;
  const positions = Number(v.positions ?? 240);
  const report = await distillBasis(
    // A fresh cache folder per run, so that collecting is timed, not read back.
    { modelPath, packPath, corpus: path.join(REPO, "src"), outDir, cacheDir: path.join(outDir, `cache-${Date.now()}`), rank: Number(v.rank ?? 16), positions, window: 32, perWindow: 8, threads: 1, refineSteps: 50 },
    signal,
    (p) => p.done === p.total && log(`${p.stage} done`),
  );

  const load = async (pack: string) => {
    const e = new SoupEngine();
    await e.load({ modelPath, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "pack", path: pack } }, () => {});
    return e;
  };
  const explicit = await load(packPath);
  const parameter = await load(report.pack);
  const weights = Object.fromEntries(report.experts.map((e, k) => [e.id, 0.1 + 0.05 * k]));
  const prompt = { kind: "raw" as const, text: "function parse(input) {\n  const result = [];\n  for (const line of input.split('\\n')) {" };
  const gen = (e: SoupEngine, mode: SoupMode, maxTokens = TOKENS) =>
    e.generate({ prompt, mode, weights, maxTokens, temperature: 0 } as GenerateParams, signal, () => {});
  await gen(explicit, "explicit", 4);
  await gen(parameter, "parameter", 4);
  const ex: number[] = [];
  const pa: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    ex.push((await gen(explicit, "explicit")).timings.tokensPerSecond);
    pa.push((await gen(parameter, "parameter")).timings.tokensPerSecond);
  }
  await explicit.unload();
  await parameter.unload();
  const res = {
    model: "BENCHMARK_MODEL (~52M, vocab 32000, F16)",
    experts: report.experts.length,
    positions: report.positions,
    collectSecondsPer1000Positions: report.collectMsPerThousand / 1000,
    fitSeconds: report.fitMs / 1000,
    heldOut: Object.fromEntries(report.experts.map((e) => [e.id, { baseKl: e.reference.kl, adapterKl: e.adapter.kl, baseTop1: e.reference.top1, adapterTop1: e.adapter.top1 }])),
    explicitTokPerSec: median(ex),
    parameterTokPerSec: median(pa),
    parameterVsExplicit: median(pa.map((p, i) => p / ex[i])),
  };
  if (v.json) console.log(JSON.stringify(res));
  else {
    console.log(`distill ${res.experts} experts: collect ${res.collectSecondsPer1000Positions.toFixed(1)} s per 1000 positions, fit ${res.fitSeconds.toFixed(1)} s (${res.positions.train} training positions)`);
    for (const [id, e] of Object.entries(res.heldOut)) console.log(`  ${id.padEnd(18)} held-out KL base ${e.baseKl.toExponential(2)} -> adapter ${e.adapterKl.toExponential(2)}, top-1 ${(100 * e.baseTop1).toFixed(0)}% -> ${(100 * e.adapterTop1).toFixed(0)}%`);
    console.log(`explicit K=8 (prompted)  ${res.explicitTokPerSec.toFixed(2)} tok/s`);
    console.log(`parameter K=8 (distilled heads)  ${res.parameterTokPerSec.toFixed(2)} tok/s  = ${res.parameterVsExplicit.toFixed(2)}x explicit (target >= 3)`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
