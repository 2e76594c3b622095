// The posterior over soup weights w: Bradley-Terry / logistic likelihood of feedback on the features phi, a Gaussian
// prior centred on the sliders, a box with negative weights penalized, a MAP by projected Newton and a Laplace
// (Gaussian) posterior around it. Parameters theta = [w_1..w_K, b_completion, b_chat]: each surface's rating bias
// is learned jointly, because users thumb chat answers and accept completions at very different base rates.
import { DEFAULT_CONFIDENCE, SURFACES, type ConfidenceWeights, type Feedback, type Surface } from "./feedback";
import { cholInverse, choleskyJittered, cholSolve, backSolve } from "./linalg";
import type { Rng } from "./rng";

/** A Gaussian prior on w, given by its precision (row-major K x K) so a user-level posterior can be one. */
export interface GaussianPrior {
  mean: number[];
  precision: number[];
}

export interface PosteriorOptions {
  dims: number;
  /** Prior on w; default N(0, alpha^-1 I). Sliders later override the mean of their dimension. */
  prior?: GaussianPrior;
  /** Prior precision on each weight when no prior is given. */
  alpha?: number;
  /**
   * Prior precision of a dimension once its slider is moved: a stated weight is trusted more than a pack default
   * (10: the stated value is right to about +-0.3).
   */
  sliderAlpha?: number;
  /** Prior precision of the per-surface rating biases. */
  biasAlpha?: number;
  /** Weights are kept in [lo, hi]. */
  box?: [number, number];
  /** Extra precision on the negative part of a weight: anti-expert directions are allowed but cost more. */
  negativePenalty?: number;
  confidence?: Partial<ConfidenceWeights>;
  /** Up to this many events every update is an exact refit; beyond, updates are one rank-one Newton step. */
  exactRefitBelow?: number;
  /** Beyond exactRefitBelow, refit exactly once this fraction of the events arrived since the last refit. */
  refitFraction?: number;
}

export const DEFAULT_POSTERIOR = {
  alpha: 1,
  sliderAlpha: 10,
  biasAlpha: 1,
  box: [-0.5, 2] as [number, number],
  negativePenalty: 4,
  exactRefitBelow: 2000,
  refitFraction: 0.02,
};

/** What a snapshot keeps of a fit: the MAP and the Hessian there (warm start and Laplace covariance). */
export interface PosteriorState {
  events: number;
  theta: number[];
  hessian: number[];
}

export interface Explanation {
  /** w_k * phi_k for each dimension. */
  contributions: number[];
  /** Their sum: the soup's implicit reward r_w(y) = w . phi. */
  score: number;
}

const NB = SURFACES.length;

/** log(1 + exp(t)) without overflow. */
function softplus(t: number): number {
  return t > 0 ? t + Math.log1p(Math.exp(-t)) : Math.log1p(Math.exp(t));
}

function sigmoid(t: number): number {
  if (t >= 0) return 1 / (1 + Math.exp(-t));
  const e = Math.exp(t);
  return e / (1 + e);
}

export class SoupPosterior {
  readonly dims: number;
  readonly box: [number, number];
  private readonly n: number; // K + number of surfaces
  private readonly alpha: number;
  private readonly sliderAlpha: number;
  private readonly biasAlpha: number;
  private readonly negativePenalty: number;
  private readonly confidence: ConfidenceWeights;
  private readonly exactRefitBelow: number;
  private readonly refitFraction: number;
  private readonly priorMean: Float64Array;
  private readonly priorPrecision: Float64Array;
  private readonly locked: boolean[];
  // Design rows x_i (ratings: [phi, one-hot surface]; choices: [phi_winner - phi_loser, 0...]), labels, weights.
  private rows = new Float64Array(0);
  private labels = new Uint8Array(0);
  private weights = new Float64Array(0);
  private count = 0;
  private readonly sumSquares: Float64Array; // per-dimension sum of x_k^2: the scale of each feature
  private theta: Float64Array;
  private hessian: Float64Array;
  private pending = 0; // events folded in by rank-one steps since the last exact refit
  private factor: { free: number[]; l: Float64Array } | null = null;

