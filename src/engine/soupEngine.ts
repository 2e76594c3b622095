// The engine proper: one base model, a basis of policies, and the three ways to soup them (explicit,
// parameter, rerank: src/engine/decode.ts). This class checks requests and dispatches them; loading is in
// loaded.ts, the adapter-scale state in parameterSoup.ts, features in scoring.ts.
// Sequences keep their KV state between requests; each request reuses the longest matching prefix.
import type { Llama, LlamaModel, Token } from "node-llama-cpp";
import { soupLogits, softmax } from "../core/soup/mix";
import { explicitDecode, nativeDecode, rerank, toRecord } from "./decode";
import {
  backendInfo,
  checkAdapters,
  checkModelFile,
  createLoaded,
  errorText,
  liveContexts,
  parameterScales,
  policyStreams,
  resolveBasis,
  type Loaded,
  type Nlc,
  type ProgressSink,
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
  type ScoreParams,
  type ScoreResult,
  type StatusResult,
} from "./protocol";
import { scoreTokens } from "./scoring";
import { distributionOptions, evalPrompt, type DistillTarget } from "./sequences";

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
    const contexts = l ? await liveContexts(l) : [];
    return {
      state: this.loading ? "loading" : l ? "ready" : "idle",
      modelPath: l?.params.modelPath ?? null,
      basis: l
        ? { id: l.basisId, version: l.basisVersion, policies: l.policies.map((p) => ({ id: p.id, kind: p.kind, ...(p.kind === "prompted" && p.head ? { head: true } : {}) })) }
        : null,
      backend: l ? backendInfo(l) : null,
      chatTemplate: l ? l.prompts.hasChatTemplate : null,
      memory: {
        rssBytes: process.memoryUsage().rss,
        modelBytes: l?.model.size ?? 0,
        contextBytes: contexts.reduce((s, c) => s + c.stateSize, 0),
        contexts: contexts.length,
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
    // Tokenized once: a FIM window of hundreds of lines is not free to tokenize twice.
    const promptTokens = l.prompts.tokens(p.prompt);
    const out = new OutputText(l.model, p.stop ?? [], p.mode === "rerank" ? undefined : onText, promptTokens, l.prompts.stopTokens);
    let features: Record<string, number> | null = null;
    let candidates: Candidate[] | undefined;
    let finish: GenerateResult["finishReason"];
    let promptMs: number;
    let promptTokensEvaluated: number;
    let scoreMs = 0;
    const score = async (tokens: Token[]) => {
      const s0 = performance.now();
      const phi = await scoreTokens(l, p.prompt, tokens, signal);
      scoreMs = performance.now() - s0;
      return phi;
    };
    if (p.mode === "explicit") {
      const streams = await policyStreams(l);
      const r = await explicitDecode(l, streams, p.prompt, weights, p, out, signal);
      ({ promptMs, promptTokensEvaluated } = r);
      finish = r.finish;
      // FIM features are defined on the prefix alone (see scoreTokens); the ones decoding gave for free saw the suffix.
      const phi = p.prompt.kind === "fim" && out.tokens.length ? await score(out.tokens) : r.phi;
      features = toRecord(l.policies, phi);
    } else if (p.mode === "parameter") {
      const seq = await this.parameterSequence(l, weights);
      const r = await nativeDecode(l, seq, promptTokens, p, out, signal);
      ({ promptMs, promptTokensEvaluated } = r);
      finish = r.finish;
      if (p.withFeatures) features = toRecord(l.policies, await score(out.tokens));
    } else {
      const r = await rerank(l, p, weights, signal);
      candidates = r.candidates;
      ({ promptMs, promptTokensEvaluated, scoreMs } = r);
      finish = r.finish;
      const best = candidates[0];
      for (const t of best.tokens) out.push(t as Token);
      onText(best.text);
      features = best.features;
    }
    const text = out.finish();
    const totalMs = performance.now() - t0;
    const generateMs = Math.max(1e-3, totalMs - promptMs - scoreMs);
    const generated = candidates ? candidates.reduce((s, c) => s + c.tokens.length, 0) : out.tokens.length;
    return {
      text,
      tokens: out.tokens,
      mode: p.mode,
      weights: toRecord(l.policies, weights),
      features,
      ...(candidates ? { candidates } : {}),
      finishReason: finish,
      timings: { loadMs: l.loadMs, promptMs, promptTokensEvaluated, generateMs, scoreMs, tokensPerSecond: (generated / generateMs) * 1000 },
      backend: backendInfo(l),
    };
  }

  async score(p: ScoreParams, signal: AbortSignal): Promise<ScoreResult> {
    const l = this.require();
    // Generated text follows the prompt, so it is tokenized without a leading-space marker.
    const response = p.responseTokens ? (p.responseTokens as Token[]) : l.model.tokenize(p.response, false, "trimLeadingSpace");
    if (response.length === 0) throw new EngineError("bad-request", "score: the response is empty");
    return { features: toRecord(l.policies, await scoreTokens(l, p.prompt, response, signal)), tokens: response.length };
  }

  async next(p: NextParams, signal: AbortSignal): Promise<NextResult> {
    const l = this.require();
    const weights = this.weightVector(l, p.weights);
    const top = Math.max(1, Math.min(p.top, l.vocabSize));
    const options = distributionOptions(l.vocabSize);
    let tokens: number[];
    let probs: Float64Array;
    if (p.mode === "explicit") {
      const streams = await policyStreams(l);
      const dists = await Promise.all(streams.map(async (s) => (await evalPrompt(s.sequence, l.prompts.tokens(p.prompt, s.policy), options, signal)).probs));
      const mixed = soupLogits(dists, weights, l.vocabSize);
      tokens = mixed.tokens;
      probs = softmax(mixed.logits);
    } else {
      const seq = await this.parameterSequence(l, weights);
      const dist = (await evalPrompt(seq, l.prompts.tokens(p.prompt), options, signal)).probs;
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

  /** The loaded model (tokenizing for the basis jobs). */
  model(): LlamaModel {
    return this.require().model;
  }

  /** What distillation reads from the loaded engine: the model and one stream per policy. */
  async distillTarget(): Promise<DistillTarget> {
    const l = this.require();
    const streams = await policyStreams(l);
    return {
      model: l.model,
      threads: l.threads,
      vocabSize: l.vocabSize,
      policies: l.policies,
      // Each policy's tokens before a raw text: BOS, plus the header for a prompted expert.
      streams: streams.map((s) => ({ prefix: l.prompts.tokens({ kind: "raw", text: "" }, s.policy), sequence: s.sequence })),
      distribution: distributionOptions(l.vocabSize),
    };
  }

  async unload(): Promise<void> {
    const l = this.loaded;
    this.loaded = null;
    if (l) {
      await l.parameter?.dispose();
      await l.model.dispose();
    }
  }

  /** Starts background work a request left for when it was done (writing a souped adapter). */
  afterRequest(): void {
    this.loaded?.parameter?.afterRequest();
  }

  /** Runs and waits for background work, so measurements see the steady state. */
  async settled(): Promise<void> {
    await this.loaded?.parameter?.settled();
  }

  private async parameterSequence(l: Loaded, weights: number[]) {
    const scales = parameterScales(l, weights);
    if (!l.parameter) return l.baseStream.sequence;
    return l.parameter.sequenceFor(scales);
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
}

function checkSampling(p: GenerateParams): void {
  if (!Number.isInteger(p.maxTokens) || p.maxTokens < 1) throw new EngineError("bad-request", "maxTokens must be a positive integer");
  if (!(p.temperature >= 0)) throw new EngineError("bad-request", "temperature must be >= 0");
}
