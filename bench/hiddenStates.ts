// Hidden states for distillation: `npx tsx bench/hiddenStates.ts [--windows 12]`. On the generated ~52M
// benchmark model, the last 8 positions of 32-token windows: one public embedding call per position (each
// re-evaluates its whole prefix) vs the incremental path distillation uses (the window's start cached, one token
// per position), interleaved per window; ms per 1000 positions and the ratio, plus the largest difference.
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { BENCHMARK_MODEL, syntheticModelCache } from "../src/core/gguf/synthetic";

const WINDOW = 32;
const PER_WINDOW = 8;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const windows = Number(parseArgs({ options: { windows: { type: "string", default: "12" } } }).values.windows);
  const modelPath = await syntheticModelCache(path.join(os.tmpdir(), "spectral-soup-bench-models"), BENCHMARK_MODEL);
  const nlc = await import("node-llama-cpp");
  const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: nlc.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const embedding = await model.createEmbeddingContext({ contextSize: WINDOW + 16, threads: 1 });
  const internal = embedding as unknown as { _sequence: LlamaContextSequence; _llamaContext: { _ctx: { getEmbedding(n: number): Float64Array } } };
  const bos = model.tokens.bos!;
  const perPrefix: number[] = [];
  const incremental: number[] = [];
  let maxDiff = 0;
  for (let w = 0; w < windows; w++) {
    const window = [bos, ...Array.from({ length: WINDOW }, (_, i) => (300 + ((w * 131 + i * 17) % 30000)) as Token)];
    let t0 = performance.now();
    const a: number[][] = [];
    for (let j = window.length - PER_WINDOW; j < window.length; j++) a.push([...(await embedding.getEmbeddingFor(window.slice(0, j + 1))).vector]);
    perPrefix.push(performance.now() - t0);
    t0 = performance.now();
    const seq = internal._sequence;
    await seq.clearHistory();
    const evaluate = async (tokens: Token[]) => {
      for await (const _ of seq.evaluate(tokens, { _noSampling: true } as Parameters<LlamaContextSequence["evaluate"]>[1])) break;
    };
    await evaluate(window.slice(0, window.length - PER_WINDOW));
    const b: number[][] = [];
    for (let j = window.length - PER_WINDOW; j < window.length; j++) {
      await evaluate([window[j]]);
      b.push([...internal._llamaContext._ctx.getEmbedding(seq.nextTokenIndex)]);
    }
    incremental.push(performance.now() - t0);
    a.forEach((h, q) => h.forEach((x, i) => (maxDiff = Math.max(maxDiff, Math.abs(x - b[q][i])))));
  }
  const per1000 = (ms: number[]) => ((median(ms) / PER_WINDOW) * 1000).toFixed(0);
  console.log(`${windows} windows of ${WINDOW} tokens, last ${PER_WINDOW} positions each, 1 thread`);
  console.log(`per-prefix embedding calls: ${per1000(perPrefix)} ms per 1000 positions`);
  console.log(`incremental (distillation): ${per1000(incremental)} ms per 1000 positions = ${median(incremental.map((x, i) => perPrefix[i] / x)).toFixed(2)}x faster`);
  console.log(`largest |h difference|: ${maxDiff.toExponential(2)}`);
  await model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