  constructor(options: PosteriorOptions) {
    const k = options.dims;
    if (!Number.isInteger(k) || k < 1 || k > 64) throw new Error(`dims must be an integer in [1, 64], got ${k}`);
    this.dims = k;
    this.n = k + NB;
    this.alpha = options.alpha ?? DEFAULT_POSTERIOR.alpha;
    this.sliderAlpha = options.sliderAlpha ?? DEFAULT_POSTERIOR.sliderAlpha;
    this.biasAlpha = options.biasAlpha ?? DEFAULT_POSTERIOR.biasAlpha;
    this.box = options.box ?? DEFAULT_POSTERIOR.box;
    if (!(this.box[0] <= 0 && this.box[1] > 0)) throw new Error("the box must contain 0 (the base model) and a positive weight");
    this.negativePenalty = options.negativePenalty ?? DEFAULT_POSTERIOR.negativePenalty;
    this.confidence = { ...DEFAULT_CONFIDENCE, ...options.confidence };
    this.exactRefitBelow = options.exactRefitBelow ?? DEFAULT_POSTERIOR.exactRefitBelow;
    this.refitFraction = options.refitFraction ?? DEFAULT_POSTERIOR.refitFraction;
    if (!(this.alpha > 0 && this.biasAlpha > 0)) throw new Error("prior precisions must be > 0 (they keep the MAP finite)");
    this.priorMean = new Float64Array(k);
    this.priorPrecision = new Float64Array(k * k);
    if (options.prior) {
      const { mean, precision } = options.prior;
      if (mean.length !== k || precision.length !== k * k) throw new Error("prior shape does not match dims");
      this.priorMean.set(mean.map((m) => this.clip(m)));
      this.priorPrecision.set(precision);
    } else {
      for (let i = 0; i < k; i++) this.priorPrecision[i * k + i] = this.alpha;
    }
    this.locked = new Array<boolean>(k).fill(false);
    this.sumSquares = new Float64Array(k);
    this.theta = new Float64Array(this.n);
    this.theta.set(this.priorMean);
    this.hessian = new Float64Array(this.n * this.n);
    this.fit();
  }

  get eventCount(): number {
    return this.count;
  }

  /** Adds one event and updates the MAP (exactly, or by a rank-one Newton step on large logs). */
  observe(event: Feedback): void {
    if (event.type === "slider") {
      this.applySlider(event.dim, event.value, event.locked);
      this.fit();
      return;
    }
    this.ingest(event);
    if (this.count <= this.exactRefitBelow || this.pending + 1 >= this.refitFraction * this.count) this.fit();
    else this.rankOneStep(this.count - 1);
  }

  /** Adds many events (a replayed log) with one fit at the end, or none when a snapshot's fit of them restores. */
  observeAll(events: Iterable<Feedback>, snapshot?: PosteriorState): void {
    for (const e of events) {
      if (e.type === "slider") this.applySlider(e.dim, e.value, e.locked);
      else this.ingest(e);
    }
    if (!snapshot || !this.restore(snapshot)) this.fit();
  }

  /** Posterior mean (the MAP) of w. */
  mean(): number[] {
    return Array.from(this.theta.subarray(0, this.dims));
  }

  /** The learned rating bias of a surface. */
  bias(surface: Surface): number {
    return this.theta[this.dims + SURFACES.indexOf(surface)];
  }

  /**
   * A Thompson draw of w from the Laplace posterior, clipped to the box; draw once per episode, not per keystroke.
   * spread < 1 draws from the posterior with its std scaled down (tempered Thompson: less regret where the
   * responses' own randomness already explores).
   */
  sample(rng: Rng, spread = 1): number[] {
    const { free, l } = this.factorization();
    const z = new Float64Array(free.length);
    for (let i = 0; i < z.length; i++) z[i] = spread * rng.normal();
    const dx = backSolve(l, free.length, z); // cov = (L L')^-1, so L'^-1 z ~ N(0, cov)
    const w = this.mean();
    free.forEach((p, i) => {
      if (p < this.dims) w[p] = this.clip(w[p] + dx[i]);
    });
    return w;
  }

