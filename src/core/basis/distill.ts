// Spectral distillation, the math: turn a policy's next-token log-prob shifts into a head adapter.
// With pi_k(a|s) = softmax(W_0 h(s) + dW_k h(s)), the shift l_k(a|s) - l_0(a|s) is (dW_k h(s))_a up to a constant per
// position, so dW_k is a linear regression of the centred shifts on the reference model's final hidden states h(s).
// It is fitted by reduced-rank ridge regression (the ridge fit projected onto the top-r right singular vectors of its
// fitted values, all in n_embd-sized algebra), then optionally refined by minimizing the KL divergence from the expert
// distribution directly (what the checks measure), and written as a LoRA on output.weight.
import { choleskyJittered, spdInverse } from "../adapt/linalg";
import { kv } from "../gguf/types";
import { writeGguf } from "../gguf/writer";
import { matMul, symmetricEigen, transpose } from "./linalg";

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

/**
 * Reduced-rank ridge regression of expert `expert`'s centred log-prob shifts on h. With G = H'H = L L',
 * P = (G + lambda I)^-1 and C = H'Y (Y centred per position), the ridge fit is M = P C and its fitted values H M have
 * right singular vectors V_r = C' P L U_r / sigma_r, where U_r, sigma_r^2 are the top eigenpairs of L' P C C' P L.
 * The rank-r fit is dW = V_r V_r' M' = B A with B = V_r and A = V_r' M', rebalanced so both factors have equal norms.
 */
export function fitHeadDelta(samples: readonly DistillSample[], expert: number, nVocab: number, opts: FitOptions): HeadDelta {
  if (samples.length === 0) throw new RangeError("distillation needs at least one position");
  const d = samples[0].h.length;
  const r = opts.rank;
  if (!Number.isInteger(r) || r < 1 || r > d) throw new RangeError(`rank must be an integer in 1..${d}, got ${r}`);
  const g = new Float64Array(d * d);
  // C = C_s + c 1': C_s has a column per candidate token ever seen, c is the part shared by every token.
  const cols = new Map<number, Float64Array>();
  const c = new Float64Array(d);
  for (const s of samples) {
    const h = s.h;
    for (let i = 0; i < d; i++) {
      const hi = h[i];
      if (hi !== 0) for (let j = 0; j < d; j++) g[i * d + j] += hi * h[j];
    }
    const { shift, tail, mean } = shifts(s, expert, nVocab);
    for (let j = 0; j < s.tokens.length; j++) {
      let col = cols.get(s.tokens[j]);
      if (!col) cols.set(s.tokens[j], (col = new Float64Array(d)));
      const y = shift[j] - tail;
      for (let i = 0; i < d; i++) col[i] += h[i] * y;
    }
    for (let i = 0; i < d; i++) c[i] += h[i] * (tail - mean);
  }
  let trace = 0;
  for (let i = 0; i < d; i++) trace += g[i * d + i];
  const lambda = (opts.ridge ?? 1e-4) * Math.max(trace / d, 1e-12);
  const gl = Float64Array.from(g);
  for (let i = 0; i < d; i++) gl[i * d + i] += lambda;
  const p = spdInverse(gl, d);

  // C C' = C_s C_s' + sc c' + c sc' + V c c', with sc the sum of C_s's columns (each untouched token's column is c).
  const cct = new Float64Array(d * d);
  const sc = new Float64Array(d);
  for (const col of cols.values()) {
    for (let i = 0; i < d; i++) {
      const ci = col[i];
      sc[i] += ci;
      if (ci !== 0) for (let j = 0; j < d; j++) cct[i * d + j] += ci * col[j];
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cct[i * d + j] += sc[i] * c[j] + c[i] * sc[j] + nVocab * c[i] * c[j];

  const k = matMul(matMul(p, cct, d, d, d), p, d, d, d); // P C C' P
  const l = choleskyJittered(g, d);
  const ltk = matMul(transpose(l, d, d), k, d, d, d); // L' K
  const eig = symmetricEigen(matMul(ltk, l, d, d, d), d);
  const pl = matMul(p, l, d, d, d);
  const a = new Float32Array(r * d);
  const rMat = new Float64Array(d * r); // P L U_r / sigma
  const top = Math.max(eig.values[0], 0);
  for (let j = 0; j < r; j++) {
    // Directions the fit does not use stay zero rather than dividing by a vanishing sigma.
    if (!(eig.values[j] > 1e-12 * top) || top === 0) continue;
    const sigma = Math.sqrt(eig.values[j]);
    for (let x = 0; x < d; x++) {
      let sa = 0;
      let sr = 0;
      for (let y = 0; y < d; y++) {
        const u = eig.vectors[y * d + j];
        sa += u * ltk[y * d + x];
        sr += pl[x * d + y] * u;
      }
      a[j * d + x] = sa / sigma;
      rMat[x * r + j] = sr / sigma;
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
