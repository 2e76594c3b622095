// The decoding loops:
//  explicit - K+1 policy streams decoded in lockstep, next-token log-probs mixed (src/core/soup/mix)
//  native   - plain llama.cpp decoding with native sampling on one sequence (parameter mode, rerank drafts)
//  rerank   - N drafts from pi_0, each scored by r_w(y) = w . phi(y), best first
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { mulberry32 } from "../core/random";
import { sampleToken, soupLogits } from "../core/soup/mix";
import type { Loaded, Stream } from "./loaded";
import { OutputText } from "./output";
import type { Candidate, GenerateParams, GenerateResult, PolicySpec, PromptSpec } from "./protocol";
import { checkRoom, scoreTokens } from "./scoring";
import { distributionOptions, evalNext, evalPrompt, syncPrefix, throwIfAborted, tokenLogProb } from "./sequences";

type Finish = GenerateResult["finishReason"];

/** Streams in lockstep: each step samples from the soup of their distributions and feeds the token to all. */
export async function explicitDecode(
  l: Loaded,
  streams: Stream[],
  prompt: PromptSpec,
  weights: number[],
  p: GenerateParams,
  out: OutputText,
  signal: AbortSignal,
): Promise<{ promptMs: number; promptTokensEvaluated: number; finish: Finish; phi: number[] }> {
  const t0 = performance.now();
  const options = distributionOptions(l.vocabSize);
  const promptTokens = streams.map((s) => l.prompts.tokens(prompt, s.policy));
  checkRoom(l, Math.max(...promptTokens.map((t) => t.length)), p.maxTokens);
  const first = await Promise.all(streams.map((s, i) => evalPrompt(s.sequence, promptTokens[i], options, signal)));
  let dists = first.map((f) => f.probs);
  const promptTokensEvaluated = first.reduce((s, f) => s + f.evaluated, 0);
  const promptMs = performance.now() - t0;
  const phi = new Array<number>(streams.length - 1).fill(0);
  const random = mulberry32(p.seed ?? Date.now());
  let finish: Finish = "maxTokens";
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
    if (n + 1 < p.maxTokens) dists = await Promise.all(streams.map((s) => evalNext(s.sequence, token, options)));
  }
  return { promptMs, promptTokensEvaluated, finish, phi };
}

/** Plain llama.cpp decoding with native sampling on one sequence. */
export async function nativeDecode(
  l: Loaded,
  sequence: LlamaContextSequence,
  prompt: Token[],
  p: GenerateParams,
  out: OutputText,
  signal: AbortSignal,
): Promise<{ promptMs: number; promptTokensEvaluated: number; finish: Finish }> {
  checkRoom(l, prompt.length, p.maxTokens);
  const t0 = performance.now();
  const pending = await syncPrefix(sequence, prompt);
  let promptMs = 0;
  let finish: Finish = "maxTokens";
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
  return { promptMs, promptTokensEvaluated: pending.length, finish };
}

/** Drafts from pi_0, scored under the basis and ranked by w . phi; also reports the time spent scoring. */
export async function rerank(l: Loaded, p: GenerateParams, weights: number[], signal: AbortSignal) {
  const n = Math.max(1, Math.min(p.candidates ?? 3, 16));
  const prompt = l.prompts.tokens(p.prompt);
  await l.parameter?.reference();
  let promptMs = 0;
  let promptTokensEvaluated = 0;
  const drafts: { tokens: Token[]; text: string; finish: Finish }[] = [];
  // One after another on the reference sequence: the prompt is evaluated once and each later candidate only
  // replaces the previous one's tokens (parallel sequences would each evaluate the whole prompt again).
  // Candidates beyond the first are sampled (temperature at least 0.7) so they differ.
  for (let i = 0; i < n; i++) {
    const out = new OutputText(l.model, p.stop ?? [], undefined, prompt, l.prompts.stopTokens);
    const settings = i === 0 ? p : { ...p, temperature: Math.max(p.temperature, 0.7), seed: (p.seed ?? 0) + i };
    const r = await nativeDecode(l, l.baseStream.sequence, prompt, settings, out, signal);
    if (i === 0) ({ promptMs, promptTokensEvaluated } = r);
    drafts.push({ tokens: out.tokens, text: out.finish(), finish: r.finish });
  }
  const unique = drafts.filter((d, i) => d.tokens.length > 0 && drafts.findIndex((e) => e.text === d.text) === i);
  if (unique.length === 0) unique.push(drafts[0]);
  const t0 = performance.now();
  const candidates: (Candidate & { finish: Finish })[] = [];
  for (const d of unique) {
    const phi = d.tokens.length ? await scoreTokens(l, p.prompt, d.tokens, signal) : weights.map(() => 0);
    const reward = phi.reduce((s, f, k) => s + weights[k] * f, 0);
    candidates.push({ text: d.text, tokens: d.tokens, features: toRecord(l.policies, phi), reward, finish: d.finish });
  }
  const scoreMs = performance.now() - t0;
  candidates.sort((a, b) => b.reward - a.reward);
  return {
    promptMs,
    promptTokensEvaluated,
    scoreMs,
    finish: candidates[0].finish,
    candidates: candidates.map(({ finish: _f, ...c }) => c),
  };
}

export function toRecord(policies: PolicySpec[], values: number[]): Record<string, number> {
  return Object.fromEntries(policies.map((p, k) => [p.id, values[k]]));
}