  /** Posterior standard deviation of each weight (0 for a locked slider). */
  std(): number[] {
    const cov = this.covariance();
    return Array.from({ length: this.dims }, (_, i) => Math.sqrt(Math.max(0, cov[i * this.dims + i])));
  }

  /**
   * When to ask an A/B question: the dimension whose contribution w_k phi_k to a typical response's logit is most
   * uncertain (std of w_k times the RMS of phi_k seen so far; 1 before any feedback). A value near or above 1 means
   * the posterior cannot yet tell whether that dimension helps or hurts.
   */
  uncertainty(): { dim: number; value: number } {
    const std = this.std();
    let best = { dim: 0, value: -1 };
    std.forEach((s, k) => {
      const scale = this.count > 0 ? Math.sqrt(this.sumSquares[k] / this.count) : 1;
      if (s * scale > best.value) best = { dim: k, value: s * scale };
    });
    return best;
  }

  /** Each dimension's contribution w_k phi_k to a response's score under w (default: the mean). */
  explain(phi: number[], w: number[] = this.mean()): Explanation {
    const contributions = phi.map((p, k) => w[k] * p);
    return { contributions, score: contributions.reduce((a, b) => a + b, 0) };
  }

  /** Marginal covariance of w (K x K, row-major). */
  covariance(): Float64Array {
    const { free, l } = this.factorization();
    const inv = cholInverse(l, free.length);
    const k = this.dims;
    const cov = new Float64Array(k * k);
    free.forEach((p, i) => {
      if (p >= k) return;
      free.forEach((q, j) => {
        if (q < k) cov[p * k + q] = inv[i * free.length + j];
      });
    });
    return cov;
  }

  /**
   * This posterior as the prior of a lower level (a new workspace under the user level): same mean, covariance
   * widened by tau^2 because workspaces differ from the user's average taste.
   */
  asPrior(tau = 0.5): GaussianPrior {
    const k = this.dims;
    const cov = this.covariance();
    for (let i = 0; i < k; i++) cov[i * k + i] += tau * tau;
    const precision = cholInverse(choleskyJittered(cov, k), k);
    return { mean: this.mean(), precision: Array.from(precision) };
  }

  /** The fit, for a snapshot. */
  state(): PosteriorState {
    return { events: this.count, theta: Array.from(this.theta), hessian: Array.from(this.hessian) };
  }

  /** Takes a snapshot's fit instead of refitting; false (and nothing changed) when it does not fit this posterior. */
  restore(state: PosteriorState): boolean {
    const ok =
      state.events === this.count &&
      state.theta.length === this.n &&
      state.hessian.length === this.n * this.n &&
      state.theta.every(Number.isFinite) &&
      state.hessian.every(Number.isFinite);
    if (!ok) return false;
    this.theta = Float64Array.from(state.theta);
    this.hessian = Float64Array.from(state.hessian);
    this.project(this.theta);
    this.pending = 0;
    this.factor = null;
    return true;
  }

  /** The negative log posterior (up to a constant) at w and biases b: the objective the MAP minimizes. */
  objective(w: number[], biases: number[] = new Array<number>(NB).fill(0)): number {
    return this.evaluate(Float64Array.from([...w, ...biases]));
  }

