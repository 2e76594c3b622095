// The engine protocol served by a llama-server pool. Each request carries the user's soup weights as per-request
// LoRA scales, every adapter's scale always sent (a request without them runs the adapters at their global scales);
// the servers keep no per-user state. Prompts are tokenized here the way the in-process engine builds them, so both
// evaluate the same tokens. Features phi are exact: the response's tokens are forced by a token-id grammar and the
// server reports each forced token's log-probability under the raw (pre-sampling) distribution.
import * as path from "node:path";
import type { RequestOptions } from "../client";
import type { EngineBackend } from "../backend";
import { resolveBasis } from "../loaded";
import { KNOWN_FIM_TEMPLATES, noFim, policyPrompt } from "../prompts";
import {
  EngineError,
  type BackendInfo,
  type Candidate,
  type GenerateParams,
  type GenerateResult,
  type LoadParams,
  type NextParams,
  type NextResult,
  type PolicySpec,
  type PromptSpec,
  type SamplingParams,
  type ScoreParams,
  type ScoreResult,
  type StatusResult,
} from "../protocol";
import { formatChunks } from "../../core/completion/chunks";
import { softmax, soupLogits } from "../../core/soup/mix";
import { ServerError } from "./http";
import type { PoolServer, ServerInfo, ServerPool } from "./pool";

type Basis = { id: string; version: string; policies: PolicySpec[] };

interface TokenProb {
  id: number;
  token: string;
  logprob: number;
  top_logprobs?: { id: number; token: string; logprob: number }[];
}

interface CompletionEvent {
  content: string;
  tokens?: number[];
  stop: boolean;
  stop_type?: "eos" | "word" | "limit" | "none";
  timings?: { prompt_ms: number; predicted_ms: number; predicted_n: number; prompt_n: number; cache_n?: number };
  completion_probabilities?: TokenProb[];
}

interface PromptTokens {
  bos: number[];
  fim: { prefix: number; suffix: number; middle: number } | null;
}

/** As in-process: vocabularies up to this size are mixed over every token, larger ones over each policy's top 64. */
const FULL_VOCAB_MAX = 4096;
const MIX_TOP_K = 64;

const SERVER_BACKEND: BackendInfo = { backend: "server", gpuLayers: 0, totalLayers: 0, threads: 0 };

export class RemoteEngine implements EngineBackend {
  private basis: Basis | null = null;
  private readonly promptInfo = new Map<string, Promise<PromptTokens>>();
  private loadMs = 0;

  /** `user` keys this engine's server and slot in the pool (one per person; the benchmark simulates several). */
  constructor(
    private readonly pool: ServerPool,
    private readonly user = "local",
  ) {}

  /** Resolves the basis here and checks that every server that answers has its adapters; no model is loaded. */
  async load(params: LoadParams, options: RequestOptions = {}): Promise<StatusResult> {
    const t0 = performance.now();
    const basis = await resolveBasis(params);
    await this.pool.connect(options.signal);
    const answering = this.pool.servers.filter((s) => s.up && s.info);
    if (answering.length === 0) await this.pool.serverFor(this.user);
    for (const s of answering) adapterIds(basis.policies, s.info!, s.http.url);
    this.basis = basis;
    this.promptInfo.clear();
    this.loadMs = performance.now() - t0;
    return this.status();
  }

  async status(): Promise<StatusResult> {
    const first = this.pool.servers.find((s) => s.up && s.info);
    const b = this.basis;
    return {
      state: b ? "ready" : "idle",
      modelPath: first ? `${first.http.url} ${first.info!.modelPath}` : null,
      basis: b ? { id: b.id, version: b.version, policies: b.policies.map((p) => ({ id: p.id, kind: p.kind })) } : null,
      backend: b ? SERVER_BACKEND : null,
      // llama-server applies a default template to a model without one, so its props cannot tell a base model.
      chatTemplate: null,
      memory: { rssBytes: process.memoryUsage().rss, modelBytes: 0, contextBytes: 0, contexts: 0, vramUsedBytes: 0 },
      loadMs: this.loadMs,
    };
  }

