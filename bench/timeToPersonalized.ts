// Time to personalized on the CPU: how long background distillation of the default pack's 8 prompted experts takes
// before completions soup head adapters at plain speed, and what completions cost before and after, in one run.
// Model: one of Qwen2.5-Coder-0.5B's shape (bench/qwenShape.ts: random weights, Q8_0; the default), or tinycoder
// (../shared/models, trained: its held-out figures say whether the heads carry the experts' effect).
//   1. the manual command's windows (8 positions per 32-token window) on --baseline-positions positions (64), then
//   2. the background job exactly as the extension runs it (BACKGROUND_DISTILL: 400 positions, 16 per window):
//      model load, collecting (hidden states + every policy's distributions), fitting 8 head adapters;
//   3. FIM completion latency (16 tokens, greedy, one more character typed before every call, variants
//      interleaved, an engine each): plain (no basis), parameter souping with the distilled heads, rerank with the
//      prompted experts (the default pack's path before distillation), as ratios to plain.
// Usage: nice node --import tsx bench/timeToPersonalized.ts [--model qwen05b|tinycoder] [--positions 400]
//        [--baseline-positions 64] [--repeats 5] [--threads 1] [--json]
// The generated model goes to ~/.cache/spectral-soup-bench-models, the distillation to the temp folder.
import { existsSync, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { BACKGROUND_DISTILL } from "../src/core/basis/background";
import { distillBasis, type DistillOptions } from "../src/engine/distill";
import type { GenerateParams, LoadParams, SoupMode } from "../src/engine/protocol";
import { SoupEngine } from "../src/engine/soupEngine";
import { qwenShapedModel } from "./qwenShape";

const REPO = path.resolve(__dirname, "..");
const PACK = path.join(REPO, "models/default-pack.json");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const v = parseArgs({
    options: {
      model: { type: "string", default: "qwen05b" },
      positions: { type: "string" },
      "baseline-positions": { type: "string" },
      repeats: { type: "string" },
      threads: { type: "string" },
      json: { type: "boolean" },
    },
  }).values;
  const positions = Number(v.positions ?? BACKGROUND_DISTILL.positions);
  const baselinePositions = Number(v["baseline-positions"] ?? 64);
  const repeats = Number(v.repeats ?? 5);
  const threads = Number(v.threads ?? 1);
  const log = (s: string) => process.stderr.write(s + "\n");
  const tinycoder = path.resolve(__dirname, "../../shared/models/tinycoder/tinycoder.gguf");
  if (v.model === "tinycoder" && !existsSync(tinycoder)) {
    console.log(`skipped: ${tinycoder} is absent`);
    return;
  }
  const modelPath = v.model === "tinycoder" ? tinycoder : await qwenShapedModel(log);
  const modelName = v.model === "tinycoder" ? "tinycoder (trained, 3.3M, F16)" : "Qwen2.5-Coder-0.5B shape (24 layers, n_embd 896, vocab 151936), random weights, Q8_0";
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "soup-time-to-personalized-"));
  const signal = new AbortController().signal;
  const distill = (settings: Partial<DistillOptions>, name: string) =>
    distillBasis(
      // A fresh cache folder, so that collecting is timed, not read back; the corpus is this repository's src/core.
      { modelPath, packPath: PACK, corpus: path.join(REPO, "src/core"), outDir: path.join(work, name), cacheDir: path.join(work, `cache-${name}`), ...BACKGROUND_DISTILL, positions, threads, ...settings },
      signal,
      (p) => p.done === p.total && log(`${name}: ${p.stage} done`),
    );
  const manual = await distill({ perWindow: 8, refineSteps: 0, positions: baselinePositions }, "manual-windows");

  const t0 = performance.now();
  const report = await distill({}, "background");
  const wallS = (performance.now() - t0) / 1000;
  const collectS1000 = report.collectMsPerThousand / 1000;
  const measured = report.positions.train + report.positions.heldOut;
  const fitS = report.fitMs / 1000;
  // Load and set-up: the run's wall time less collecting and fitting.
  const loadS = wallS - report.collectMs / 1000 - fitS;

  const heads = Object.fromEntries(report.experts.map((e) => [e.id, e.file]));
  // An engine per variant, as a person runs one of them: no variant finds another's adapters set or KV cache moved.
  const load = async (basis: LoadParams["basis"]) => {
    const engine = new SoupEngine();
    await engine.load({ modelPath, gpu: "off", gpuLayers: 0, threads, contextSize: 2048, basis }, () => {});
    return engine;
  };
  const weights = Object.fromEntries(report.experts.map((e, k) => [e.id, 0.2 + 0.1 * k]));
  const body = Array.from({ length: 20 }, (_, i) => `  const v${i} = items[${i}] * ${i + 1};`).join("\n");
  const prefix = `export function build(items: number[]): number[] {\n${body}\n  `;
  const suffix = "\n  return [v0, v1, v2];\n}\n";
  const typed = "const total = v0 + v1 + v2 + v3;";
  const variants: { name: string; engine: SoupEngine; mode: SoupMode; weights: Record<string, number> }[] = [
    { name: "plain", engine: await load({ kind: "policies", id: "plain", version: "1", policies: [] }), mode: "parameter", weights: {} },
    { name: "distilled heads (parameter)", engine: await load({ kind: "pack", path: PACK, heads }), mode: "parameter", weights },
    { name: "prompted experts (rerank)", engine: await load({ kind: "pack", path: PACK }), mode: "rerank", weights },
  ];
  const ms: number[][] = variants.map(() => []);
  let keys = 0;
  for (let r = -1; r < repeats; r++) {
    for (const [i, x] of variants.entries()) {
      // A keystroke before every call, as in the editor: each call re-evaluates what the keystroke moved.
      const prompt = { kind: "fim" as const, prefix: prefix + typed.slice(0, ++keys % typed.length), suffix, language: "typescript" };
      const s = performance.now();
      await x.engine.generate({ prompt, mode: x.mode, weights: x.weights, maxTokens: 16, temperature: 0, candidates: 3 } as GenerateParams, signal, () => {});
      await x.engine.settled();
      // The first round warms the caches and is not counted.
      if (r >= 0) ms[i].push(performance.now() - s);
    }
  }
  for (const x of variants) await x.engine.unload();
  await fs.rm(work, { recursive: true, force: true });
  const p50 = ms.map(median);
  const res = {
    model: modelName,
    threads,
    experts: report.experts.length,
    settings: BACKGROUND_DISTILL,
    positions: measured,
    loadSeconds: loadS,
    collectSecondsPer1000Positions: collectS1000,
    manualWindowsCollectSecondsPer1000Positions: manual.collectMsPerThousand / 1000,
    collectSeconds: report.collectMs / 1000,
    fitSeconds: fitS,
    timeToPersonalizedSeconds: wallS,
    completionP50Ms: Object.fromEntries(variants.map((x, i) => [x.name, p50[i]])),
    completionVsPlain: Object.fromEntries(variants.map((x, i) => [x.name, p50[i] / p50[0]])),
    heldOut: Object.fromEntries(report.experts.map((e) => [e.id, { baseKl: e.reference.kl, headKl: e.adapter.kl }])),
  };
  if (v.json) console.log(JSON.stringify(res));
  else {
    console.log(`${res.model}, ${threads} thread(s), ${res.experts} prompted experts`);
    const m = res.manualWindowsCollectSecondsPer1000Positions;
    console.log(`background job, ${measured} positions (${BACKGROUND_DISTILL.perWindow} per ${BACKGROUND_DISTILL.window}-token window): time to personalized ${(wallS / 60).toFixed(1)} min at ${threads} thread(s)`);
    console.log(`  load ${loadS.toFixed(1)} s, collect ${res.collectSeconds.toFixed(0)} s (${collectS1000.toFixed(0)} s per 1000 positions), fit ${fitS.toFixed(1)} s`);
    console.log(`  the manual command's windows (8 per 32 tokens), same run on ${baselinePositions} positions: ${m.toFixed(0)} s per 1000 positions = ${(m / collectS1000).toFixed(2)}x the background's`);
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
