// The engine proper: one base model, a basis of policies, and the three ways to soup them.
//  explicit  - K+1 policy streams decoded in lockstep, next-token log-probs mixed (src/core/soup/mix)
//  parameter - one context with every adapter at scale w_k (native llama.cpp LoRA), plain decoding
//  rerank    - N candidates from pi_0, each scored by r_w(y) = w . phi(y), best first
// Sequences keep their KV state between requests; each request reuses the longest matching prefix.
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";
import { mulberry32 } from "../core/random";
import { logFloor, policyLogProb, sampleToken, soupLogits, softmax, type NextTokenProbs } from "../core/soup/mix";
import type { DistillTarget } from "./distill";
import {
  backendInfo,
  checkAdapters,
  checkModelFile,
  createLoaded,
  errorText,
  resolveBasis,
  type Loaded,
  type Nlc,
  type ProgressSink,
  type Stream,
} from "./loaded";
import { llamaFailure, llamaLogger, llamaLogMark } from "./llamaLog";
import { OutputText } from "./output";
import {
  EngineError,
  type Candidate,
  type GenerateParams,
  type GenerateResult,
  type LoadParams,
  type NextParams,
  type NextResult,
  type PolicySpec,
  type PromptSpec,
  type ScoreParams,
  type ScoreResult,
  type StatusResult,
} from "./protocol";

/** Vocabularies up to this size get full next-token distributions (exact mixing and features). */
const FULL_VOCAB_MAX = 4096;
/** Otherwise each policy reports its top-k; the union is mixed with a floor for missing tokens. */
const MIX_TOP_K = 64;

export class SoupEngine {
  constructor(private readonly log: (message: string) => void = () => {}) {}

  private nlc: Nlc | null = null;
  private llamaByGpu = new Map<string, Llama>();
  private loaded: Loaded | null = null;
  private loading = false;

  async load(params: LoadParams, progress: ProgressSink): Promise<StatusResult> {
    this.loading = true;
    try {
      await this.unload();
      const t0 = performance.now();
      await checkModelFile(params.modelPath);
      const basis = await resolveBasis(params);
      await checkAdapters(params.modelPath, basis.policies);
      this.nlc ??= await import("node-llama-cpp");
      const llama = await this.getLlama(params.gpu);
      const threads = params.threads && params.threads > 0 ? params.threads : Math.max(1, llama.cpuMathCores - 1);
      let model: LlamaModel;
      const mark = llamaLogMark();
      try {
        model = await llama.loadModel({
          modelPath: params.modelPath,
          gpuLayers: params.gpuLayers,
          onLoadProgress: (p) => progress("model", p),
        });
      } catch (e) {
        throw new EngineError("bad-model", `${params.modelPath}: llama.cpp could not load this model (${llamaFailure(e, mark)})`);
      }
      try {
        this.loaded = await createLoaded(this.nlc, this.log, params, llama, model, threads, basis, t0, progress);
      } catch (e) {
        await model.dispose();
        throw e;
      }
    } finally {
      this.loading = false;
    }
    return this.status();
  }

  async status(): Promise<StatusResult> {
    const l = this.loaded;
    // Only a GPU backend has VRAM to report; getVramState is a native call, cheap enough for a status request.
    const vramUsedBytes = l && l.llama.gpu !== false ? (await l.llama.getVramState()).used : 0;
    const contexts = l ? [l.baseContext, ...l.adapterContexts, ...(l.parameterContext ? [l.parameterContext] : [])] : [];
    return {
      state: this.loading ? "loading" : l ? "ready" : "idle",
      modelPath: l?.params.modelPath ?? null,
      basis: l
        ? { id: l.basisId, version: l.basisVersion, policies: l.policies.map((p) => ({ id: p.id, kind: p.kind })) }
        : null,
      backend: l ? backendInfo(l) : null,
      memory: {
        rssBytes: process.memoryUsage().rss,
        modelBytes: l?.model.size ?? 0,
        contextBytes: contexts.reduce((s, c) => s + c.stateSize, 0),
        vramUsedBytes,
      },
      loadMs: l?.loadMs ?? 0,
    };
  }