  async generate(p: GenerateParams, options: RequestOptions = {}): Promise<GenerateResult> {
    const basis = this.requireBasis();
    const weights = weightVector(basis, p.weights);
    checkSampling(p);
    const signal = options.signal;
    const t0 = performance.now();
    let text: string;
    let tokens: number[];
    let finish: GenerateResult["finishReason"];
    let promptMs: number;
    let promptTokensEvaluated = 0;
    let scoreMs = 0;
    let features: Record<string, number> | null = null;
    let candidates: Candidate[] | undefined;
    if (p.mode === "explicit") {
      throw new EngineError(
        "bad-request",
        "explicit souping is not served by llama-server (it would take K+1 requests per token); use parameter or rerank mode with a server",
      );
    } else if (p.mode === "parameter") {
      checkParameterWeights(basis, weights);
      const r = await this.onServer(signal, false, async (s) =>
        this.complete(s, await this.promptTokens(s, p.prompt, options.signal), p, this.scales(s, weights), this.pool.slotFor(this.user, s), signal, options.onToken),
      );
      ({ text, tokens, finish, promptMs, promptTokensEvaluated } = r);
      if (p.withFeatures && tokens.length) {
        const t1 = performance.now();
        features = toRecord(basis.policies, await this.scoreTokens(basis, p.prompt, tokens, signal));
        scoreMs = performance.now() - t1;
      }
    } else {
      const r = await this.rerank(basis, p, weights, signal);
      candidates = r.candidates;
      ({ text, tokens, features } = candidates[0]);
      finish = r.finish;
      promptMs = r.promptMs;
      promptTokensEvaluated = r.promptTokensEvaluated;
      scoreMs = r.scoreMs;
      options.onToken?.(text);
    }
    const generateMs = Math.max(1e-3, performance.now() - t0 - promptMs - scoreMs);
    const generated = candidates ? candidates.reduce((n, c) => n + c.tokens.length, 0) : tokens.length;
    return {
      text,
      tokens,
      mode: p.mode,
      weights: toRecord(basis.policies, weights),
      features,
      ...(candidates ? { candidates } : {}),
      finishReason: finish,
      timings: { loadMs: this.loadMs, promptMs, promptTokensEvaluated, generateMs, scoreMs, tokensPerSecond: (generated / generateMs) * 1000 },
      backend: SERVER_BACKEND,
    };
  }

  async score(p: ScoreParams, options: RequestOptions = {}): Promise<ScoreResult> {
    const basis = this.requireBasis();
    const response =
      p.responseTokens ?? (await this.onServer(options.signal, true, (s) => tokenize(s, p.response, false, false, options.signal)));
    if (response.length === 0) throw new EngineError("bad-request", "score: the response is empty");
    return { features: toRecord(basis.policies, await this.scoreTokens(basis, p.prompt, response, options.signal)), tokens: response.length };
  }

