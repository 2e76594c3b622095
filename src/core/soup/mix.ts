// Output souping: l_w(a) = l_0(a) + sum_k w_k (l_k(a) - l_0(a)) over the union of the policies'
// candidate tokens, then sampling from softmax(l_w / T) with top-k / top-p / min-p.
// Policies report either the full vocabulary or a top-k map; a token missing from a policy's map
// gets that policy's floor (its left-over mass spread over the tokens it did not report).

/** Next-token probabilities of one policy: token id -> p (possibly only the top-k entries). */
export type NextTokenProbs = ReadonlyMap<number, number>;

const MIN_P = 1e-12;

/** Log-probability used for tokens a policy did not report. */
export function logFloor(probs: NextTokenProbs, vocabSize: number): number {
  let mass = 0;
  let min = 1;
  for (const p of probs.values()) {
    mass += p;
    if (p < min) min = p;
  }
  const missing = vocabSize - probs.size;
  if (missing <= 0) return Math.log(MIN_P);
  const spread = Math.max(0, 1 - mass) / missing;
  return Math.log(Math.max(MIN_P, Math.min(min, spread > 0 ? spread : min * 1e-3)));
}

export function policyLogProb(probs: NextTokenProbs, floor: number, token: number): number {
  const p = probs.get(token);
  return p === undefined || p <= 0 ? (p === undefined ? floor : Math.log(MIN_P)) : Math.log(p);
}

export interface SoupedDistribution {
  tokens: number[];
  /** Souped (unnormalized) log-probabilities, aligned with tokens. */
  logits: Float64Array;
}

/**
 * Mixes K+1 next-token distributions (index 0 is the reference policy pi_0) with soup weights w_1..w_K.
 */
export function soupLogits(dists: NextTokenProbs[], weights: readonly number[], vocabSize: number): SoupedDistribution {
  if (dists.length !== weights.length + 1) {
    throw new Error(`soupLogits: ${dists.length} distributions for ${weights.length} weights (need K+1 for K)`);
  }
  const union = new Set<number>();
  for (const d of dists) for (const t of d.keys()) union.add(t);
  const tokens = [...union];
  const floors = dists.map((d) => logFloor(d, vocabSize));
  const logits = new Float64Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const l0 = policyLogProb(dists[0], floors[0], tokens[i]);
    let l = l0;
    for (let k = 0; k < weights.length; k++) {
      if (weights[k] !== 0) l += weights[k] * (policyLogProb(dists[k + 1], floors[k + 1], tokens[i]) - l0);
    }
    logits[i] = l;
  }
  return { tokens, logits };
}

/** Normalized probabilities of a souped distribution (temperature 1). */
export function softmax(logits: Float64Array, temperature = 1): Float64Array {
  let max = -Infinity;
  for (const l of logits) if (l > max) max = l;
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp((logits[i] - max) / temperature);
    sum += out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

export interface SamplerSettings {
  temperature: number;
  topK?: number;
  topP?: number;
  minP?: number;
}

/**
 * Samples a token (greedy at temperature 0). `random` returns uniform [0, 1). The truncations run in llama.cpp's
 * order, on the untempered distribution (top-k, then top-p over what is left, renormalized, then min-p), and the
 * temperature applies to the kept tokens last, so explicit souping samples as the native sampler of parameter
 * souping does: with the order reversed, a temperature below 1 narrows the nucleus and the two modes drift apart.
 */
export function sampleToken(d: SoupedDistribution, s: SamplerSettings, random: () => number): number {
  if (d.tokens.length === 0) throw new Error("sampleToken: empty distribution");
  if (!(s.temperature > 0)) {
    let best = 0;
    for (let i = 1; i < d.logits.length; i++) if (d.logits[i] > d.logits[best]) best = i;
    return d.tokens[best];
  }
  const probs = softmax(d.logits);
  let order = [...probs.keys()].sort((a, b) => probs[b] - probs[a]);
  if (s.topK && s.topK > 0) order = order.slice(0, s.topK);
  if (s.topP !== undefined && s.topP < 1) {
    let mass = 0;
    for (const i of order) mass += probs[i];
    let acc = 0;
    const kept: number[] = [];
    for (const i of order) {
      kept.push(i);
      acc += probs[i] / mass;
      if (acc >= s.topP) break;
    }
    order = kept;
  }
  if (s.minP && s.minP > 0) {
    const cut = probs[order[0]] * s.minP;
    order = order.filter((i) => probs[i] >= cut);
  }
  const top = d.logits[order[0]];
  const weights = order.map((i) => Math.exp((d.logits[i] - top) / s.temperature));
  let total = 0;
  for (const w of weights) total += w;
  let r = random() * total;
  for (let j = 0; j < order.length; j++) {
    r -= weights[j];
    if (r <= 0) return d.tokens[order[j]];
  }
  return d.tokens[order[order.length - 1]];
}
