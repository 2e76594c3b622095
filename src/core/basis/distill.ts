// Spectral distillation, the math: turn a policy's next-token log-prob shifts into a head adapter.
// With pi_k(a|s) = softmax(W_0 h(s) + dW_k h(s)), the shift l_k(a|s) - l_0(a|s) is (dW_k h(s))_a up to a constant per
// position, so dW_k is a linear regression of the centred shifts on the reference model's final hidden states h(s).
// It is fitted by reduced-rank ridge regression (the ridge fit projected onto the top-r right singular vectors of its
// fitted values, all in n_embd-sized algebra), then optionally refined by minimizing the KL divergence from the expert
// distribution directly (what the checks measure), and written as a LoRA on output.weight.
import { choleskyJittered, spdInverse } from "../adapt/linalg";
import { kv } from "../gguf/types";
import { writeGguf } from "../gguf/writer";
import { matMul, topEigen, transpose } from "./linalg";

/** One position s of the corpus: the reference hidden state and every policy's log-probs on candidate tokens. */
export interface DistillSample {
  /** Final hidden state of the reference model after the output norm (n_embd values). */
  h: Float32Array;
  /** Candidate tokens: the whole vocabulary, or the union of the policies' top-k. */
  tokens: Int32Array;
  /** log pi_p(token) for p = 0 (reference) .. K (experts), tokens.length values per policy. */
  logp: Float32Array;
  /** Per policy, the log-prob of tokens it did not report (its floor); unused when tokens is the whole vocabulary. */
  tail: Float32Array;
}

/** dW = B A as a LoRA pair at alpha = rank (llama.cpp's factor 1). */
export interface HeadDelta {
  rank: number;
  nEmbd: number;
  nVocab: number;
  /** lora_a data: rank rows of nEmbd. */
  a: Float32Array;
  /** lora_b data: nVocab rows of rank. */
  b: Float32Array;
}

export interface FitOptions {
  rank: number;
  /** Ridge penalty relative to the mean eigenvalue of H'H (default 1e-4). */
  ridge?: number;
}

export interface RefineOptions {
  /** Adam steps on the KL divergence (full batch). */
  steps: number;
  /** Step size relative to each factor's rms value (default 0.02). */
  learningRate?: number;
}

export interface HeadEvaluation {
  positions: number;
  /** Mean KL(expert || candidate) in nats, over the candidate tokens. */
  kl: number;
  /** Share of positions where both put the same token first. */
  top1: number;
}

/** The expert's shift on each candidate, the shift of the tokens outside them, and the mean shift over the vocabulary. */
function shifts(s: DistillSample, expert: number, nVocab: number) {
  const u = s.tokens.length;
  const shift = new Float64Array(u);
  let sum = 0;
  for (let j = 0; j < u; j++) sum += shift[j] = s.logp[expert * u + j] - s.logp[j];
  const tail = u < nVocab ? s.tail[expert] - s.tail[0] : 0;
  return { shift, tail, mean: (sum + (nVocab - u) * tail) / nVocab };
}

/** What every expert's fit on the same samples shares: P = (G + lambda I)^-1, P L, R = H P L (n x d), R' and H'. */
interface SharedFit {
  ridge: number;
  p: Float64Array;
  pl: Float64Array;
  r: Float64Array;
  rt: Float64Array;
  ht: Float64Array;
}

/** Computed once per sample set and ridge: the distillation fits every expert on the same training samples. */
const shared = new WeakMap<readonly DistillSample[], SharedFit>();

function sharedFit(samples: readonly DistillSample[], ridge: number): SharedFit {
  const cached = shared.get(samples);
  if (cached && cached.ridge === ridge) return cached;
  const d = samples[0].h.length;
  const n = samples.length;
  const g = new Float64Array(d * d);
  for (const s of samples) {
    const h = s.h;
    for (let i = 0; i < d; i++) {
      const hi = h[i];
      if (hi !== 0) for (let j = 0; j < d; j++) g[i * d + j] += hi * h[j];
    }
  }
  let trace = 0;
  for (let i = 0; i < d; i++) trace += g[i * d + i];
  const lambda = ridge * Math.max(trace / d, 1e-12);
  const gl = Float64Array.from(g);
  for (let i = 0; i < d; i++) gl[i * d + i] += lambda;
  const p = spdInverse(gl, d);
  const pl = matMul(p, choleskyJittered(g, d), d, d, d);
  const hm = new Float64Array(n * d);
  samples.forEach((s, i) => hm.set(s.h, i * d));
  const r = matMul(hm, pl, n, d, d);
  const entry = { ridge, p, pl, r, rt: transpose(r, n, d), ht: transpose(hm, n, d) };
  shared.set(samples, entry);
  return entry;
}

