// Time to personalized on the CPU for a model of Qwen2.5-Coder-0.5B's shape (bench/qwenShape.ts: random weights,
// Q8_0): how long background distillation of the default pack's 8 prompted experts takes before completions soup
// head adapters at plain speed, and what completions cost before and after, measured in one run.
//   1. model load;
//   2. collecting (hidden states + every policy's distributions), on --positions positions (default 48) with the
//      background job's window settings, extrapolated to 1000 positions and to the background job's size;
//   3. fitting the 8 head adapters on what was collected (the shared part costs n_embd^3 once, each expert
//      n_embd^2 per iteration, so it grows less than linearly with positions: extrapolated linearly, an upper bound);
//   4. FIM completion latency (16 tokens, greedy, one character typed per repeat, modes interleaved): plain (no
//      weights), parameter souping with the distilled heads, rerank with the prompted experts (the default pack's
//      path before distillation), as ratios to plain.
// Usage: nice node --import tsx bench/timeToPersonalized.ts [--positions 48] [--repeats 5] [--threads 1] [--json]
// The model files go to ~/.cache/spectral-soup-bench-models, the distillation to the temp folder.
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { BACKGROUND_DISTILL } from "../src/core/basis/background";
import { distillBasis } from "../src/engine/distill";
import type { GenerateParams, SoupMode } from "../src/engine/protocol";
import { SoupEngine } from "../src/engine/soupEngine";
import { qwenShapedModel } from "./qwenShape";

const REPO = path.resolve(__dirname, "..");
const PACK = path.join(REPO, "models/default-pack.json");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const v = parseArgs({ options: { positions: { type: "string" }, repeats: { type: "string" }, threads: { type: "string" }, json: { type: "boolean" } } }).values;
  const positions = Number(v.positions ?? 48);
  const repeats = Number(v.repeats ?? 5);
  const threads = Number(v.threads ?? 1);
  const log = (s: string) => process.stderr.write(s + "\n");
  const modelPath = await qwenShapedModel(log);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "soup-time-to-personalized-"));
  const signal = new AbortController().signal;

  const t0 = performance.now();
  const report = await distillBasis(
    // A fresh cache folder, so that collecting is timed, not read back; the corpus is this repository's src/core.
    { modelPath, packPath: PACK, corpus: path.join(REPO, "src/core"), outDir: path.join(work, "out"), cacheDir: path.join(work, "cache"), ...BACKGROUND_DISTILL, positions, threads },
    signal,
    (p) => p.done === p.total && log(`${p.stage} done`),
  );
  const wallS = (performance.now() - t0) / 1000;
  const collectS1000 = report.collectMsPerThousand / 1000;
  const trained = report.positions.train + report.positions.heldOut;
  const fitS = report.fitMs / 1000;
  // Load and set-up: the run's wall time less collecting and fitting.
  const loadS = wallS - report.collectMs / 1000 - fitS;
  const target = BACKGROUND_DISTILL.positions;
  const fitAtTargetS = (fitS * target) / trained;
  const timeToPersonalizedS = loadS + (collectS1000 * target) / 1000 + fitAtTargetS;

  const heads = Object.fromEntries(report.experts.map((e) => [e.id, e.file]));
  const engine = new SoupEngine();
  await engine.load({ modelPath, gpu: "off", gpuLayers: 0, threads, contextSize: 2048, basis: { kind: "pack", path: PACK, heads } }, () => {});
  const weights = Object.fromEntries(report.experts.map((e, k) => [e.id, 0.2 + 0.1 * k]));
  const body = Array.from({ length: 20 }, (_, i) => `  const v${i} = items[${i}] * ${i + 1};`).join("\n");
  const prefix = `export function build(items: number[]): number[] {\n${body}\n  `;
  const suffix = "\n  return [v0, v1, v2];\n}\n";
  const typed = "const total = v0 + v1 + v2 + v3;";
  const variants: { name: string; mode: SoupMode; weights: Record<string, number> }[] = [
    { name: "plain", mode: "parameter", weights: {} },
    { name: "distilled heads (parameter)", mode: "parameter", weights },
    { name: "prompted experts (rerank)", mode: "rerank", weights },
  ];
  const ms: number[][] = variants.map(() => []);
  for (let r = -1; r < repeats; r++) {
    const prompt = { kind: "fim" as const, prefix: prefix + typed.slice(0, r + 1), suffix, language: "typescript" };
    for (const [i, x] of variants.entries()) {
      const s = performance.now();
      await engine.generate({ prompt, mode: x.mode, weights: x.weights, maxTokens: 16, temperature: 0, candidates: 3 } as GenerateParams, signal, () => {});
      await engine.settled();
      // The first round warms the caches and is not counted.
      if (r >= 0) ms[i].push(performance.now() - s);
    }
  }
  await engine.unload();
  await fs.rm(work, { recursive: true, force: true });
  const p50 = ms.map(median);
  const res = {
    model: "Qwen2.5-Coder-0.5B shape (24 layers, n_embd 896, vocab 151936), random weights, Q8_0",
    threads,
    experts: report.experts.length,
    settings: BACKGROUND_DISTILL,
    measuredPositions: trained,
    loadSeconds: loadS,
    collectSecondsPer1000Positions: collectS1000,
    fitSecondsMeasured: fitS,
    fitSecondsAtBackgroundSize: fitAtTargetS,
    timeToPersonalizedSeconds: timeToPersonalizedS,
    completionP50Ms: Object.fromEntries(variants.map((x, i) => [x.name, p50[i]])),
    completionVsPlain: Object.fromEntries(variants.map((x, i) => [x.name, p50[i] / p50[0]])),
    heldOut: Object.fromEntries(report.experts.map((e) => [e.id, { baseKl: e.reference.kl, headKl: e.adapter.kl }])),
  };
  if (v.json) console.log(JSON.stringify(res));
  else {
    console.log(`${res.model}, ${threads} thread(s), ${res.experts} prompted experts`);
    console.log(`load ${loadS.toFixed(1)} s; collect ${collectS1000.toFixed(0)} s per 1000 positions (measured on ${trained}, window ${BACKGROUND_DISTILL.window}, ${BACKGROUND_DISTILL.perWindow} per window)`);
    console.log(`fit ${fitS.toFixed(1)} s at ${trained} positions (${fitAtTargetS.toFixed(1)} s at ${target}, linear: an upper bound)`);
    console.log(`time to personalized (background job, ${target} positions): ${(timeToPersonalizedS / 60).toFixed(1)} min of CPU work at ${threads} thread(s)`);
    for (const [i, x] of variants.entries()) console.log(`completion p50 ${x.name.padEnd(28)} ${p50[i].toFixed(0).padStart(6)} ms  ${(p50[i] / p50[0]).toFixed(2)}x plain`);
    for (const [id, e] of Object.entries(res.heldOut)) console.log(`  ${id.padEnd(18)} held-out KL to the expert: base ${e.baseKl.toExponential(2)} -> head ${e.headKl.toExponential(2)}`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