  async generate(p: GenerateParams, signal: AbortSignal, onText: (t: string) => void): Promise<GenerateResult> {
    const l = this.require();
    const weights = this.weightVector(l, p.weights);
    checkSampling(p);
    const t0 = performance.now();
    const out = new OutputText(l.model, p.stop ?? [], p.mode === "rerank" ? undefined : onText, l.prompts.tokens(p.prompt), l.prompts.stopTokens);
    let features: Record<string, number> | null = null;
    let candidates: Candidate[] | undefined;
    let finish: GenerateResult["finishReason"];
    let promptMs: number;
    if (p.mode === "explicit") {
      const streams = [l.baseStream, ...this.expertStreams(l)];
      const r = await this.explicitDecode(l, streams, p.prompt, weights, p, out, signal);
      promptMs = r.promptMs;
      finish = r.finish;
      // FIM features are defined on the prefix alone (see scoreTokens); the ones decoding gave for free saw the suffix.
      const phi = p.prompt.kind === "fim" && out.tokens.length ? await this.scoreTokens(l, p.prompt, out.tokens, signal) : r.phi;
      features = toRecord(l.policies, phi);
    } else if (p.mode === "parameter") {
      const seq = await this.parameterSequence(l, weights);
      const r = await this.nativeDecode(l, seq, l.prompts.tokens(p.prompt), p, out, signal);
      promptMs = r.promptMs;
      finish = r.finish;
      if (p.withFeatures) features = toRecord(l.policies, await this.scoreTokens(l, p.prompt, out.tokens, signal));
    } else {
      const r = await this.rerank(l, p, weights, signal);
      candidates = r.candidates;
      promptMs = r.promptMs;
      finish = r.finish;
      const best = candidates[0];
      for (const t of best.tokens) out.push(t as Token);
      onText(best.text);
      features = best.features;
    }
    const text = out.finish();
    const totalMs = performance.now() - t0;
    const generateMs = Math.max(1e-3, totalMs - promptMs);
    const generated = candidates ? candidates.reduce((s, c) => s + c.tokens.length, 0) : out.tokens.length;
    return {
      text,
      tokens: out.tokens,
      mode: p.mode,
      weights: toRecord(l.policies, weights),
      features,
      ...(candidates ? { candidates } : {}),
      finishReason: finish,
      timings: { loadMs: l.loadMs, promptMs, generateMs, tokensPerSecond: (generated / generateMs) * 1000 },
      backend: backendInfo(l),
    };
  }

  async score(p: ScoreParams, signal: AbortSignal): Promise<ScoreResult> {
    const l = this.require();
    // Generated text follows the prompt, so it is tokenized without a leading-space marker.
    const response = p.responseTokens ? (p.responseTokens as Token[]) : l.model.tokenize(p.response, false, "trimLeadingSpace");
    if (response.length === 0) throw new EngineError("bad-request", "score: the response is empty");
    return { features: toRecord(l.policies, await this.scoreTokens(l, p.prompt, response, signal)), tokens: response.length };
  }

  async next(p: NextParams, signal: AbortSignal): Promise<NextResult> {
    const l = this.require();
    const weights = this.weightVector(l, p.weights);
    const top = Math.max(1, Math.min(p.top, l.vocabSize));
    let tokens: number[];
    let probs: Float64Array;
    if (p.mode === "explicit") {
      const streams = [l.baseStream, ...this.expertStreams(l)];
      const dists = await Promise.all(
        streams.map((s) => this.evalPrompt(l, s.sequence, l.prompts.tokens(p.prompt, s.policy), signal)),
      );
      const mixed = soupLogits(dists, weights, l.vocabSize);
      tokens = mixed.tokens;
      probs = softmax(mixed.logits);
    } else {
      const seq = await this.parameterSequence(l, weights);
      const dist = await this.evalPrompt(l, seq, l.prompts.tokens(p.prompt), signal);
      tokens = [...dist.keys()];
      probs = Float64Array.from(dist.values());
    }
    return {
      tokens: [...tokens.keys()]
        .sort((a, b) => probs[b] - probs[a])
        .slice(0, top)
        .map((i) => ({ id: tokens[i], text: l.model.detokenize([tokens[i] as Token], true), p: probs[i] })),
    };
  }