  /**
   * Parameter mode: one request, the server's top tokens under the souped adapters. Explicit mode: one request
   * per policy (pi_0 and each expert, on slots other than the user's), each policy's whole distribution (top 64
   * for vocabularies over 4096, as in-process), mixed here like the in-process engine mixes them.
   */
  async next(p: NextParams, options: RequestOptions = {}): Promise<NextResult> {
    const basis = this.requireBasis();
    const weights = weightVector(basis, p.weights);
    const top = Math.max(1, Math.floor(p.top));
    const signal = options.signal;
    if (p.mode === "explicit") {
      const policies: (PolicySpec | undefined)[] = [undefined, ...basis.policies];
      let vocabSize = 0;
      const pieces = new Map<number, string>();
      const dists = await Promise.all(
        policies.map((policy, k) =>
          this.onServer(signal, true, async (s) => {
            vocabSize = s.info!.vocabSize;
            if (!vocabSize) throw new EngineError("internal", `server ${s.http.url} does not report its vocabulary size (/v1/models)`);
            const unit = basis.policies.map((q) => (q === policy && q.kind === "adapter" ? 1 : 0));
            const r = await this.nextRequest(s, await this.promptTokens(s, p.prompt, signal, policy), unit, vocabSize <= FULL_VOCAB_MAX ? vocabSize : MIX_TOP_K, this.scoringSlot(s, k), signal);
            for (const t of r) pieces.set(t.id, t.token);
            return new Map(r.map((t) => [t.id, Math.exp(t.logprob)]));
          }),
        ),
      );
      const mixed = soupLogits(dists, weights, vocabSize);
      const probs = softmax(mixed.logits);
      return {
        tokens: [...mixed.tokens.keys()]
          .sort((a, b) => probs[b] - probs[a])
          .slice(0, top)
          .map((i) => ({ id: mixed.tokens[i], text: pieces.get(mixed.tokens[i]) ?? "", p: probs[i] })),
      };
    }
    checkParameterWeights(basis, weights);
    const dist = await this.onServer(signal, true, async (s) =>
      this.nextRequest(s, await this.promptTokens(s, p.prompt, signal), weights, top, this.pool.slotFor(this.user, s), signal),
    );
    return { tokens: dist.map((t) => ({ id: t.id, text: t.token, p: Math.exp(t.logprob) })) };
  }

  dispose(): void {
    this.basis = null;
  }

  // ---- requests ------------------------------------------------------------------------------------

  /**
   * Runs `fn` on the user's server. A server that stops answering leaves the pool; an idempotent request (scoring,
   * next-token) then goes to the next server, while a generation fails with the server's message (the next one is
   * served elsewhere).
   */
  private async onServer<T>(signal: AbortSignal | undefined, idempotent: boolean, fn: (s: PoolServer) => Promise<T>): Promise<T> {
    const tried = new Set<PoolServer>();
    for (;;) {
      if (signal?.aborted) throw new EngineError("cancelled", "request cancelled");
      const s = await this.pool.serverFor(this.user, tried);
      try {
        return await fn(s);
      } catch (e) {
        this.pool.reportFailure(s, e);
        if (!(idempotent && e instanceof ServerError && e.serverDown)) throw e;
        tried.add(s);
      }
    }
  }

  private async complete(
    s: PoolServer,
    prompt: number[],
    p: SamplingParams,
    lora: { id: number; scale: number }[],
    slot: number,
    signal: AbortSignal | undefined,
    onText?: (text: string) => void,
  ) {
    let text = "";
    const tokens: number[] = [];
    let lastContent = "";
    const final = await s.http.stream<CompletionEvent>(
      "/completion",
      { prompt, ...samplingBody(p), lora, id_slot: slot, cache_prompt: true, return_tokens: true },
      (e) => {
        if (e.stop) return;
        text += e.content;
        lastContent = e.content;
        if (e.tokens) tokens.push(...e.tokens);
        if (e.content) onText?.(e.content);
      },
      signal,
    );
    // The end-of-generation token comes as a last event without text; the in-process engine does not return it.
    if (final.stop_type === "eos" && lastContent === "" && tokens.length) tokens.pop();
    if (!final.stop) throw new ServerError(s.http.url, "unreachable", `server ${s.http.url}: /completion: the stream ended before the generation did`);
    const finish: GenerateResult["finishReason"] = final.stop_type === "eos" ? "eog" : final.stop_type === "word" ? "stop" : "maxTokens";
    // A stop string is cut from the text the server returns; the tokens that spelled it are dropped with it.
    if (finish === "stop" && tokens.length) await trimToText(s, tokens, text, signal);
    return { text, tokens, finish, promptMs: final.timings?.prompt_ms ?? 0, promptTokensEvaluated: final.timings?.prompt_n ?? 0 };
  }

