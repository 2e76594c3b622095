// Completion latency from keystroke to suggestion on the generated ~50M model with the default pack (8 prompted
// experts), through the same CompletionSession the editor runs (src/core/completion/session.ts), minus VS Code:
// FIM window -> debounce (0 here) -> soup plan -> engine (real process) -> shaping -> cache -> feedback. Cold: the
// request reached the engine; warm: the user types the first character of the suggestion and the cache serves
// the rest. Personalization path: rerank (N candidates scored by the soup reward) or parameter soup, plus recording
// the feedback, as a ratio to plain completion (no basis, one decode) measured keystroke by keystroke in one run.
//   node --import tsx bench/completions.ts [--keystrokes N] [--candidates N]
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ChoiceFeedback, RatingFeedback } from "../src/core/adapt/feedback";
import { AdaptStore } from "../src/core/adapt/store";
import { loadBasisPack } from "../src/core/basis/pack";
import { CompletionSession, type CompletionRequest, type CompletionSessionSettings } from "../src/core/completion/session";
import { BENCHMARK_MODEL, syntheticAdapterCache, syntheticModelCache } from "../src/core/gguf/synthetic";
import { FeedbackRecorder } from "../src/core/soup/recorder";
import type { GenerateOptions, Generator, WeightSource } from "../src/core/soup/weights";
import { EngineClient } from "../src/engine/client";
import type { GenerateParams, GenerateResult, LoadParams, ScoreParams, ScoreResult } from "../src/engine/protocol";
import type { PolicyKind, SoupMode } from "../src/shared/soup";

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

const quantile = (xs: number[], q: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]! : NaN);

/** A TypeScript file to type into. */
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

/**
 * The engine process as the session's generator, counting requests and timing the scoring of feedback. Plain
 * completion has no basis, so no phi: it scores nothing (its session records no feedback off the measured path).
 */
class EngineGenerator implements Generator {
  generated = 0;
  readonly scoreMs: number[] = [];
  constructor(
    private readonly client: EngineClient,
    readonly policies: { id: string; kind: PolicyKind }[],
  ) {}
  generate(params: GenerateParams, options: GenerateOptions): Promise<GenerateResult> {
    this.generated++;
    return this.client.generate(params, options);
  }
  async score(params: ScoreParams): Promise<ScoreResult | null> {
    if (!this.policies.length) return null;
    const t0 = performance.now();
    const r = await this.client.score(params);
    this.scoreMs.push(performance.now() - t0);
    return r;
  }
}

/** Fixed weights (a Thompson draw stands in), feedback recorded into a real adaptation store. */
function weightSource(ids: string[], weights: Record<string, number>, store: AdaptStore | null): WeightSource {
  return {
    policyIds: ids,
    weights: () => weights,
    vector: (features) => ids.map((id) => features[id] ?? 0),
    record: async (event: RatingFeedback | ChoiceFeedback) => void store?.record(event),
  };
}

function settings(mode: SoupMode | "auto"): CompletionSessionSettings {
  return {
    completions: { enabled: true, languages: { "*": true }, debounceMs: 0, ...LIMITS, maxTokens: MAX_TOKENS, timeBudgetMs: 60_000, candidates: CANDIDATES, multiline: "never", prefetch: false },
    soupMode: mode,
    exploration: true,
    episodeCompletions: 20,
    episodeMinutes: 10,
  };
}

interface Variant {
  name: string;
  basis: LoadParams["basis"];
  ids: string[];
  kind: PolicyKind;
  mode: SoupMode;
  weights: Record<string, number>;
}