  /** What distillation reads from the loaded engine (src/engine/distill.ts): the model and one stream per policy. */
  distillTarget(): DistillTarget {
    const l = this.require();
    return {
      model: l.model,
      threads: l.threads,
      vocabSize: l.vocabSize,
      policies: l.policies,
      // Each policy's tokens before a raw text: BOS, plus the header for a prompted expert.
      streams: [l.baseStream, ...this.expertStreams(l)].map((s) => ({ prefix: l.prompts.tokens({ kind: "raw", text: "" }, s.policy), sequence: s.sequence })),
      distribution: this.distOptions(l),
    };
  }

  async unload(): Promise<void> {
    const l = this.loaded;
    this.loaded = null;
    if (l) {
      await l.souped?.dispose();
      await l.model.dispose();
    }
  }

  /** Starts background work a request left for when it was done (writing a souped adapter). */
  afterRequest(): void {
    const l = this.loaded;
    const pending = l?.pendingSoup;
    if (l && pending) {
      l.pendingSoup = null;
      pending();
    }
  }

  /** Runs and waits for background work, so measurements see the steady state. */
  async settled(): Promise<void> {
    this.afterRequest();
    await this.loaded?.souped?.settled();
  }

  // ---- decoding ------------------------------------------------------------------------------------

  private async explicitDecode(
    l: Loaded,
    streams: Stream[],
    prompt: PromptSpec,
    weights: number[],
    p: GenerateParams,
    out: OutputText,
    signal: AbortSignal,
  ) {
    const t0 = performance.now();
    const promptTokens = streams.map((s) => l.prompts.tokens(prompt, s.policy));
    this.checkRoom(l, Math.max(...promptTokens.map((t) => t.length)), p.maxTokens);
    let dists = await Promise.all(streams.map((s, i) => this.evalPrompt(l, s.sequence, promptTokens[i], signal)));
    const promptMs = performance.now() - t0;
    const phi = new Array<number>(streams.length - 1).fill(0);
    const random = mulberry32(p.seed ?? Date.now());
    let finish: GenerateResult["finishReason"] = "maxTokens";
    for (let n = 0; n < p.maxTokens; n++) {
      throwIfAborted(signal);
      const token = sampleToken(soupLogits(dists, weights, l.vocabSize), p, random) as Token;
      if (l.model.isEogToken(token)) {
        finish = "eog";
        break;
      }
      const l0 = tokenLogProb(dists[0], l.vocabSize, token);
      for (let k = 1; k < dists.length; k++) phi[k - 1] += tokenLogProb(dists[k], l.vocabSize, token) - l0;
      if (out.push(token)) {
        finish = "stop";
        break;
      }
      if (n + 1 < p.maxTokens) dists = await Promise.all(streams.map((s) => this.evalNext(l, s.sequence, token)));
    }
    return { promptMs, finish, phi };
  }