  private async rerank(basis: Basis, p: GenerateParams, weights: number[], signal?: AbortSignal) {
    const n = Math.max(1, Math.min(p.candidates ?? 3, 16));
    const zero = weights.map(() => 0);
    const drafts: { text: string; tokens: number[]; finish: GenerateResult["finishReason"] }[] = [];
    let promptMs = 0;
    let promptTokensEvaluated = 0;
    // Candidates come from pi_0 (every scale 0) on the user's slot, one after another so the prompt is evaluated once.
    for (let i = 0; i < n; i++) {
      const settings = i === 0 ? p : { ...p, temperature: Math.max(p.temperature, 0.7), seed: (p.seed ?? 0) + i };
      const r = await this.onServer(signal, false, async (s) =>
        this.complete(s, await this.promptTokens(s, p.prompt, signal), settings, this.scales(s, zero), this.pool.slotFor(this.user, s), signal),
      );
      if (i === 0) promptMs = r.promptMs;
      promptTokensEvaluated += r.promptTokensEvaluated;
      drafts.push(r);
    }
    const unique = drafts.filter((d, i) => d.tokens.length > 0 && drafts.findIndex((e) => e.text === d.text) === i);
    if (unique.length === 0) unique.push(drafts[0]);
    const candidates: (Candidate & { finish: GenerateResult["finishReason"] })[] = [];
    const t1 = performance.now();
    for (const d of unique) {
      const phi = d.tokens.length ? await this.scoreTokens(basis, p.prompt, d.tokens, signal) : zero;
      const reward = phi.reduce((sum, f, k) => sum + weights[k] * f, 0);
      candidates.push({ text: d.text, tokens: d.tokens, features: toRecord(basis.policies, phi), reward, finish: d.finish });
    }
    candidates.sort((a, b) => b.reward - a.reward);
    const scoreMs = performance.now() - t1;
    return { promptMs, promptTokensEvaluated, scoreMs, finish: candidates[0].finish, candidates: candidates.map(({ finish: _f, ...c }) => c) };
  }

  /**
   * phi_k = log pi_k(y|x) - log pi_0(y|x): one request per policy, each forcing the response's tokens with a grammar
   * of token ids and summing the log-probabilities the server reports for them before sampling (the model's own
   * distribution, whatever the sampler does). FIM responses are scored given the prefix only, as in-process.
   * Policies run on slots other than the user's, so the user's prompt cache survives the scale changes.
   */
  private async scoreTokens(basis: Basis, prompt: PromptSpec, response: number[], signal?: AbortSignal): Promise<number[]> {
    const scored: PromptSpec = prompt.kind === "fim" ? { ...prompt, suffix: "" } : prompt;
    const grammar = `root ::= ${response.map((t) => `<[${t}]>`).join(" ")}`;
    const policies: (PolicySpec | undefined)[] = [undefined, ...basis.policies];
    const logp = await Promise.all(
      policies.map((policy, k) =>
        this.onServer(signal, true, async (s) => {
          const unit = basis.policies.map((q) => (q === policy && q.kind === "adapter" ? 1 : 0));
          const r = await s.http.post<CompletionEvent>(
            "/completion",
            {
              prompt: await this.promptTokens(s, scored, signal, policy),
              n_predict: response.length,
              grammar,
              n_probs: 1,
              post_sampling_probs: false,
              temperature: 0,
              lora: this.scales(s, unit),
              id_slot: this.scoringSlot(s, k),
              cache_prompt: true,
              return_tokens: true,
            },
            signal,
          );
          const probs = r.completion_probabilities ?? [];
          const forced = probs.map((t) => t.id);
          if (forced.length !== response.length || forced.some((t, j) => t !== response[j])) {
            throw new EngineError(
              "internal",
              `server ${s.http.url} did not follow the forced response tokens while scoring (${forced.length} of ${response.length} tokens)`,
            );
          }
          return probs.reduce((sum, t) => sum + (t.logprob ?? -Infinity), 0);
        }),
      ),
    );
    return logp.slice(1).map((v) => v - logp[0]);
  }

