// Dense symmetric positive-definite algebra for the posterior (dimension <= K + 2 <= 34), row-major Float64Array.
// Small enough that a plain Cholesky beats anything clever, and no dependency is wanted in src/core.

/** Lower-triangular Cholesky factor L of A (n x n), or null when A is not numerically positive definite. */
export function cholesky(a: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
    if (!(d > 0) || !Number.isFinite(d)) return null;
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / ljj;
    }
  }
  return l;
}

/**
 * Cholesky of A + lambda I with the smallest lambda (from a ladder of powers of ten relative to the diagonal) that works:
 * the Hessian is positive definite in exact arithmetic, this only guards round-off at extreme feature scales. The
 * ladder ends: past 100 x the largest absolute row sum (where A + lambda I is diagonally dominant, positive
 * definite in exact arithmetic) or at a non-finite entry it throws instead of looping forever.
 */
export function choleskyJittered(a: Float64Array, n: number): Float64Array {
  let l = cholesky(a, n);
  if (l) return l;
  if (!a.every(Number.isFinite)) throw new Error("the matrix has non-finite entries (Infinity or NaN)");
  let maxDiag = 0;
  let maxRow = 0;
  for (let i = 0; i < n; i++) {
    maxDiag = Math.max(maxDiag, Math.abs(a[i * n + i]));
    let row = 0;
    for (let j = 0; j < n; j++) row += Math.abs(a[i * n + j]);
    maxRow = Math.max(maxRow, row);
  }
  const b = Float64Array.from(a);
  for (let lambda = Math.max(maxDiag, 1e-300) * 1e-12; lambda <= 100 * Math.max(maxRow, 1e-300) && Number.isFinite(lambda); lambda *= 10) {
    for (let i = 0; i < n; i++) b[i * n + i] = a[i * n + i] + lambda;
    l = cholesky(b, n);
    if (l) return l;
  }
  throw new Error("the matrix is not positive definite even with jitter (entries too large for double precision)");
}

/** Solves L y = b (forward substitution). */
export function forwardSolve(l: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * y[k];
    y[i] = s / l[i * n + i];
  }
  return y;
}

/** Solves L' x = y (back substitution). */
export function backSolve(l: Float64Array, n: number, y: ArrayLike<number>): Float64Array {
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
    x[i] = s / l[i * n + i];
  }
  return x;
}

/** Solves (L L') x = b. */
export function cholSolve(l: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  return backSolve(l, n, forwardSolve(l, n, b));
}

/** (L L')^-1, column by column. */
export function cholInverse(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  const e = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    e.fill(0);
    e[j] = 1;
    const col = cholSolve(l, n, e);
    for (let i = 0; i < n; i++) inv[i * n + j] = col[i];
  }
  return inv;
}

/** Inverse of a symmetric positive-definite matrix (jittered if round-off makes it indefinite). */
export function spdInverse(a: Float64Array, n: number): Float64Array {
  return cholInverse(choleskyJittered(a, n), n);
}