  /** Plain llama.cpp decoding with native sampling on one sequence (parameter mode, rerank candidates). */
  private async nativeDecode(
    l: Loaded,
    sequence: LlamaContextSequence,
    prompt: Token[],
    p: GenerateParams,
    out: OutputText,
    signal: AbortSignal,
  ) {
    this.checkRoom(l, prompt.length, p.maxTokens);
    const t0 = performance.now();
    const pending = await this.syncPrefix(sequence, prompt);
    let promptMs = 0;
    let finish: GenerateResult["finishReason"] = "maxTokens";
    let n = 0;
    const it = sequence.evaluate(pending, {
      temperature: p.temperature,
      topK: p.topK,
      topP: p.topP,
      minP: p.minP,
      seed: p.seed,
      yieldEogToken: true,
    });
    for await (const token of it) {
      if (n === 0) promptMs = performance.now() - t0;
      if (l.model.isEogToken(token)) {
        finish = "eog";
        break;
      }
      if (out.push(token)) {
        finish = "stop";
        break;
      }
      if (++n >= p.maxTokens || signal.aborted) break;
    }
    throwIfAborted(signal);
    return { promptMs, finish };
  }

  private async rerank(l: Loaded, p: GenerateParams, weights: number[], signal: AbortSignal) {
    const n = Math.max(1, Math.min(p.candidates ?? 3, 16));
    const prompt = l.prompts.tokens(p.prompt);
    let promptMs = 0;
    const drafts: { tokens: Token[]; text: string; finish: GenerateResult["finishReason"] }[] = [];
    // One after another on the reference sequence: the prompt is evaluated once and each later candidate only
    // replaces the previous one's tokens (parallel sequences would each evaluate the whole prompt again).
    // Candidates beyond the first are sampled (temperature at least 0.7) so they differ.
    for (let i = 0; i < n; i++) {
      const out = new OutputText(l.model, p.stop ?? [], undefined, prompt, l.prompts.stopTokens);
      const settings = i === 0 ? p : { ...p, temperature: Math.max(p.temperature, 0.7), seed: (p.seed ?? 0) + i };
      const r = await this.nativeDecode(l, l.baseStream.sequence, prompt, settings, out, signal);
      if (i === 0) promptMs = r.promptMs;
      drafts.push({ tokens: out.tokens, text: out.finish(), finish: r.finish });
    }
    const unique = drafts.filter((d, i) => d.tokens.length > 0 && drafts.findIndex((e) => e.text === d.text) === i);
    if (unique.length === 0) unique.push(drafts[0]);
    const candidates: (Candidate & { finish: GenerateResult["finishReason"] })[] = [];
    for (const d of unique) {
      const phi = d.tokens.length ? await this.scoreTokens(l, p.prompt, d.tokens, signal) : weights.map(() => 0);
      const reward = phi.reduce((s, f, k) => s + weights[k] * f, 0);
      candidates.push({ text: d.text, tokens: d.tokens, features: toRecord(l.policies, phi), reward, finish: d.finish });
    }
    candidates.sort((a, b) => b.reward - a.reward);
    return {
      promptMs,
      finish: candidates[0].finish,
      candidates: candidates.map(({ finish: _f, ...c }) => c),
    };
  }

  /**
   * phi_k = log pi_k(y|x) - log pi_0(y|x) for every basis policy, from one batched pass per policy.
   * A FIM response is scored given the prefix only (an empty suffix): with the suffix, every keystroke moves the
   * whole suffix and each of the K+1 policies would evaluate it again (measured 11.5x a plain completion for K = 8);
   * without it, each policy's cached prompt only grows by the typed characters.
   */
  private async scoreTokens(l: Loaded, prompt: PromptSpec, response: Token[], signal: AbortSignal): Promise<number[]> {
    const streams = [l.baseStream, ...this.expertStreams(l)];
    const scored: PromptSpec = prompt.kind === "fim" ? { ...prompt, suffix: "" } : prompt;
    const logp = await Promise.all(
      streams.map(async (s) => {
        const tokens = l.prompts.tokens(scored, s.policy);
        this.checkRoom(l, tokens.length, response.length);
        throwIfAborted(signal);
        const pending = await this.syncPrefix(s.sequence, tokens);
        const first = pending.length - 1;
        const items = [...pending, ...response].map((t, i) =>
          i >= first && i < first + response.length ? ([t, { generateNext: { probabilities: true, options: this.distOptions(l) } }] as const) : t,
        );
        const res = await s.sequence.controlledEvaluate(items as Parameters<LlamaContextSequence["controlledEvaluate"]>[0]);
        let sum = 0;
        for (let j = 0; j < response.length; j++) {
          const probs = res[first + j]?.next.probabilities;
          if (!probs) throw new EngineError("internal", "llama.cpp returned no probabilities while scoring");
          sum += tokenLogProb(probs, l.vocabSize, response[j]);
        }
        return sum;
      }),
    );
    return logp.slice(1).map((v) => v - logp[0]);
  }