  /** The `n` most likely next tokens after `prompt` under these weights, from the raw (pre-sampling) distribution. */
  private async nextRequest(s: PoolServer, prompt: number[], weights: number[], n: number, slot: number, signal?: AbortSignal) {
    const r = await s.http.post<CompletionEvent>(
      "/completion",
      { prompt, n_predict: 1, n_probs: n, post_sampling_probs: false, temperature: 0, lora: this.scales(s, weights), id_slot: slot, cache_prompt: true },
      signal,
    );
    const dist = r.completion_probabilities?.[0]?.top_logprobs;
    if (!dist) throw new EngineError("internal", `server ${s.http.url} returned no next-token probabilities`);
    return dist;
  }

  private scoringSlot(s: PoolServer, k: number): number {
    const slots = s.info?.slots ?? 1;
    if (slots === 1) return 0;
    return (this.pool.slotFor(this.user, s) + 1 + (k % (slots - 1))) % slots;
  }

  /** Every adapter the server loaded, each with its scale (0 for adapters outside the basis): all sent every time. */
  private scales(s: PoolServer, weights: number[]): { id: number; scale: number }[] {
    const ids = adapterIds(this.requireBasis().policies, s.info!, s.http.url);
    const byId = new Map<number, number>();
    this.requireBasis().policies.forEach((q, k) => {
      const id = ids.get(q.id);
      if (id !== undefined) byId.set(id, weights[k]);
    });
    return s.info!.adapters.map((a) => ({ id: a.id, scale: byId.get(a.id) ?? 0 }));
  }

  /** The prompt's tokens as `policy` sees it, built like the in-process engine (BOS, FIM markers, raw text). */
  private async promptTokens(s: PoolServer, prompt: PromptSpec, signal: AbortSignal | undefined, policy?: PolicySpec): Promise<number[]> {
    const seen = policyPrompt(prompt, policy);
    switch (seen.kind) {
      case "raw": {
        const [info, text] = await Promise.all([this.info(s), tokenize(s, seen.text, false, false, signal)]);
        return [...info.bos, ...text];
      }
      case "fim": {
        // Other files go before the prefix as comments (the in-process fallback for models without repository tokens).
        const text = (seen.context?.length ? formatChunks(seen.context, seen.language ?? "") : "") + seen.prefix;
        const [info, prefix, suffix, middle] = await Promise.all([
          this.info(s),
          tokenize(s, text, false, false, signal),
          tokenize(s, seen.suffix, false, false, signal),
          seen.middle ? tokenize(s, seen.middle, false, false, signal) : [],
        ]);
        if (!info.fim) throw noFim(`${s.http.url} (${s.info?.modelPath ?? "its model"})`);
        return [...info.bos, info.fim.prefix, ...prefix, info.fim.suffix, ...suffix, info.fim.middle, ...middle];
      }
      case "chat": {
        // The server's own chat template, as its /completion would apply it to these messages.
        const { prompt: text } = await s.http.post<{ prompt: string }>("/apply-template", { messages: seen.messages }, signal);
        return tokenize(s, text, true, true, signal);
      }
    }
  }

  private info(s: PoolServer): Promise<PromptTokens> {
    let info = this.promptInfo.get(s.http.url);
    if (!info) {
      info = readPromptTokens(s);
      info.catch(() => this.promptInfo.delete(s.http.url));
      this.promptInfo.set(s.http.url, info);
    }
    return info;
  }

  private requireBasis(): Basis {
    if (!this.basis) throw new EngineError("not-loaded", "no basis is loaded: call load first");
    return this.basis;
  }
}

