// Issue 4 benchmark: completion latency from keystroke to ghost text on the generated ~50M model with the default
// pack (8 prompted experts), the path src/extension/completions.ts takes minus VS Code itself: FIM window ->
// engine (real process) -> shaping -> cache. Cold: the prompt has not been seen; warm: the user types the first
// character of the suggestion and the cache serves the rest. Personalization path: rerank (N candidates scored by
// the soup reward) + recording the feedback, as a ratio to plain completion (one candidate, no scoring) measured
// keystroke by keystroke in the same run.
//   node --import tsx bench/completions.ts [--keystrokes N] [--candidates N]
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AdaptStore } from "../src/core/adapt/store";
import { loadBasisPack } from "../src/core/basis/pack";
import { BENCHMARK_MODEL, syntheticAdapterCache, syntheticModelCache } from "../src/core/gguf/synthetic";
import { CompletionCache } from "../src/core/completion/cache";
import { fimWindow } from "../src/core/completion/fim";
import { shapeCompletion } from "../src/core/completion/filter";
import { EngineClient } from "../src/engine/client";
import type { GenerateParams, LoadParams, PromptSpec } from "../src/engine/protocol";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const KEYSTROKES = arg("keystrokes", 24);
const CANDIDATES = arg("candidates", 3);
const MAX_TOKENS = 16;
// The generated model's vocabulary spends ~17 tokens a line; these limits keep the prompt near 1100 tokens,
// about what 256 + 64 lines cost a real code model's tokenizer at the scale of this model's 2k context.
const LIMITS = { prefixLines: 48, suffixLines: 16 };

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

/** A TypeScript file to type into: the completion sees 256 lines before and 64 after the cursor at most. */
function sampleDocument(): string[] {
  const lines: string[] = [];
  for (let i = 0; i < 120; i++) {
    lines.push(`export function step${i}(input: number[], scale = ${i + 1}): number[] {`);
    lines.push(`  // Scale each value and drop the negative ones.`);
    lines.push(`  return input.map((x) => x * scale).filter((x) => x >= 0);`);
    lines.push(`}`);
    lines.push(``);
  }
  return lines;
}

interface Variant {
  name: string;
  basis: LoadParams["basis"];
  ids: string[];
  personal: Partial<GenerateParams>;
}

async function measure(plainClient: EngineClient, client: EngineClient, store: AdaptStore, v: Variant) {
  const lines = sampleDocument();
  const cache = new CompletionCache();
  const plainMs: number[] = [];
  const personalMs: number[] = [];
  const warmMs: number[] = [];
  const feedbackScoreMs: number[] = [];
  // Type a new function body: each keystroke appends one character at the cursor.
  const typed = "  const total = input.reduce((a, b) => a + b, 0);";
  const at = 300;
  lines.splice(at, 0, "export function sum(input: number[]): number {", "", "}");
  const run = (c: EngineClient, p: Partial<GenerateParams>, prompt: PromptSpec) =>
    c.generate({ prompt, mode: "parameter", weights: {}, maxTokens: MAX_TOKENS, temperature: 0.8, seed: 1, stop: ["\n"], ...p } as GenerateParams);
  for (let i = 0; i < KEYSTROKES; i++) {
    lines[at + 1] = typed.slice(0, 2 + (i % (typed.length - 2)));
    const cursor = { line: at + 1, character: lines[at + 1].length };
    // Plain and personalized alternate on the same keystroke, so load drifts hit both alike.
    for (const which of i % 2 === 0 ? ["plain", "personal"] : ["personal", "plain"]) {
      const t0 = performance.now();
      const win = fimWindow(lines, cursor, LIMITS);
      const prompt: PromptSpec = { kind: "fim", prefix: win.prefix, suffix: win.suffix, language: "typescript" };
      const r = which === "plain" ? await run(plainClient, {}, prompt) : await run(client, v.personal, prompt);
      const shown = (r.candidates ?? [r]).map((c) => shapeCompletion(c.text, win)).filter((t): t is string => !!t);
      if (which === "plain") {
        plainMs.push(performance.now() - t0);
        continue;
      }
      cache.set(win.prefix, win.suffix, shown);
      personalMs.push(performance.now() - t0);
      // After the user acts: the shown completion's phi (free in rerank, scored in parameter mode) becomes a rating.
      const t2 = performance.now();
      const phi = r.features ?? (await client.score({ prompt, response: r.text, responseTokens: r.tokens })).features;
      if (!r.features) feedbackScoreMs.push(performance.now() - t2);
      store.record({ type: "rating", features: v.ids.map((id) => phi[id]), up: i % 3 !== 0, surface: "completion", signal: "accepted" });
      if (shown[0]) {
        // Warm: the user types the suggestion's first character; the cache serves the rest.
        const t1 = performance.now();
        if (!cache.lookup(win.prefix + shown[0][0], win.suffix)) throw new Error("cache miss while typing through a suggestion");
        warmMs.push(performance.now() - t1);
      }
    }
  }
  const f = (x: number) => x.toFixed(1);
  console.log(`\n${v.name}`);
  console.log(`  plain (1 candidate, weights 0)     p50 ${f(quantile(plainMs, 0.5))} ms  p95 ${f(quantile(plainMs, 0.95))} ms`);
  console.log(`  personalized                       p50 ${f(quantile(personalMs, 0.5))} ms  p95 ${f(quantile(personalMs, 0.95))} ms`);
  console.log(`  warm cache (typing through)        p50 ${(quantile(warmMs, 0.5) * 1000).toFixed(0)} us  p95 ${(quantile(warmMs, 0.95) * 1000).toFixed(0)} us`);
  console.log(`  personalization cost on the keystroke path: ${quantile(personalMs.map((p, i) => p / plainMs[i]), 0.5).toFixed(2)}x plain (target <= 1.15x)`);
  if (feedbackScoreMs.length) console.log(`  phi of a completion that got feedback (scored after the user acted, off the keystroke path): p50 ${f(quantile(feedbackScoreMs, 0.5))} ms`);
}