  /** Evaluates what is not cached of `tokens` and returns the next-token distribution after them. */
  private async evalPrompt(l: Loaded, sequence: LlamaContextSequence, tokens: Token[], signal: AbortSignal): Promise<NextTokenProbs> {
    throwIfAborted(signal);
    const pending = await this.syncPrefix(sequence, tokens);
    const items = pending.map((t, i) =>
      i === pending.length - 1 ? ([t, { generateNext: { probabilities: true, options: this.distOptions(l) } }] as const) : t,
    );
    const res = await sequence.controlledEvaluate(items as Parameters<LlamaContextSequence["controlledEvaluate"]>[0]);
    const probs = res[res.length - 1]?.next.probabilities;
    if (!probs) throw new EngineError("internal", "llama.cpp returned no next-token probabilities");
    return probs;
  }

  private async evalNext(l: Loaded, sequence: LlamaContextSequence, token: Token): Promise<NextTokenProbs> {
    const res = await sequence.controlledEvaluate([[token, { generateNext: { probabilities: true, options: this.distOptions(l) } }]]);
    const probs = res[0]?.next.probabilities;
    if (!probs) throw new EngineError("internal", "llama.cpp returned no next-token probabilities");
    return probs;
  }

  /** Keeps the longest cached prefix of `tokens` (at least the last token is re-evaluated) and returns the rest. */
  private async syncPrefix(sequence: LlamaContextSequence, tokens: Token[]): Promise<Token[]> {
    const cached = sequence.contextTokens;
    let n = 0;
    while (n < cached.length && n < tokens.length - 1 && cached[n] === tokens[n]) n++;
    if (sequence.nextTokenIndex > n) await sequence.eraseContextTokenRanges([{ start: n, end: sequence.nextTokenIndex }]);
    return tokens.slice(n);
  }

  private distOptions(l: Loaded) {
    return { temperature: 1, topK: l.vocabSize <= FULL_VOCAB_MAX ? 0 : MIX_TOP_K, topP: 1, minP: 0 };
  }

  private async parameterSequence(l: Loaded, weights: number[]): Promise<LlamaContextSequence> {
    const prompted = l.policies.find((q, k) => q.kind === "prompted" && weights[k] !== 0);
    if (prompted) {
      throw new EngineError(
        "bad-request",
        `parameter souping cannot apply prompted expert "${prompted.id}": give it weight 0, use explicit or rerank mode, or distill it into a head adapter`,
      );
    }
    const ctx = l.parameterContext;
    const seq = l.parameterSequence;
    if (!ctx || !seq) return l.baseStream.sequence;
    const adapters = l.policies.flatMap((q, k) => (q.kind === "adapter" ? [{ filePath: q.path, scale: weights[k] }] : []));
    const key = adapters.map((a) => a.scale).join(",");
    const souped = l.souped!.get(key);
    if (key !== l.parameterScalesKey) {
      const zero = adapters.every((a) => a.scale === 0);
      await setAdapterScales(ctx, zero ? [] : souped ? [{ filePath: souped, scale: 1 }] : adapters);
      l.parameterScalesKey = key;
      l.parameterSouped = zero || souped !== undefined;
      // Written after this request, so its first tokens do not share the main thread with the write.
      if (!l.parameterSouped) l.pendingSoup = () => l.souped!.build(key, adapters, () => l.parameterScalesKey);
      // KV entries computed under other scales are stale unless only the output head changed.
      if (!l.headOnlyAdapters) await seq.clearHistory();
    } else if (!l.parameterSouped && souped) {
      // Same delta as the K adapters, one pair of products instead of K: cached KV stays valid.
      await setAdapterScales(ctx, [{ filePath: souped, scale: 1 }]);
      l.parameterSouped = true;
    }
    return seq;
  }