/** Which of the server's adapters serves each adapter policy: same file name, or a file named by the pack's sha256. */
export function adapterIds(policies: PolicySpec[], info: ServerInfo, url: string): Map<string, number> {
  const ids = new Map<string, number>();
  for (const p of policies) {
    if (p.kind !== "adapter") continue;
    const name = path.basename(p.path);
    const found = info.adapters.find((a) => {
      const file = path.basename(a.path.replace(/\\/g, "/"));
      return file === name || (p.sha256 !== undefined && file.toLowerCase().startsWith(p.sha256.toLowerCase()));
    });
    if (!found) {
      const loaded = info.adapters.map((a) => path.basename(a.path)).join(", ") || "none";
      throw new EngineError(
        "bad-basis",
        `server ${url} has no adapter ${name} for policy "${p.id}"${p.sha256 ? ` (sha256 ${p.sha256})` : ""}; it loads: ${loaded}. Start it with --lora ${name}`,
      );
    }
    ids.set(p.id, found.id);
  }
  return ids;
}

async function readPromptTokens(s: PoolServer): Promise<PromptTokens> {
  const bos = await tokenize(s, "", true, false);
  let fim: PromptTokens["fim"] = null;
  for (const tpl of KNOWN_FIM_TEMPLATES) {
    const ids = await Promise.all(tpl.map((t) => tokenize(s, t, false, true)));
    if (ids.every((x) => x.length === 1)) {
      fim = { prefix: ids[0][0], suffix: ids[1][0], middle: ids[2][0] };
      break;
    }
  }
  return { bos, fim };
}

/** Code is tokenized without parsing special tokens, so "<s>" in a file stays text, as in-process. */
async function tokenize(s: PoolServer, text: string, addSpecial: boolean, parseSpecial: boolean, signal?: AbortSignal): Promise<number[]> {
  const r = await s.http.post<{ tokens: number[] }>("/tokenize", { content: text, add_special: addSpecial, parse_special: parseSpecial }, signal);
  return r.tokens;
}

/** Drops trailing tokens until the tokens spell no more than `text` (what remains after a stop string was cut). */
async function trimToText(s: PoolServer, tokens: number[], text: string, signal?: AbortSignal): Promise<void> {
  while (tokens.length) {
    const r = await s.http.post<{ content: string }>("/detokenize", { tokens }, signal);
    if (r.content.length <= text.length) return;
    tokens.pop();
  }
}

function samplingBody(p: SamplingParams): Record<string, unknown> {
  return {
    n_predict: p.maxTokens,
    temperature: p.temperature,
    ...(p.topK !== undefined ? { top_k: p.topK } : {}),
    ...(p.topP !== undefined ? { top_p: p.topP } : {}),
    ...(p.minP !== undefined ? { min_p: p.minP } : {}),
    ...(p.seed !== undefined ? { seed: p.seed } : {}),
    ...(p.stop?.length ? { stop: p.stop } : {}),
  };
}

function weightVector(basis: Basis, weights: Record<string, number>): number[] {
  const known = new Set(basis.policies.map((p) => p.id));
  const unknown = Object.keys(weights).filter((id) => !known.has(id));
  if (unknown.length) {
    throw new EngineError("bad-request", `weights for unknown policies: ${unknown.join(", ")} (basis "${basis.id}" has: ${[...known].join(", ")})`);
  }
  return basis.policies.map((p) => {
    const w = weights[p.id] ?? 0;
    if (!Number.isFinite(w)) throw new EngineError("bad-request", `weight for "${p.id}" is not a finite number`);
    return w;
  });
}

function checkParameterWeights(basis: Basis, weights: number[]): void {
  const prompted = basis.policies.find((q, k) => q.kind === "prompted" && weights[k] !== 0);
  if (prompted) {
    throw new EngineError(
      "bad-request",
      `parameter souping cannot apply prompted expert "${prompted.id}": give it weight 0, use rerank mode, or distill it into a head adapter`,
    );
  }
}

function checkSampling(p: GenerateParams): void {
  if (!Number.isInteger(p.maxTokens) || p.maxTokens < 1) throw new EngineError("bad-request", "maxTokens must be a positive integer");
  if (!(p.temperature >= 0)) throw new EngineError("bad-request", "temperature must be >= 0");
}

function toRecord(policies: PolicySpec[], values: number[]): Record<string, number> {
  return Object.fromEntries(policies.map((p, k) => [p.id, values[k]]));
}