async function measure(plain: EngineGenerator, client: EngineClient, store: AdaptStore, storeDir: string, v: Variant) {
  const log = { info: () => {}, warn: (m: string) => console.warn(`  warn: ${m}`) };
  const sessionOf = (generator: Generator, weights: WeightSource, mode: SoupMode | "auto") => {
    const feedback = new FeedbackRecorder({ generator, weights, log, file: path.join(storeDir, "waiting-feedback.json"), engineUp: () => true });
    return new CompletionSession({ generator, weights, feedback, settings: () => settings(mode), log });
  };
  const plainSession = sessionOf(plain, weightSource([], {}, null), "auto");
  const personal = new EngineGenerator(client, v.ids.map((id) => ({ id, kind: v.kind })));
  const session = sessionOf(personal, weightSource(v.ids, v.weights, store), v.mode);
  const lines = sampleDocument();
  const ratios: number[] = [];
  const plainMs: number[] = [];
  const personalMs: number[] = [];
  const warmMs: number[] = [];
  let servedByCache = 0;
  // Type a new function body: each keystroke appends one character at the cursor.
  const typed = "  const total = input.reduce((a, b) => a + b, 0);";
  const at = 300;
  lines.splice(at, 0, "export function sum(input: number[]): number {", "", "}");
  const request = (): CompletionRequest => ({ lines: [...lines], cursor: { line: at + 1, character: lines[at + 1]!.length }, languageId: "typescript", file: "bench.ts" });
  const signal = new AbortController().signal;
  for (let i = 0; i < KEYSTROKES; i++) {
    lines[at + 1] = typed.slice(0, 2 + (i % (typed.length - 2)));
    const ms: Record<string, number | null> = {};
    // Plain and personalized alternate on the same keystroke, so load drifts hit both alike.
    for (const which of i % 2 === 0 ? ["plain", "personal"] : ["personal", "plain"]) {
      const [s, g] = which === "plain" ? [plainSession, plain] : [session, personal];
      const before = g.generated;
      const t0 = performance.now();
      const items = await s.complete(request(), signal);
      // A keystroke served by the cache (typing through an earlier suggestion) is not a cold request.
      ms[which] = g.generated > before ? performance.now() - t0 : null;
      if (which === "plain") continue;
      if (ms.personal === null) servedByCache++;
      const shown = items?.[0]?.text;
      if (!shown) continue;
      // Warm: the user types the suggestion's first character; the cache serves the rest.
      session.observe({ type: "typed", text: shown[0]! });
      lines[at + 1] += shown[0];
      const t1 = performance.now();
      const rest = await session.complete(request(), signal);
      warmMs.push(performance.now() - t1);
      if (!rest?.length) throw new Error("cache miss while typing through a suggestion");
      lines[at + 1] = lines[at + 1]!.slice(0, -1);
      // After the user acts: the shown completion's phi (free in rerank, scored in parameter mode) becomes a rating.
      // Accepting (Tab) inserts the rest at the cursor, which the editor reports as typed text.
      session.observe(i % 3 === 0 ? { type: "dismissed" } : { type: "typed", text: rest[0]!.text });
      await session.settled();
    }
    if (ms.plain != null) plainMs.push(ms.plain);
    if (ms.personal != null) personalMs.push(ms.personal);
    if (ms.plain != null && ms.personal != null) ratios.push(ms.personal / ms.plain);
  }
  const f = (x: number) => x.toFixed(1);
  console.log(`\n${v.name}`);
  console.log(`  plain (no basis)                   p50 ${f(quantile(plainMs, 0.5))} ms  p95 ${f(quantile(plainMs, 0.95))} ms  (${plainMs.length} cold)`);
  console.log(`  personalized                       p50 ${f(quantile(personalMs, 0.5))} ms  p95 ${f(quantile(personalMs, 0.95))} ms  (${personalMs.length} cold, ${servedByCache} from the cache)`);
  console.log(`  warm cache (typing through)        p50 ${(quantile(warmMs, 0.5) * 1000).toFixed(0)} us  p95 ${(quantile(warmMs, 0.95) * 1000).toFixed(0)} us`);
  console.log(`  personalization cost on the keystroke path: ${quantile(ratios, 0.5).toFixed(2)}x plain over ${ratios.length} keystrokes cold in both (target <= 1.15x)`);
  if (personal.scoreMs.length) console.log(`  phi of a completion that got feedback (scored after the user acted, off the keystroke path): p50 ${f(quantile(personal.scoreMs, 0.5))} ms`);
}

async function main() {
  const pack = path.resolve(__dirname, "../models/default-pack.json");
  const promptedIds = (await loadBasisPack(pack)).policies.map((p) => p.id);
  const cacheDir = path.join(os.tmpdir(), "spectral-soup-bench-models");
  const modelPath = await syntheticModelCache(cacheDir, BENCHMARK_MODEL);
  // Stand-ins for distilled experts (soup distill writes head adapters of this shape): 8 rank-16 head adapters.
  const heads = await Promise.all(promptedIds.map((_, k) => syntheticAdapterCache(cacheDir, { seed: 300 + k, base: BENCHMARK_MODEL, target: "head", rank: 16 })));
  const thompson = Object.fromEntries(promptedIds.map((id, k) => [id, 0.2 + 0.1 * (k % 4)]));
  const variants: Variant[] = [
    {
      name: `default pack, 8 prompted experts: rerank (${CANDIDATES} candidates scored by the soup reward)`,
      basis: { kind: "pack", path: pack },
      ids: promptedIds,
      kind: "prompted",
      mode: "rerank",
      weights: thompson,
    },
    {
      name: "8 head adapters (distilled experts): parameter soup at the Thompson weights",
      basis: { kind: "policies", id: "heads", version: "1", policies: heads.map((p, k) => ({ id: promptedIds[k]!, kind: "adapter", path: p })) },
      ids: promptedIds,
      kind: "adapter",
      mode: "parameter",
      weights: thompson,
    },
  ];
  console.log(`completion latency through CompletionSession, ${KEYSTROKES} keystrokes, ${LIMITS.prefixLines}+${LIMITS.suffixLines} lines, ~52M model, <= ${MAX_TOKENS} tokens, CPU 1 thread`);
  // Plain completion runs in its own engine process (the model without a basis): sharing sequences with the
  // personalized path would hand one of them the other's freshly cached prompt.
  const engine = () => new EngineClient({ entry: path.resolve(__dirname, "../src/engine/main.ts"), execArgv: ["--import", "tsx"] });
  const plainClient = engine();
  await plainClient.load({ modelPath, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 2048, basis: { kind: "policies", id: "none", version: "1", policies: [] } });
  const plain = new EngineGenerator(plainClient, []);
  for (const v of variants) {
    const client = engine();
    const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), "soup-bench-store-"));
    const store = AdaptStore.open(storeDir, { basis: { id: v.name, version: "1", dims: v.ids.length }, workspace: "bench" });
    try {
      await client.load({ modelPath, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 2048, basis: v.basis });
      await measure(plain, client, store, storeDir, v);
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