  private async getLlama(gpu: LoadParams["gpu"]): Promise<Llama> {
    const cached = this.llamaByGpu.get(gpu);
    if (cached) return cached;
    const unavailable = (why: string) =>
      new EngineError("bad-model", `GPU backend "${gpu}" is not available on this machine (${why}); set gpu to "auto" or "off"`);
    let llama: Llama;
    try {
      llama = await this.nlc!.getLlama({ gpu: gpu === "off" ? false : gpu, build: "never", progressLogs: false, logLevel: this.nlc!.LlamaLogLevel.error, logger: llamaLogger });
    } catch (e) {
      throw unavailable(errorText(e));
    }
    // node-llama-cpp may fall back to another backend; a backend the user named must be the one that runs.
    if (gpu !== "auto" && gpu !== "off" && llama.gpu !== gpu) throw unavailable(`llama.cpp loaded ${llama.gpu || "the CPU backend"} instead`);
    this.llamaByGpu.set(gpu, llama);
    return llama;
  }

  private require(): Loaded {
    if (!this.loaded) throw new EngineError("not-loaded", "no model is loaded: call load first");
    return this.loaded;
  }

  /** Policies in engine order (prompted, then adapters); matches expertStreams. */
  private expertStreams(l: Loaded): Stream[] {
    return [...l.promptedStreams, ...l.adapterStreams];
  }

  private weightVector(l: Loaded, weights: Record<string, number>): number[] {
    const known = new Set(l.policies.map((p) => p.id));
    const unknown = Object.keys(weights).filter((id) => !known.has(id));
    if (unknown.length) {
      throw new EngineError(
        "bad-request",
        `weights for unknown policies: ${unknown.join(", ")} (basis "${l.basisId}" has: ${[...known].join(", ")})`,
      );
    }
    return l.policies.map((p) => {
      const w = weights[p.id] ?? 0;
      if (!Number.isFinite(w)) throw new EngineError("bad-request", `weight for "${p.id}" is not a finite number`);
      return w;
    });
  }

  private checkRoom(l: Loaded, promptTokens: number, more: number): void {
    const size = l.baseContext.contextSize;
    if (promptTokens + more > size) {
      throw new EngineError(
        "bad-request",
        `prompt of ${promptTokens} tokens plus ${more} more does not fit the context of ${size} tokens: shorten the prompt or raise contextSize`,
      );
    }
  }
}

/** Changes LoRA scales on a live context (an internal node-llama-cpp call measured at 0.1 ms, see notes). */
async function setAdapterScales(ctx: LlamaContext, adapters: { filePath: string; scale: number }[]): Promise<void> {
  const internal = ctx as unknown as { _setLoras?: (a: { filePath: string; scale: number }[]) => Promise<void> };
  if (typeof internal._setLoras !== "function") {
    throw new EngineError("internal", "this node-llama-cpp build cannot change adapter scales on a live context");
  }
  await internal._setLoras(adapters);
}

function tokenLogProb(probs: NextTokenProbs, vocabSize: number, token: Token): number {
  return policyLogProb(probs, logFloor(probs, vocabSize), token);
}

function toRecord(policies: PolicySpec[], values: number[]): Record<string, number> {
  return Object.fromEntries(policies.map((p, k) => [p.id, values[k]]));
}

function checkSampling(p: GenerateParams): void {
  if (!Number.isInteger(p.maxTokens) || p.maxTokens < 1) throw new EngineError("bad-request", "maxTokens must be a positive integer");
  if (!(p.temperature >= 0)) throw new EngineError("bad-request", "temperature must be >= 0");
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new EngineError("cancelled", "request cancelled");
}