  /** Exact MAP by projected Newton from the current point, then the Hessian there. */
  fit(maxIterations = 200): void {
    const n = this.n;
    const theta = this.theta;
    this.project(theta);
    const grad = new Float64Array(n);
    const [lo, hi] = this.box;
    for (let iter = 0; iter < maxIterations; iter++) {
      const f = this.derivatives(theta, grad, this.hessian);
      // Bertsekas' projected Newton: weights at a bound whose gradient pushes outward get a scaled gradient step,
      // the rest a Newton step; the line search runs along the projection arc.
      const eps = Math.min(1e-3 * (hi - lo), this.projectedGradientNorm(theta, grad));
      const free = this.freeIndices();
      const newton: number[] = [];
      const direction = new Float64Array(n);
      for (const p of free) {
        const bound =
          p < this.dims && ((theta[p] <= lo + eps && grad[p] > 0) || (theta[p] >= hi - eps && grad[p] < 0));
        if (bound) direction[p] = -grad[p] / this.hessian[p * n + p];
        else newton.push(p);
      }
      if (newton.length) {
        const l = choleskyJittered(this.submatrix(this.hessian, newton), newton.length);
        const step = cholSolve(l, newton.length, newton.map((p) => grad[p]));
        newton.forEach((p, i) => (direction[p] = -step[i]));
      }
      let accepted = false;
      const trial = new Float64Array(n);
      let change = 0;
      for (let s = 1, tries = 0; tries < 60; s *= 0.5, tries++) {
        for (let p = 0; p < n; p++) trial[p] = theta[p] + s * direction[p];
        this.project(trial);
        let slope = 0;
        change = 0;
        for (let p = 0; p < n; p++) {
          slope += grad[p] * (trial[p] - theta[p]);
          change = Math.max(change, Math.abs(trial[p] - theta[p]));
        }
        if (change === 0) break;
        const ft = this.evaluate(trial);
        if (ft <= f + 1e-4 * slope) {
          accepted = true;
          break;
        }
      }
      if (!accepted) break;
      theta.set(trial);
      if (change <= 1e-10 * (1 + Math.max(...Array.from(theta, Math.abs)))) break;
    }
    this.derivatives(theta, grad, this.hessian);
    this.pending = 0;
    this.factor = null;
  }

  private applySlider(dim: number, value: number, locked: boolean): void {
    this.priorMean[dim] = this.clip(value);
    // Raising a diagonal entry keeps a (user-level, correlated) precision positive definite; never lower it.
    const d = dim * this.dims + dim;
    this.priorPrecision[d] = Math.max(this.priorPrecision[d], this.sliderAlpha);
    this.locked[dim] = locked;
    if (locked) this.theta[dim] = this.priorMean[dim];
    this.factor = null;
  }

  private ingest(event: Exclude<Feedback, { type: "slider" }>): void {
    const n = this.n;
    if (this.count * n >= this.rows.length) {
      const capacity = Math.max(64, this.count * 2);
      const rows = new Float64Array(capacity * n);
      rows.set(this.rows);
      this.rows = rows;
      const labels = new Uint8Array(capacity);
      labels.set(this.labels);
      this.labels = labels;
      const weights = new Float64Array(capacity);
      weights.set(this.weights);
      this.weights = weights;
    }
    const row = this.rows.subarray(this.count * n, (this.count + 1) * n);
    row.fill(0);
    if (event.type === "rating") {
      for (let k = 0; k < this.dims; k++) row[k] = event.features[k];
      row[this.dims + SURFACES.indexOf(event.surface)] = 1;
      this.labels[this.count] = event.up ? 1 : 0;
      this.weights[this.count] = event.confidence ?? this.confidence[event.signal ?? "thumb"];
    } else {
      for (let k = 0; k < this.dims; k++) row[k] = event.winner[k] - event.loser[k];
      this.labels[this.count] = 1;
      this.weights[this.count] = event.confidence ?? this.confidence.choice;
    }
    for (let k = 0; k < this.dims; k++) this.sumSquares[k] += row[k] * row[k];
    this.count++;
  }

