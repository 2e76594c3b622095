// Symmetric eigendecomposition for the basis tools (distillation's reduced-rank step, diagnostics' covariance).
// Small matrices (diagnostics' K x K, Rayleigh-Ritz blocks) use cyclic Jacobi, exact to round-off; the leading
// eigenpairs of an n_embd x n_embd operator (hundreds to thousands) come from subspace iteration.

export interface SymmetricEigen {
  /** Eigenvalues, largest first. */
  values: Float64Array;
  /** Row-major n x n; column j is the unit eigenvector of values[j]. */
  vectors: Float64Array;
}

/** Eigenvalues and eigenvectors of the symmetric n x n matrix `a` (row-major; only read). */
export function symmetricEigen(a: ArrayLike<number>, n: number): SymmetricEigen {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += m[i] * m[i];
  const tol = 1e-30 * Math.max(scale, 1e-300);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] * m[p * n + q];
    if (off <= tol) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        // Rotation that zeroes m[p][q] (Golub & Van Loan, symmetric Schur decomposition).
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j * n + j] - m[i * n + i]);
  const values = Float64Array.from(order, (i) => m[i * n + i]);
  const vectors = new Float64Array(n * n);
  for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) vectors[k * n + j] = v[k * n + order[j]];
  return { values, vectors };
}

/** C = A B for row-major A (n x k) and B (k x m). */
export function matMul(a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let l = 0; l < k; l++) {
      const ail = a[i * k + l];
      if (ail === 0) continue;
      for (let j = 0; j < m; j++) c[i * m + j] += ail * b[l * m + j];
    }
  }
  return c;
}

/** Transpose of a row-major n x m matrix. */
export function transpose(a: ArrayLike<number>, n: number, m: number): Float64Array {
  const t = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) t[j * n + i] = a[i * m + j];
  return t;
}

/** The leading eigenpairs of a symmetric operator: values largest first, vectors row-major n x count (column j). */
export interface TopEigen {
  values: Float64Array;
  vectors: Float64Array;
}

/**
 * The `count` largest eigenpairs of a symmetric positive semi-definite n x n operator, given as its product with a
 * block of k vectors (row-major n x k in, n x k out), by subspace iteration with Rayleigh-Ritz on count + 8 vectors.
 * For n in the thousands (a real model's n_embd) where only a few pairs are wanted, this costs a few products
 * instead of Jacobi's O(n^3) sweeps. Stops when every wanted pair's residual |A v - lambda v| is below
 * `tolerance` times the largest eigenvalue.
 */
export function topEigen(apply: (block: Float64Array, k: number) => Float64Array, n: number, count: number, tolerance = 1e-6, maxIterations = 500): TopEigen {
  const k = Math.min(n, count + 8);
  let seed = 0x9e3779b9;
  const random = () => {
    // xorshift32: the same start every time, so a fit is reproducible.
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296 - 0.5;
  };
  let q = orthonormalColumns(Float64Array.from({ length: n * k }, random), n, k, random);
  let values = new Float64Array(count);
  let vectors = new Float64Array(n * count);
  for (let it = 0; it < maxIterations; it++) {
    const z = apply(q, k);
    const t = matMul(transpose(q, n, k), z, k, n, k);
    for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) t[i * k + j] = t[j * k + i] = (t[i * k + j] + t[j * k + i]) / 2;
    const ritz = symmetricEigen(t, k);
    const qy = matMul(q, ritz.vectors, n, k, k);
    const zy = matMul(z, ritz.vectors, n, k, k);
    values = ritz.values.slice(0, count);
    let worst = 0;
    for (let j = 0; j < count; j++) {
      let r = 0;
      for (let i = 0; i < n; i++) r += (zy[i * k + j] - ritz.values[j] * qy[i * k + j]) ** 2;
      worst = Math.max(worst, Math.sqrt(r));
    }
    vectors = new Float64Array(n * count);
    for (let i = 0; i < n; i++) for (let j = 0; j < count; j++) vectors[i * count + j] = qy[i * k + j];
    if (worst <= tolerance * Math.max(values[0], 1e-300)) break;
    q = orthonormalColumns(zy, n, k, random);
  }
  return { values, vectors };
}

/** Gram-Schmidt (twice) on the columns of a row-major n x k block; a column that vanishes is replaced by a random one. */
function orthonormalColumns(a: Float64Array, n: number, k: number, random: () => number): Float64Array {
  const q = Float64Array.from(a);
  for (let j = 0; j < k; j++) {
    for (let attempt = 0; ; attempt++) {
      let before = 0;
      for (let i = 0; i < n; i++) before += q[i * k + j] ** 2;
      for (let pass = 0; pass < 2; pass++) {
        for (let p = 0; p < j; p++) {
          let dot = 0;
          for (let i = 0; i < n; i++) dot += q[i * k + p] * q[i * k + j];
          for (let i = 0; i < n; i++) q[i * k + j] -= dot * q[i * k + p];
        }
      }
      let norm = 0;
      for (let i = 0; i < n; i++) norm += q[i * k + j] ** 2;
      norm = Math.sqrt(norm);
      if (norm > 1e-10 * Math.sqrt(before) && norm > 1e-150) {
        for (let i = 0; i < n; i++) q[i * k + j] /= norm;
        break;
      }
      // Outside the span found so far (the operator's rank is below k): any direction orthogonal to it will do.
      if (attempt > 3) throw new Error(`cannot find ${k} independent directions in ${n} dimensions`);
      for (let i = 0; i < n; i++) q[i * k + j] = random();
    }
  }
  return q;
}
