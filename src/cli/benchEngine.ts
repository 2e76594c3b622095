// `soup bench engine`: souping costs on a generated ~50M-parameter model with a 32k vocabulary, each figure
// a ratio against a baseline measured in the same run (the machine is shared and noisy): ratios are medians
// of per-repeat pairs, measured back to back, so slow drifts in machine load cancel.
import * as os from "node:os";
import * as path from "node:path";
import type { Token } from "node-llama-cpp";
import { BENCHMARK_MODEL, syntheticAdapterCache, syntheticModelCache } from "../core/gguf/synthetic";
import { SoupEngine } from "../engine/soupEngine";
import type { GenerateParams, GpuMode, LoadParams, PolicySpec } from "../engine/protocol";
import { int, oneOf, parseCommand } from "./args";

export const BENCH_USAGE = "usage: soup bench engine [--gpu auto|cuda|vulkan|metal|off] [--threads N] [--cache DIR] [--json]";

const K = 4;
const TOKENS = 48;
const REPEATS = 5;

export interface EngineBenchResult {
  model: { path: string; parameters: string; vocab: number };
  backend: string;
  gpuLayers: string;
  threads: number;
  plainTokPerSec: number;
  /** The same greedy decode through node-llama-cpp alone (no project code), and the plain engine's ratio to it. */
  nlcAloneTokPerSec: number;
  plainVsNlcAlone: number;
  /** Parameter mode with features: decoding vs the scoring pass after it (reported apart). */
  parameterScoreMs: number;
  parameterGenerateMs: number;
  parameterK4TokPerSec: number;
  parameterVsPlain: number;
  batchedCeilingTokPerSec: number;
  explicitK4TokPerSec: number;
  explicitVsCeiling: number;
  weightChangeToFirstTokenMs: number;
  promptChars: number;
  promptColdMs: number;
  promptReusedMs: number;
  prefixReuseSpeedup: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchEngine(args: string[], out: (line: string) => void): Promise<number> {
  const v = parseCommand(
    { usage: BENCH_USAGE, options: { json: { type: "boolean" }, gpu: { type: "string" }, threads: { type: "string" }, cache: { type: "string" } } },
    args,
  ).values;
  const gpu = oneOf<GpuMode>(v.gpu, ["auto", "cuda", "vulkan", "metal", "off"], "--gpu", "off");
  const threads = v.threads === undefined ? undefined : int(v.threads, "--threads", 1, 1);
  const cache = v.cache ?? path.join(os.tmpdir(), "spectral-soup-bench-models");
  const log = (s: string) => process.stderr.write(s + "\n");
  log(`generating/locating the benchmark model in ${cache} ...`);
  const modelPath = await syntheticModelCache(cache, BENCHMARK_MODEL);
  const heads = await Promise.all(
    Array.from({ length: K }, (_, k) => syntheticAdapterCache(cache, { seed: 100 + k, base: BENCHMARK_MODEL, target: "head", rank: 16 })),
  );
  const params = (policies: PolicySpec[]): LoadParams => ({
    modelPath,
    gpu,
    gpuLayers: gpu === "off" ? 0 : "max",
    threads,
    contextSize: 1024,
    basis: { kind: "policies", id: "bench", version: "1", policies },
  });
  const prompted: PolicySpec[] = ["concise", "commented", "typed", "defensive"].map((id) => ({
    id,
    kind: "prompted",
    chat: `Write ${id} code.`,
    fim: `// Style: ${id} code.`,
  }));
  const adapters: PolicySpec[] = heads.map((p, k) => ({ id: `head${k}`, kind: "adapter", path: p }));
  const prompt = { kind: "raw" as const, text: "function parse(input) {\n  const result = [];\n  for (const line of input.split('\\n')) {" };
  const signal = new AbortController().signal;
  const gen = (engine: SoupEngine, p: Partial<GenerateParams>) =>
    engine.generate({ prompt, mode: "parameter", weights: {}, maxTokens: TOKENS, temperature: 0, ...p } as GenerateParams, signal, () => {});

  // Three engines on the same model: no basis, K head adapters, K prompted experts.
  const plain = new SoupEngine();
  const souped = new SoupEngine();
  const explicit = new SoupEngine();
  const status = await plain.load(params([]), () => {});
  await souped.load(params(adapters), () => {});
  await explicit.load(params(prompted), () => {});
  const backend = status.backend!;
  const wParam = Object.fromEntries(adapters.map((a, k) => [a.id, 0.3 + 0.2 * k]));
  const wExplicit = Object.fromEntries(prompted.map((a, k) => [a.id, 0.3 + 0.2 * k]));
  // Warm-up so first-call costs are not counted.
  await gen(plain, {});
  await gen(souped, { weights: wParam });
  await gen(explicit, { mode: "explicit", weights: wExplicit, maxTokens: 4 });
  await souped.settled();

  const plainTps: number[] = [];
  const paramTps: number[] = [];
  const explicitTps: number[] = [];
  const ceilingTps: number[] = [];
  const switchMs: number[] = [];
  const aloneTps: number[] = [];
  const scoreMs: number[] = [];
  const generateMs: number[] = [];
  const alone = await nlcAlone(modelPath, threads ?? backend.threads, gpu, prompt.text);
  try {
    await alone.decode();
    for (let r = 0; r < REPEATS; r++) {
      aloneTps.push(await alone.decode());
      plainTps.push((await gen(plain, {})).timings.tokensPerSecond);
      const f = await gen(souped, { weights: wParam, withFeatures: true });
      scoreMs.push(f.timings.scoreMs);
      generateMs.push(f.timings.generateMs);
    }
  } finally {
    await alone.dispose();
  }
  plainTps.length = 0;
  for (let r = 0; r < REPEATS; r++) {
    plainTps.push((await gen(plain, {})).timings.tokensPerSecond);
    paramTps.push((await gen(souped, { weights: wParam })).timings.tokensPerSecond);
    explicitTps.push((await gen(explicit, { mode: "explicit", weights: wExplicit })).timings.tokensPerSecond);
    ceilingTps.push(await batchedDecodeCeiling(modelPath, K + 1, threads ?? backend.threads, gpu));
    // A weight change: the next request's first token comes under the new scales.
    const w2 = Object.fromEntries(adapters.map((a, k) => [a.id, 0.1 * (r + 1) + 0.1 * k]));
    const t0 = performance.now();
    await gen(souped, { weights: w2, maxTokens: 1 });
    switchMs.push(performance.now() - t0);
    // Back to the measured weights, with their souped adapter (steady state of an episode).
    await souped.settled();
    await gen(souped, { weights: wParam, maxTokens: 1 });
  }
  // Prompt time: the same long prompt again (its prefix is cached) vs a prompt that shares nothing.
  const long = Array.from({ length: 40 }, (_, i) => `const value${i} = compute(${i});`).join("\n");
  const cold: number[] = [];
  const warm: number[] = [];
  let promptChars = 0;
  for (let r = 0; r < REPEATS; r++) {
    const fresh = `// run ${r} ${Math.random()}\n${long}`;
    const a = await plain.generate({ prompt: { kind: "raw", text: fresh }, mode: "parameter", weights: {}, maxTokens: 1, temperature: 0 }, signal, () => {});
    const b = await plain.generate({ prompt: { kind: "raw", text: fresh }, mode: "parameter", weights: {}, maxTokens: 1, temperature: 0 }, signal, () => {});
    cold.push(a.timings.promptMs);
    warm.push(b.timings.promptMs);
    promptChars = fresh.length;
  }
  await plain.unload();
  await souped.unload();
  await explicit.unload();
  const res: EngineBenchResult = {
    model: { path: modelPath, parameters: "~52M", vocab: BENCHMARK_MODEL.vocabSize! },
    backend: backend.backend,
    gpuLayers: `${backend.gpuLayers}/${backend.totalLayers}`,
    threads: backend.threads,
    plainTokPerSec: median(plainTps),
    nlcAloneTokPerSec: median(aloneTps),
    plainVsNlcAlone: median(plainTps.map((t, i) => t / aloneTps[i])),
    parameterScoreMs: median(scoreMs),
    parameterGenerateMs: median(generateMs),
    parameterK4TokPerSec: median(paramTps),
    parameterVsPlain: median(paramTps.map((t, i) => t / plainTps[i])),
    batchedCeilingTokPerSec: median(ceilingTps),
    explicitK4TokPerSec: median(explicitTps),
    explicitVsCeiling: median(explicitTps.map((t, i) => t / ceilingTps[i])),
    weightChangeToFirstTokenMs: median(switchMs),
    promptChars,
    promptColdMs: median(cold),
    promptReusedMs: median(warm),
    prefixReuseSpeedup: median(cold.map((c, i) => c / Math.max(1e-3, warm[i]))),
  };
  if (v.json) out(JSON.stringify(res));
  else {
    const f = (x: number) => x.toFixed(2);
    out(`backend ${res.backend} (${res.gpuLayers} layers, ${res.threads} threads), model ${res.model.parameters}, vocab ${res.model.vocab}`);
    out(`plain                         ${f(res.plainTokPerSec)} tok/s  = ${f(res.plainVsNlcAlone)}x node-llama-cpp alone (${f(res.nlcAloneTokPerSec)} tok/s)`);
    out(`parameter K=${K} with features   decoding ${f(res.parameterGenerateMs)} ms, scoring after it ${f(res.parameterScoreMs)} ms`);
    out(`parameter soup K=${K} (heads)     ${f(res.parameterK4TokPerSec)} tok/s  = ${f(res.parameterVsPlain)}x plain (target >= 0.9)`);
    out(`batched decode ceiling K+1=${K + 1}  ${f(res.batchedCeilingTokPerSec)} tok/s`);
    out(`explicit soup K=${K} (prompted)  ${f(res.explicitK4TokPerSec)} tok/s  = ${f(res.explicitVsCeiling)}x ceiling (target >= 0.85)`);
    out(`weight change -> first token  ${f(res.weightChangeToFirstTokenMs)} ms`);
    out(`prompt (${res.promptChars} chars) cold / prefix reused ${f(res.promptColdMs)} ms / ${f(res.promptReusedMs)} ms = ${f(res.prefixReuseSpeedup)}x faster`);
  }
  return 0;
}

/** Greedy decoding of TOKENS tokens with node-llama-cpp's own generator, no project code: tokens per second. */
async function nlcAlone(modelPath: string, threads: number, gpu: GpuMode, text: string) {
  const nlc = await import("node-llama-cpp");
  const llama = await nlc.getLlama({ gpu: gpu === "off" ? false : gpu, build: "never", logLevel: nlc.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: gpu === "off" ? 0 : "max" });
  const ctx = await model.createContext({ contextSize: 1024, threads });
  const seq = ctx.getSequence();
  const bos = model.tokens.bos;
  const prompt = [...(model.tokens.shouldPrependBosToken && bos != null ? [bos] : []), ...model.tokenize(text)];
  return {
    async decode(): Promise<number> {
      // Same as the engine's cached prompt: keep the prompt, drop the previous continuation.
      if (seq.nextTokenIndex > prompt.length - 1) await seq.eraseContextTokenRanges([{ start: prompt.length - 1, end: seq.nextTokenIndex }]);
      const pending = prompt.slice(seq.nextTokenIndex);
      let n = 0;
      let t0 = 0;
      for await (const token of seq.evaluate(pending, { temperature: 0, yieldEogToken: true })) {
        void token;
        if (n === 0) t0 = performance.now();
        if (++n >= TOKENS) break;
      }
      // As the engine counts it: every generated token over the time after the first one came.
      return (n / (performance.now() - t0)) * 1000;
    },
    dispose: () => model.dispose(),
  };
}

/**
 * Steps per second of K+1 sequences decoded in one batch, each computing its logits and sampling natively
 * (no probability maps to JS): the most explicit souping over K+1 policies can reach.
 */
export async function batchedDecodeCeiling(modelPath: string, sequences: number, threads: number, gpu: GpuMode, tokens = TOKENS): Promise<number> {
  const nlc = await import("node-llama-cpp");
  const llama = await nlc.getLlama({ gpu: gpu === "off" ? false : gpu, build: "never", logLevel: nlc.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: gpu === "off" ? 0 : "max" });
  try {
    const ctx = await model.createContext({ contextSize: 1024, threads, sequences });
    const seqs = Array.from({ length: sequences }, () => ctx.getSequence());
    const prompt = model.tokenize("function parse(input) {");
    await Promise.all(seqs.map((s) => s.controlledEvaluate(prompt)));
    // Untimed steps first: the first decodes of a new context allocate its buffers and touch the weights.
    const step = (i: number) => Promise.all(seqs.map((s) => s.controlledEvaluate([[(100 + i) as Token, { generateNext: { token: true } }]])));
    for (let i = 0; i < 2; i++) await step(1000 + i);
    const t0 = performance.now();
    for (let i = 0; i < tokens; i++) await step(i);
    return (tokens / (performance.now() - t0)) * 1000;
  } finally {
    await model.dispose();
  }
}