async function main() {
  const pack = path.resolve(__dirname, "../models/default-pack.json");
  const promptedIds = (await loadBasisPack(pack)).policies.map((p) => p.id);
  const cacheDir = path.join(os.tmpdir(), "spectral-soup-bench-models");
  const modelPath = await syntheticModelCache(cacheDir, BENCHMARK_MODEL);
  // Stand-ins for distilled experts (soup distill writes head adapters of this shape): 8 rank-16 head adapters.
  const heads = await Promise.all(promptedIds.map((_, k) => syntheticAdapterCache(cacheDir, { seed: 300 + k, base: BENCHMARK_MODEL, target: "head", rank: 16 })));
  const thompson = (ids: string[]) => Object.fromEntries(ids.map((id, k) => [id, 0.2 + 0.1 * (k % 4)]));
  const variants: Variant[] = [
    {
      name: `default pack, 8 prompted experts: auto mode = rerank (${CANDIDATES} candidates scored by the soup reward)`,
      basis: { kind: "pack", path: pack },
      ids: promptedIds,
      personal: { mode: "rerank", weights: thompson(promptedIds), candidates: CANDIDATES },
    },
    {
      name: "8 head adapters (distilled experts): auto mode = parameter soup at the Thompson weights",
      basis: { kind: "policies", id: "heads", version: "1", policies: heads.map((p, k) => ({ id: promptedIds[k], kind: "adapter", path: p })) },
      ids: promptedIds,
      personal: { mode: "parameter", weights: thompson(promptedIds) },
    },
  ];
  console.log(`completion latency, ${KEYSTROKES} keystrokes, ${LIMITS.prefixLines}+${LIMITS.suffixLines} lines, ~52M model, <= ${MAX_TOKENS} tokens, CPU 1 thread`);
  // Plain completion runs in its own engine process (the model without a basis): sharing sequences with the
  // personalized path would hand one of them the other's freshly cached prompt.
  const engine = () => new EngineClient({ entry: path.resolve(__dirname, "../src/engine/main.ts"), execArgv: ["--import", "tsx"] });
  const plainClient = engine();
  await plainClient.load({ modelPath, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 2048, basis: { kind: "policies", id: "none", version: "1", policies: [] } });
  for (const v of variants) {
    const client = engine();
    const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), "soup-bench-store-"));
    const store = AdaptStore.open(storeDir, { basis: { id: v.name, version: "1", dims: v.ids.length }, workspace: "bench" });
    try {
      await client.load({ modelPath, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 2048, basis: v.basis });
      await measure(plainClient, client, store, v);
    } finally {
      client.dispose();
      store.flush();
      fs.rmSync(storeDir, { recursive: true, force: true });
    }
  }
  plainClient.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
