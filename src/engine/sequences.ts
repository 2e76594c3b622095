// Evaluating a sequence with next-token probabilities: the one way the engine and the basis jobs read
// distributions out of llama.cpp (there are no raw logits). A sequence keeps its KV state between calls;
// each call reuses the longest prefix it already holds.
import type { LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";
import { logFloor, policyLogProb, type NextTokenProbs } from "../core/soup/mix";
import { EngineError, type PolicySpec } from "./protocol";

/** Vocabularies up to this size get full next-token distributions (exact mixing and features). */
const FULL_VOCAB_MAX = 4096;
/** Otherwise each policy reports its top-k; the union is mixed with a floor for missing tokens. */
const MIX_TOP_K = 64;

/** Sampler settings under which probabilities are the full vocabulary (small ones) or the top-k. */
export interface DistributionOptions {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
}

export function distributionOptions(vocabSize: number): DistributionOptions {
  return { temperature: 1, topK: vocabSize <= FULL_VOCAB_MAX ? 0 : MIX_TOP_K, topP: 1, minP: 0 };
}

/** What a loaded engine lends to the basis jobs (distillation, diagnosis): the model and one stream per policy. */
export interface DistillTarget {
  model: LlamaModel;
  threads: number;
  vocabSize: number;
  /** Basis policies in engine order: streams[k + 1] is policies[k]. */
  policies: PolicySpec[];
  /** The reference first, then one per policy: the tokens before a window, and a sequence to evaluate on. */
  streams: { prefix: Token[]; sequence: LlamaContextSequence }[];
  distribution: DistributionOptions;
}

type Items = Parameters<LlamaContextSequence["controlledEvaluate"]>[0];

/** Keeps the longest cached prefix of `tokens` (at least the last token is re-evaluated) and returns the rest. */
export async function syncPrefix(sequence: LlamaContextSequence, tokens: Token[]): Promise<Token[]> {
  const cached = sequence.contextTokens;
  let n = 0;
  while (n < cached.length && n < tokens.length - 1 && cached[n] === tokens[n]) n++;
  if (sequence.nextTokenIndex > n) await sequence.eraseContextTokenRanges([{ start: n, end: sequence.nextTokenIndex }]);
  return tokens.slice(n);
}

/**
 * Appends `tokens` to the sequence and returns the next-token distributions after `count` of them, starting
 * after tokens[from] (one batched pass).
 */
export async function evaluateWithProbabilities(
  sequence: LlamaContextSequence,
  tokens: Token[],
  from: number,
  count: number,
  options: DistributionOptions,
): Promise<NextTokenProbs[]> {
  const items = tokens.map((t, i) => (i >= from && i < from + count ? ([t, { generateNext: { probabilities: true, options } }] as const) : t));
  const res = await sequence.controlledEvaluate(items as Items);
  return Array.from({ length: count }, (_, j) => {
    const probs = res[from + j]?.next.probabilities;
    if (!probs) throw new EngineError("internal", "llama.cpp returned no next-token probabilities");
    return probs;
  });
}

/** Evaluates what is not cached of `tokens` (`evaluated` of them) and returns the next-token distribution after them. */
export async function evalPrompt(
  sequence: LlamaContextSequence,
  tokens: Token[],
  options: DistributionOptions,
  signal: AbortSignal,
): Promise<{ probs: NextTokenProbs; evaluated: number }> {
  throwIfAborted(signal);
  const pending = await syncPrefix(sequence, tokens);
  return { probs: (await evaluateWithProbabilities(sequence, pending, pending.length - 1, 1, options))[0], evaluated: pending.length };
}

/** Appends one token and returns the distribution after it (one decoding step). */
export async function evalNext(sequence: LlamaContextSequence, token: Token, options: DistributionOptions): Promise<NextTokenProbs> {
  return (await evaluateWithProbabilities(sequence, [token], 0, 1, options))[0];
}

/**
 * Sum of log p(response | prompt) under the sequence's policy: the prompt's uncached part and the response are
 * evaluated in one pass.
 */
export async function responseLogProb(
  sequence: LlamaContextSequence,
  prompt: Token[],
  response: Token[],
  vocabSize: number,
  options: DistributionOptions,
): Promise<number> {
  const pending = await syncPrefix(sequence, prompt);
  const first = pending.length - 1;
  const probs = await evaluateWithProbabilities(sequence, [...pending, ...response], first, response.length, options);
  return probs.reduce((s, p, j) => s + tokenLogProb(p, vocabSize, response[j]), 0);
}

export function tokenLogProb(probs: NextTokenProbs, vocabSize: number, token: Token | number): number {
  return policyLogProb(probs, logFloor(probs, vocabSize), token);
}

export function throwIfAborted(signal: AbortSignal, what = "request"): void {
  if (signal.aborted) throw new EngineError("cancelled", `${what} cancelled`);
}