  /**
   * Folds the newest event in without a pass over the log: at the previous MAP the gradient is (nearly) that
   * event's alone, so one Newton step with the rank-one-updated Hessian lands close to the new MAP.
   */
  private rankOneStep(i: number): void {
    const n = this.n;
    const x = this.rows.subarray(i * n, (i + 1) * n);
    let z = 0;
    for (let p = 0; p < n; p++) z += x[p] * this.theta[p];
    const q = sigmoid(z);
    const c = this.weights[i];
    const r = c * (q - this.labels[i]);
    const s = c * q * (1 - q);
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) this.hessian[a * n + b] += s * x[a] * x[b];
    const free = this.freeIndices();
    const l = choleskyJittered(this.submatrix(this.hessian, free), free.length);
    const step = cholSolve(l, free.length, free.map((p) => r * x[p]));
    free.forEach((p, j) => (this.theta[p] -= step[j]));
    this.project(this.theta);
    this.pending++;
    this.factor = null;
  }

  private freeIndices(): number[] {
    const free: number[] = [];
    for (let p = 0; p < this.n; p++) if (p >= this.dims || !this.locked[p]) free.push(p);
    return free;
  }

  private submatrix(m: Float64Array, idx: number[]): Float64Array {
    const out = new Float64Array(idx.length * idx.length);
    idx.forEach((p, i) => idx.forEach((q, j) => (out[i * idx.length + j] = m[p * this.n + q])));
    return out;
  }

  private factorization(): { free: number[]; l: Float64Array } {
    if (!this.factor) {
      const free = this.freeIndices();
      this.factor = { free, l: choleskyJittered(this.submatrix(this.hessian, free), free.length) };
    }
    return this.factor;
  }

  private clip(v: number): number {
    return Math.min(this.box[1], Math.max(this.box[0], v));
  }

  /** Box on weights, locked sliders pinned; biases are unconstrained. */
  private project(theta: Float64Array): void {
    for (let k = 0; k < this.dims; k++) theta[k] = this.locked[k] ? this.priorMean[k] : this.clip(theta[k]);
  }

  private projectedGradientNorm(theta: Float64Array, grad: Float64Array): number {
    let norm = 0;
    for (let p = 0; p < this.n; p++) {
      const moved = p < this.dims ? this.clip(theta[p] - grad[p]) : theta[p] - grad[p];
      norm = Math.max(norm, Math.abs(moved - theta[p]));
    }
    return norm;
  }

  private priorTerms(theta: Float64Array, grad: Float64Array | null, hess: Float64Array | null): number {
    const k = this.dims;
    let f = 0;
    for (let a = 0; a < k; a++) {
      let pd = 0;
      for (let b = 0; b < k; b++) {
        const pab = this.priorPrecision[a * k + b];
        pd += pab * (theta[b] - this.priorMean[b]);
        if (hess) hess[a * this.n + b] += pab;
      }
      f += 0.5 * (theta[a] - this.priorMean[a]) * pd;
      const neg = Math.min(0, theta[a]);
      f += 0.5 * this.negativePenalty * neg * neg;
      if (grad) grad[a] += pd + this.negativePenalty * neg;
      if (hess && theta[a] < 0) hess[a * this.n + a] += this.negativePenalty;
    }
    for (let j = 0; j < NB; j++) {
      const b = theta[k + j];
      f += 0.5 * this.biasAlpha * b * b;
      if (grad) grad[k + j] += this.biasAlpha * b;
      if (hess) hess[(k + j) * this.n + k + j] += this.biasAlpha;
    }
    return f;
  }

  private evaluate(theta: Float64Array): number {
    const n = this.n;
    let f = this.priorTerms(theta, null, null);
    for (let i = 0; i < this.count; i++) {
      let z = 0;
      for (let p = 0, o = i * n; p < n; p++) z += this.rows[o + p] * theta[p];
      f += this.weights[i] * softplus(this.labels[i] ? -z : z);
    }
    return f;
  }

  /** Objective, gradient and Hessian in one pass over the events. */
  private derivatives(theta: Float64Array, grad: Float64Array, hess: Float64Array): number {
    const n = this.n;
    grad.fill(0);
    hess.fill(0);
    let f = this.priorTerms(theta, grad, hess);
    for (let i = 0; i < this.count; i++) {
      const o = i * n;
      let z = 0;
      for (let p = 0; p < n; p++) z += this.rows[o + p] * theta[p];
      const y = this.labels[i];
      const c = this.weights[i];
      f += c * softplus(y ? -z : z);
      const q = sigmoid(z);
      const r = c * (q - y);
      const s = c * q * (1 - q);
      for (let a = 0; a < n; a++) {
        const xa = this.rows[o + a];
        if (xa === 0) continue;
        grad[a] += r * xa;
        const sxa = s * xa;
        for (let b = 0; b <= a; b++) hess[a * n + b] += sxa * this.rows[o + b];
      }
    }
    for (let a = 0; a < n; a++) for (let b = 0; b < a; b++) hess[b * n + a] = hess[a * n + b];
    return f;
  }
}