/**
 * Reduced-rank ridge regression of expert `expert`'s centred log-prob shifts on h. With H the n x d hidden states,
 * Y the n x V centred shifts, G = H'H = L L', P = (G + lambda I)^-1 and C = H'Y, the ridge fit is M = P C and its
 * fitted values H M have right singular vectors V_r = C' P L U_r / sigma_r, where U_r, sigma_r^2 are the top
 * eigenpairs of L' P C C' P L = R' (Y Y') R with R = H P L. The rank-r fit is dW = V_r V_r' M' = B A with B = V_r and
 * A = V_r' M', rebalanced so both factors have equal norms. Y Y' is applied through Y's sparse candidates, never
 * formed, and the eigenpairs come from subspace iteration: the cost grows with n_embd squared, not cubed.
 */
export function fitHeadDelta(samples: readonly DistillSample[], expert: number, nVocab: number, opts: FitOptions): HeadDelta {
  if (samples.length === 0) throw new RangeError("distillation needs at least one position");
  const d = samples[0].h.length;
  const n = samples.length;
  const r = opts.rank;
  if (!Number.isInteger(r) || r < 1 || r > d) throw new RangeError(`rank must be an integer in 1..${d}, got ${r}`);
  const fit = sharedFit(samples, opts.ridge ?? 1e-4);
  // Y = S + t 1': S has each position's candidates' shifts over its tail (zero elsewhere), t the tail's centred shift.
  // Candidates are numbered once (`column`), so products with Y index arrays instead of looking tokens up.
  const columnOf = new Map<number, number>();
  const rows = samples.map((s) => {
    const { shift, tail, mean } = shifts(s, expert, nVocab);
    const y = new Float64Array(shift.length);
    const column = new Int32Array(shift.length);
    let sum = 0;
    for (let j = 0; j < y.length; j++) {
      sum += y[j] = shift[j] - tail;
      let col = columnOf.get(s.tokens[j]);
      if (col === undefined) columnOf.set(s.tokens[j], (col = columnOf.size));
      column[j] = col;
    }
    return { tokens: s.tokens, column, y, sum, t: tail - mean };
  });
  // C = C_s + c 1': C_s has a column per candidate token ever seen (H' S), c = H' t is shared by every token.
  const cols = new Map<number, Float64Array>();
  const c = new Float64Array(d);
  samples.forEach((s, p) => {
    const { tokens, y, t } = rows[p];
    for (let j = 0; j < tokens.length; j++) {
      let col = cols.get(tokens[j]);
      if (!col) cols.set(tokens[j], (col = new Float64Array(d)));
      for (let i = 0; i < d; i++) col[i] += s.h[i] * y[j];
    }
    for (let i = 0; i < d; i++) c[i] += s.h[i] * t;
  });
  /** Y Y' x for each column x of a row-major n x k block: Y' x is sparse on the candidates plus a shared part. */
  const yyt = (x: Float64Array, k: number): Float64Array => {
    const sparse = new Float64Array(columnOf.size * k);
    const common = new Float64Array(k);
    rows.forEach(({ column, y, t }, p) => {
      for (let j = 0; j < column.length; j++) {
        const at = column[j] * k;
        for (let q = 0; q < k; q++) sparse[at + q] += y[j] * x[p * k + q];
      }
      for (let q = 0; q < k; q++) common[q] += t * x[p * k + q];
    });
    // Y z for z = sparse + common 1: per position, its candidates' part plus its tail's share of the whole.
    const total = Float64Array.from(common, (v) => v * nVocab);
    for (let i = 0; i < sparse.length; i++) total[i % k] += sparse[i];
    const out = new Float64Array(n * k);
    rows.forEach(({ column, y, sum, t }, p) => {
      for (let q = 0; q < k; q++) out[p * k + q] = sum * common[q] + t * total[q];
      for (let j = 0; j < column.length; j++) {
        const at = column[j] * k;
        for (let q = 0; q < k; q++) out[p * k + q] += y[j] * sparse[at + q];
      }
    });
    return out;
  };
  const eig = topEigen((block, k) => matMul(fit.rt, yyt(matMul(fit.r, block, n, d, k), k), d, n, k), d, r);
  // A's rows: U_r' L' K / sigma with K = P C C' P, i.e. (P H' Y Y' R U_r)' / sigma; R's role in B: P L U_r / sigma.
  const u = eig.vectors;
  const kLu = matMul(fit.p, matMul(fit.ht, yyt(matMul(fit.r, u, n, d, r), r), d, n, r), d, d, r);
  const rMatAll = matMul(fit.pl, u, d, d, r);
  const a = new Float32Array(r * d);
  const rMat = new Float64Array(d * r);
  const top = Math.max(eig.values[0], 0);
  for (let j = 0; j < r; j++) {
    // Directions the fit does not use stay zero rather than dividing by a vanishing sigma.
    if (!(eig.values[j] > 1e-12 * top) || top === 0) continue;
    const sigma = Math.sqrt(eig.values[j]);
    for (let x = 0; x < d; x++) {
      a[j * d + x] = kLu[x * r + j] / sigma;
      rMat[x * r + j] = rMatAll[x * r + j] / sigma;
    }
  }
  const b = new Float32Array(nVocab * r);
  const rowOf = (col: Float64Array | undefined, out: number) => {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let x = 0; x < d; x++) s += ((col ? col[x] : 0) + c[x]) * rMat[x * r + j];
      b[out * r + j] = s;
    }
  };
  rowOf(undefined, 0);
  const shared = b.slice(0, r);
  for (let t = 0; t < nVocab; t++) {
    const col = cols.get(t);
    if (col) rowOf(col, t);
    else b.set(shared, t * r);
  }
  const delta = { rank: r, nEmbd: d, nVocab, a, b };
  balance(delta);
  return delta;
}

