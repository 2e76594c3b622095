// Basis diagnostics: is a basis worth learning over? On calibration responses y, the features
// phi_k(y) = log pi_k(y|x) - log pi_0(y|x) should vary (a dimension that never moves phi has no effect), and
// vary independently (two dimensions with correlated phi are one preference the posterior cannot tell apart).
// The covariance's spectrum says how many directions the basis really spans; its inverse square root is the
// whitening that turns the features into uncorrelated unit-variance ones.
import { symmetricEigen } from "./linalg";

export interface DiagnoseOptions {
  /** |correlation| above which two dimensions are reported as redundant (default 0.95). */
  redundancy?: number;
  /** Dimensions whose mean |phi| per response token is below this (nats) have almost no effect (default 1e-3). */
  minEffect?: number;
}

export interface BasisDiagnosis {
  ids: string[];
  responses: number;
  mean: number[];
  /** Row-major K x K sample covariance of phi. */
  covariance: number[];
  /** Eigenvalues of the covariance, largest first. */
  eigenvalues: number[];
  /** exp(entropy of the normalized eigenvalues): K for K independent equal-variance dimensions, 1 for one direction. */
  effectiveRank: number;
  /** Row-major K x K correlation (0 where a dimension has no variance). */
  correlation: number[];
  redundantPairs: { a: string; b: string; correlation: number }[];
  /** Mean over responses of |phi| / response tokens, by dimension. */
  effectPerToken: number[];
  weakDimensions: string[];
}

/**
 * Diagnoses a basis from the features of calibration responses: `features[n][k]` is phi_k of response n, which has
 * `tokens[n]` tokens.
 */
export function diagnoseBasis(ids: string[], features: number[][], tokens: number[], opts: DiagnoseOptions = {}): BasisDiagnosis {
  const k = ids.length;
  const n = features.length;
  if (n < 2) throw new RangeError(`diagnostics need at least 2 calibration responses, got ${n}`);
  if (features.some((f) => f.length !== k) || tokens.length !== n) throw new RangeError("one feature vector of K values and one token count per response");
  const mean = Array.from({ length: k }, (_, j) => features.reduce((s, f) => s + f[j], 0) / n);
  const cov = new Array<number>(k * k).fill(0);
  for (const f of features) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) cov[i * k + j] += ((f[i] - mean[i]) * (f[j] - mean[j])) / (n - 1);
  const { values } = symmetricEigen(cov, k);
  const eigenvalues = Array.from(values, (v) => Math.max(0, v));
  const total = eigenvalues.reduce((a, b) => a + b, 0);
  const entropy = total > 0 ? -eigenvalues.reduce((s, v) => (v > 0 ? s + (v / total) * Math.log(v / total) : s), 0) : 0;
  const effectPerToken = ids.map((_, j) => features.reduce((s, f, r) => s + Math.abs(f[j]) / Math.max(1, tokens[r]), 0) / n);
  const minEffect = opts.minEffect ?? 1e-3;
  const weak = new Set(ids.filter((_, j) => effectPerToken[j] < minEffect));
  const sd = ids.map((_, j) => Math.sqrt(cov[j * k + j]));
  const correlation = cov.map((c, idx) => {
    const i = Math.floor(idx / k);
    const j = idx % k;
    return sd[i] > 0 && sd[j] > 0 ? c / (sd[i] * sd[j]) : 0;
  });
  const threshold = opts.redundancy ?? 0.95;
  const redundantPairs: BasisDiagnosis["redundantPairs"] = [];
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      const c = correlation[i * k + j];
      // A weak dimension's correlation is noise around nothing: it is reported as weak instead.
      if (Math.abs(c) > threshold && !weak.has(ids[i]) && !weak.has(ids[j])) redundantPairs.push({ a: ids[i], b: ids[j], correlation: c });
    }
  }
  return {
    ids,
    responses: n,
    mean,
    covariance: cov,
    eigenvalues,
    effectiveRank: Math.exp(entropy),
    correlation,
    redundantPairs,
    effectPerToken,
    weakDimensions: [...weak],
  };
}

/**
 * Sigma^-1/2 (row-major K x K, symmetric) on the directions with eigenvalue above `floor` times the largest; the
 * others are dropped (a zero-variance direction cannot be whitened, only ignored).
 */
export function whitening(covariance: ArrayLike<number>, k: number, floor = 1e-9): Float64Array {
  const { values, vectors } = symmetricEigen(covariance, k);
  const w = new Float64Array(k * k);
  const top = Math.max(values[0], 0);
  for (let e = 0; e < k; e++) {
    if (!(values[e] > floor * top)) continue;
    const s = 1 / Math.sqrt(values[e]);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) w[i * k + j] += s * vectors[i * k + e] * vectors[j * k + e];
  }
  return w;
}