/** Scales each rank-one component so that its A row and B column have the same norm (B A is unchanged). */
function balance(delta: HeadDelta): void {
  const { rank: r, nEmbd: d, nVocab } = delta;
  for (let j = 0; j < r; j++) {
    let na = 0;
    let nb = 0;
    for (let x = 0; x < d; x++) na += delta.a[j * d + x] ** 2;
    for (let t = 0; t < nVocab; t++) nb += delta.b[t * r + j] ** 2;
    if (na === 0 || nb === 0) continue;
    const f = Math.sqrt(Math.sqrt(na / nb));
    for (let x = 0; x < d; x++) delta.a[j * d + x] /= f;
    for (let t = 0; t < nVocab; t++) delta.b[t * r + j] *= f;
  }
}

/** Candidate logits of the reference plus the head delta (the adapter policy) at one position. */
function adapterLogits(delta: HeadDelta | null, s: DistillSample, ah: Float64Array | null): Float64Array {
  const u = s.tokens.length;
  const out = new Float64Array(u);
  for (let j = 0; j < u; j++) out[j] = s.logp[j];
  if (!delta || !ah) return out;
  const r = delta.rank;
  for (let j = 0; j < u; j++) {
    const row = s.tokens[j] * r;
    let v = 0;
    for (let q = 0; q < r; q++) v += delta.b[row + q] * ah[q];
    out[j] += v;
  }
  return out;
}

function project(delta: HeadDelta, h: Float32Array): Float64Array {
  const { rank: r, nEmbd: d } = delta;
  const ah = new Float64Array(r);
  for (let q = 0; q < r; q++) {
    let v = 0;
    for (let x = 0; x < d; x++) v += delta.a[q * d + x] * h[x];
    ah[q] = v;
  }
  return ah;
}

/** Log-softmax in place; returns the values. */
function logNormalize(x: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < x.length; i++) x[i] -= lse;
  return x;
}

function expertLogProbs(s: DistillSample, expert: number): Float64Array {
  const u = s.tokens.length;
  return logNormalize(Float64Array.from(s.logp.subarray(expert * u, (expert + 1) * u)));
}

const argmax = (x: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
};

/** KL(expert || reference + delta) and top-1 agreement over the candidates; delta null measures the reference itself. */
export function evaluateHead(delta: HeadDelta | null, samples: readonly DistillSample[], expert: number): HeadEvaluation {
  let kl = 0;
  let agree = 0;
  for (const s of samples) {
    const lp = expertLogProbs(s, expert);
    const lq = logNormalize(adapterLogits(delta, s, delta && project(delta, s.h)));
    for (let j = 0; j < lp.length; j++) kl += Math.exp(lp[j]) * (lp[j] - lq[j]);
    if (argmax(lp) === argmax(lq)) agree++;
  }
  const n = Math.max(1, samples.length);
  return { positions: samples.length, kl: kl / n, top1: agree / n };
}

/**
 * Full-batch Adam on mean KL(expert || reference + B A) over the samples, from the regression's B A. The regression
 * weighs every token's shift equally; the KL weighs the tokens the expert actually puts mass on, which is what a
 * prompted expert that is not exactly a head change needs. Returns the refined delta and its training KL per step.
 */
export function refineHeadDelta(start: HeadDelta, samples: readonly DistillSample[], expert: number, opts: RefineOptions): HeadDelta {
  const { rank: r, nEmbd: d } = start;
  const delta: HeadDelta = { ...start, a: Float32Array.from(start.a), b: Float32Array.from(start.b) };
  const rms = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / Math.max(1, x.length)) || 1e-3;
  const lr = opts.learningRate ?? 0.02;
  const lrA = lr * rms(delta.a);
  const lrB = lr * rms(delta.b);
  const targets = samples.map((s) => expertLogProbs(s, expert));
  const moments = { ma: new Float64Array(delta.a.length), va: new Float64Array(delta.a.length), mb: new Float64Array(delta.b.length), vb: new Float64Array(delta.b.length) };
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-12];
  const ga = new Float64Array(delta.a.length);
  const gb = new Float64Array(delta.b.length);
  for (let step = 1; step <= opts.steps; step++) {
    ga.fill(0);
    gb.fill(0);
    samples.forEach((s, i) => {
      const ah = project(delta, s.h);
      const lq = logNormalize(adapterLogits(delta, s, ah));
      const lp = targets[i];
      // d KL / d logit_j = q_j - p_j; the logit is B[t_j] . (A h).
      const u = new Float64Array(r);
      for (let j = 0; j < lp.length; j++) {
        const gj = (Math.exp(lq[j]) - Math.exp(lp[j])) / samples.length;
        if (gj === 0) continue;
        const row = s.tokens[j] * r;
        for (let q = 0; q < r; q++) {
          gb[row + q] += gj * ah[q];
          u[q] += gj * delta.b[row + q];
        }
      }
      for (let q = 0; q < r; q++) for (let x = 0; x < d; x++) ga[q * d + x] += u[q] * s.h[x];
    });
    const bias1 = 1 - beta1 ** step;
    const bias2 = 1 - beta2 ** step;
    const adam = (w: Float32Array, grad: Float64Array, m: Float64Array, v: Float64Array, rate: number) => {
      for (let i = 0; i < w.length; i++) {
        m[i] = beta1 * m[i] + (1 - beta1) * grad[i];
        v[i] = beta2 * v[i] + (1 - beta2) * grad[i] * grad[i];
        w[i] -= (rate * (m[i] / bias1)) / (Math.sqrt(v[i] / bias2) + eps);
      }
    };
    adam(delta.a, ga, moments.ma, moments.va, lrA);
    adam(delta.b, gb, moments.mb, moments.vb, lrB);
  }
  return delta;
}

/** Writes the delta as a LoRA adapter on output.weight: lora_a [n_embd, r], lora_b [r, n_vocab], alpha = r. */
export async function writeHeadAdapter(path: string, delta: HeadDelta, info: { architecture: string; name: string }): Promise<void> {
  await writeGguf(path, {
    metadata: [
      kv.str("general.type", "adapter"),
      kv.str("general.architecture", info.architecture),
      kv.str("general.name", info.name),
      kv.str("adapter.type", "lora"),
      kv.f32("adapter.lora.alpha", delta.rank),
    ],
    tensors: [
      { name: "output.weight.lora_a", dims: [delta.nEmbd, delta.rank], type: "f32", data: delta.a },
      { name: "output.weight.lora_b", dims: [delta.rank, delta.nVocab], type: "f32", data: delta.b },
    ],
  });
}
