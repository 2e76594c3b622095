// The posterior over soup weights w: Bradley-Terry / logistic likelihood of feedback on the features phi, a Gaussian
// prior centred on the sliders, a box with negative weights penalized, a MAP by projected Newton and a Laplace
// (Gaussian) posterior around it. Parameters theta = [w_1..w_K, b_completion, b_chat]: each surface's rating bias
// is learned jointly, because users thumb chat answers and accept completions at very different base rates.
//
// Two departures from the plain model, both because people are not the model:
// - Careless feedback: each rating or choice is the model's with probability 1 - eps and a coin flip's opposite with
//   probability eps, P(y = 1) = eps + (1 - 2 eps) sigmoid(z). eps (one for ratings, one for choices) is estimated
//   with a Beta prior. A contradicting event then costs at most -log eps instead of growing linearly with |z|, so a
//   minority of flipped labels cannot drag w toward zero. The fit alternates a Fisher-scoring step in theta and an
//   exact one-dimensional step in eps, each lowering the same objective (monotone, stops at a stationary point).
// - Changing taste: optional exponential forgetting, the i-th newest event weighted gamma^i (the prior is never
//   forgotten, so the posterior stays proper), and forgetAllBut for a detected change (aging.ts detects it). Events
//   whose weight fell below 1e-6 leave the fit, which bounds its cost.
// The estimate is the MAP, or with importanceSamples > 0 the posterior mean (importance sampling from the Laplace
// approximation): with few events the two differ, and the mean is the better guess of a person's weights.
import { DEFAULT_CONFIDENCE, SURFACES, type ConfidenceWeights, type Feedback, type Surface } from "./feedback";
import { cholInverse, choleskyJittered, cholSolve, backSolve } from "./linalg";
import { seededRng, type Rng } from "../random";

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
  /** Beta(a, b) prior on the share of careless (flipped) feedback; null: the plain logistic model. */
  noisePrior?: [number, number] | null;
  /** Per-event forgetting factor gamma in (0, 1]; 1: evidence never ages. */
  forgetting?: number;
  /**
   * The Thompson spread's floor: draws start at the full posterior width and narrow toward this multiple as the data
   * shrink the posterior below the prior.
   */
  minSpread?: number;
  /**
   * Draws for the posterior mean by importance sampling from the Laplace approximation; 0: the estimate is the MAP.
   */
  importanceSamples?: number;
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
  noisePrior: null as [number, number] | null,
  forgetting: 1,
  minSpread: 1,
  importanceSamples: 0,
  exactRefitBelow: 2000,
  refitFraction: 0.02,
};

/** What a snapshot keeps of a fit: the MAP, the Hessian there (warm start and Laplace covariance), the noise rates. */
export interface PosteriorState {
  events: number;
  theta: number[];
  hessian: number[];
  noise?: number[];
}

const NB = SURFACES.length;
/** Feedback kinds with their own careless-feedback rate. */
const RATING = 0;
const CHOICE = 1;
const MAX_NOISE = 0.45;

/** log(1 + exp(t)) without overflow. */
function softplus(t: number): number {
  return t > 0 ? t + Math.log1p(Math.exp(-t)) : Math.log1p(Math.exp(t));
}

function sigmoid(t: number): number {
  if (t >= 0) return 1 / (1 + Math.exp(-t));
  const e = Math.exp(t);
  return e / (1 + e);
}

/**
 * One event's negative log-likelihood at logit z for label y under noise eps, its derivative in z and the Fisher
 * information in z (always >= 0, so Newton steps stay descent directions even where the mixture is not convex).
 */
function eventTerms(z: number, y: number, eps: number): { f: number; r: number; s: number } {
  const q = sigmoid(z);
  const qc = sigmoid(-z);
  if (eps === 0) return { f: softplus(y ? -z : z), r: q - y, s: q * qc };
  const slope = (1 - 2 * eps) * q * qc;
  const p1 = eps + (1 - 2 * eps) * q;
  const p0 = eps + (1 - 2 * eps) * qc;
  return { f: -Math.log(y ? p1 : p0), r: y ? -slope / p1 : slope / p0, s: (slope * slope) / (p1 * p0) };
}

/** What a feedback loop needs of a learning rule: a SoupPosterior and an AgingPosterior are both one. */
export type Learner = Pick<SoupPosterior, "observe" | "mean" | "sample">;

export class SoupPosterior {
  readonly dims: number;
  readonly box: [number, number];
  private readonly n: number; // K + number of surfaces
  private readonly alpha: number;
  private readonly sliderAlpha: number;
  private readonly biasAlpha: number;
  private readonly negativePenalty: number;
  private readonly confidence: ConfidenceWeights;
  private readonly noisePrior: [number, number] | null;
  private readonly forgetting: number;
  private readonly minSpread: number;
  private readonly exactRefitBelow: number;
  private readonly refitFraction: number;
  private readonly priorMean: Float64Array;
  private readonly priorPrecision: Float64Array;
  private readonly locked: boolean[];
  // Design rows x_i (ratings: [phi, one-hot surface]; choices: [phi_winner - phi_loser, 0...]), labels, weights.
  private rows = new Float64Array(0);
  private labels = new Uint8Array(0);
  private weights = new Float64Array(0);
  private kinds = new Uint8Array(0);
  private count = 0;
  /** Careless-feedback rate of ratings and of choices. */
  private noise = new Float64Array(2);
  private discount = new Float64Array(0); // per event: gamma^(its age)
  private from = 0; // events before this one weigh less than 1e-6, or predate a change of taste, and are left out
  private start = 0; // events before this one predate a detected change of taste
  private theta: Float64Array;
  private hessian: Float64Array;
  private pending = 0; // events folded in by rank-one steps since the last exact refit
  private readonly importanceSamples: number;
  /** Standard normal draws for the importance sampler, fixed per posterior so the mean is a function of the data. */
  private normals: Float64Array | null = null;
  // The Cholesky factor of the free block of the Hessian, and the posterior mean at this fit once computed.
  private factor: { free: number[]; l: Float64Array; mean?: number[] } | null = null;
  private priorVariance: Float64Array | null = null;

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
    this.noisePrior = options.noisePrior === undefined ? DEFAULT_POSTERIOR.noisePrior : options.noisePrior;
    if (this.noisePrior && !(this.noisePrior[0] > 1 && this.noisePrior[1] > 1)) {
      throw new Error("the noise prior's Beta(a, b) needs a, b > 1 (the rate then stays strictly inside (0, 1/2))");
    }
    this.forgetting = options.forgetting ?? DEFAULT_POSTERIOR.forgetting;
    if (!(this.forgetting > 0 && this.forgetting <= 1)) throw new Error("forgetting must be in (0, 1]");
    this.minSpread = options.minSpread ?? DEFAULT_POSTERIOR.minSpread;
    this.importanceSamples = options.importanceSamples ?? DEFAULT_POSTERIOR.importanceSamples;
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
    if (this.noisePrior) this.noise.fill(this.noiseMode());
    this.locked = new Array<boolean>(k).fill(false);
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
    // With forgetting every old event's weight changes, so a rank-one step does not apply; the fit is bounded anyway.
    const exact = this.forgetting < 1 || this.count <= this.exactRefitBelow || this.pending + 1 >= this.refitFraction * this.count;
    if (exact) this.fit();
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

  /**
   * Drops the evidence of every event before the newest `keep` ones (a change of taste was detected there) and
   * refits; sliders and the prior stay. The log keeps the events, so eventCount does not change.
   */
  forgetAllBut(keep: number): void {
    this.start = Math.max(this.start, this.count - Math.max(0, Math.floor(keep)));
    this.fit();
  }

  /** Posterior mean of w: the MAP, or the mean of the posterior itself when importanceSamples > 0. */
  mean(): number[] {
    if (this.importanceSamples <= 0) return Array.from(this.theta.subarray(0, this.dims));
    const factor = this.factorization();
    factor.mean ??= this.importanceMean();
    return [...factor.mean];
  }

  /** The learned rating bias of a surface. */
  bias(surface: Surface): number {
    return this.theta[this.dims + SURFACES.indexOf(surface)];
  }

  /**
   * The probability the current fit gives to an event's observed outcome before seeing it (careless-feedback rate
   * included): a one-step-ahead prediction, for comparing posteriors that remember differently.
   */
  predict(event: Exclude<Feedback, { type: "slider" }>): number {
    const k = this.dims;
    let z = 0;
    if (event.type === "rating") {
      for (let i = 0; i < k; i++) z += event.features[i] * this.theta[i];
      z += this.theta[k + SURFACES.indexOf(event.surface)];
      if (!event.up) z = -z;
    } else {
      for (let i = 0; i < k; i++) z += (event.winner[i] - event.loser[i]) * this.theta[i];
    }
    const eps = this.noise[event.type === "rating" ? RATING : CHOICE];
    return eps + (1 - 2 * eps) * sigmoid(z);
  }

  /** The weight an event gets in the fit: its own confidence, else its signal's. */
  eventWeight(event: Exclude<Feedback, { type: "slider" }>): number {
    if (event.confidence !== undefined) return event.confidence;
    return event.type === "rating" ? this.confidence[event.signal ?? "thumb"] : this.confidence.choice;
  }

  /** The estimated share of careless ratings and choices (0 with the plain model). */
  noiseRates(): { rating: number; choice: number } {
    return { rating: this.noise[RATING], choice: this.noise[CHOICE] };
  }

  /**
   * The Thompson spread that follows what is still uncertain: 1 (plain Thompson sampling) while the posterior is as
   * wide as the prior, narrowing toward minSpread as the feedback shrinks it. Cold starts on real text need the
   * full width (draws near the base model produce text nobody likes, so nothing is learned); once the data carry
   * information, each response's own randomness explores and wide draws only cost regret.
   */
  spread(): number {
    if (!this.priorVariance) {
      const k = this.dims;
      const inv = cholInverse(choleskyJittered(this.priorPrecision, k), k);
      this.priorVariance = Float64Array.from({ length: k }, (_, i) => inv[i * k + i]);
    }
    const std = this.std();
    let ratio = 0;
    let free = 0;
    std.forEach((s, k) => {
      if (this.locked[k]) return;
      ratio += Math.min(1, (s * s) / this.priorVariance![k]);
      free++;
    });
    if (free === 0) return 1;
    return this.minSpread + (1 - this.minSpread) * (ratio / free);
  }

  /**
   * A Thompson draw of w from the Laplace posterior, clipped to the box; draw once per episode, not per keystroke.
   * The draw's deviation from the mean is scaled by spread (default: spread(), which follows the uncertainty).
   */
  sample(rng: Rng, spread = this.spread()): number[] {
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

  /**
   * The mean of the posterior, not its mode: draws from the Laplace approximation, in antithetic pairs, weighted by
   * the exact posterior over their density, then kept in the box. With few events a logistic posterior is skewed away
   * from the prior (logits saturate, so larger weights are penalized less than smaller ones), and its mode sits nearer
   * the base model than its mean. The box bounds what is shown, not the taste: draws outside it count as they are.
   */
  private importanceMean(): number[] {
    const { free, l } = this.factorization();
    const n = this.n;
    const m = free.length;
    const pairs = Math.ceil(this.importanceSamples / 2);
    if (!this.normals) {
      const rng = seededRng(0x50f7);
      this.normals = Float64Array.from({ length: pairs * n }, () => rng.normal());
    }
    const trial = new Float64Array(n);
    const logWeight: number[] = [];
    const draws: Float64Array[] = [];
    const atMode = this.evaluate(this.theta);
    for (let s = 0; s < pairs; s++) {
      const z = this.normals.subarray(s * n, s * n + m);
      const dx = backSolve(l, m, z);
      let zz = 0;
      for (const v of z) zz += v * v;
      for (const sign of [1, -1]) {
        trial.set(this.theta);
        free.forEach((p, i) => (trial[p] += sign * dx[i]));
        // log p(theta | data) - log q(theta), up to one constant.
        logWeight.push(atMode - this.evaluate(trial) + 0.5 * zz);
        draws.push(trial.slice(0, this.dims));
      }
    }
    const top = Math.max(...logWeight.filter(Number.isFinite));
    const weight = logWeight.map((v) => (Number.isFinite(v) ? Math.exp(v - top) : 0));
    const total = weight.reduce((a, b) => a + b, 0);
    if (!(total > 0 && Number.isFinite(total))) return Array.from(this.theta.subarray(0, this.dims));
    const mean = Array.from(this.theta.subarray(0, this.dims));
    for (const p of free) if (p < this.dims) mean[p] = this.clip(draws.reduce((a, w, s) => a + weight[s] * w[p], 0) / total);
    return mean;
  }

  /** Posterior standard deviation of each weight (0 for a locked slider). */
  std(): number[] {
    const cov = this.covariance();
    return Array.from({ length: this.dims }, (_, i) => Math.sqrt(Math.max(0, cov[i * this.dims + i])));
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
    return {
      events: this.count,
      theta: Array.from(this.theta),
      hessian: Array.from(this.hessian),
      noise: Array.from(this.noise),
    };
  }

  /** Takes a snapshot's fit instead of refitting; false (and nothing changed) when it does not fit this posterior. */
  restore(state: PosteriorState): boolean {
    const noise = state.noise ?? Array.from(this.noise);
    const ok =
      state.events === this.count &&
      state.theta.length === this.n &&
      state.hessian.length === this.n * this.n &&
      state.theta.every(Number.isFinite) &&
      state.hessian.every(Number.isFinite) &&
      noise.length === 2 &&
      noise.every((e) => e >= 0 && e <= MAX_NOISE && (this.noisePrior !== null || e === 0));
    if (!ok) return false;
    this.theta = Float64Array.from(state.theta);
    this.hessian = Float64Array.from(state.hessian);
    this.noise = Float64Array.from(noise);
    this.refreshDiscounts();
    this.project(this.theta);
    this.pending = 0;
    this.factor = null;
    return true;
  }

  /**
   * The negative log posterior (up to a constant) at w, biases b and noise rates [ratings, choices] (default: the
   * current estimates): the objective the fit minimizes.
   */
  objective(w: number[], biases: number[] = new Array<number>(NB).fill(0), noise: number[] = Array.from(this.noise)): number {
    const saved = this.noise;
    this.noise = Float64Array.from(noise);
    try {
      this.refreshDiscounts();
      return this.evaluate(Float64Array.from([...w, ...biases])) + this.noisePenalty();
    } finally {
      this.noise = saved;
    }
  }

  /** Exact MAP: projected Newton in theta alternating with the exact noise-rate step, then the Hessian there. */
  fit(maxIterations = 200): void {
    this.project(this.theta);
    this.refreshDiscounts();
    let previous = Infinity;
    for (let outer = 0; outer < 100; outer++) {
      this.newton(maxIterations);
      if (!this.noisePrior || this.count === 0) break;
      this.updateNoise();
      // Both steps lower the same objective, so it decreases monotonically; stop once it no longer moves.
      const f = this.evaluate(this.theta) + this.noisePenalty();
      if (previous - f <= 1e-13 * (1 + Math.abs(f))) break;
      previous = f;
    }
    this.derivatives(this.theta, new Float64Array(this.n), this.hessian);
    this.pending = 0;
    this.factor = null;
  }

  /** Projected Newton (Bertsekas) on theta at the current noise rates. */
  private newton(maxIterations: number): void {
    const n = this.n;
    const theta = this.theta;
    const hessian = this.hessian;
    const grad = new Float64Array(n);
    const [lo, hi] = this.box;
    let f = Infinity;
    for (let iter = 0; iter < maxIterations; iter++) {
      f = this.derivatives(theta, grad, hessian);
      // Weights at a bound whose gradient pushes outward get a scaled gradient step, the rest a Newton step; the
      // line search runs along the projection arc.
      const eps = Math.min(1e-3 * (hi - lo), this.projectedGradientNorm(theta, grad));
      const free = this.freeIndices();
      const newton: number[] = [];
      const direction = new Float64Array(n);
      for (const p of free) {
        const bound =
          p < this.dims && ((theta[p] <= lo + eps && grad[p] > 0) || (theta[p] >= hi - eps && grad[p] < 0));
        if (bound) direction[p] = -grad[p] / hessian[p * n + p];
        else newton.push(p);
      }
      if (newton.length) {
        const l = choleskyJittered(this.submatrix(hessian, newton), newton.length);
        const step = cholSolve(l, newton.length, newton.map((p) => grad[p]));
        newton.forEach((p, i) => (direction[p] = -step[i]));
      }
      let accepted = false;
      const trial = new Float64Array(n);
      let change = 0;
      let ft = f;
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
        ft = this.evaluate(trial);
        if (ft <= f + 1e-4 * slope) {
          accepted = true;
          break;
        }
      }
      if (!accepted) break;
      theta.set(trial);
      // Fisher scoring converges linearly where the noise model bends the objective: stop when it stops paying.
      const decrease = f - ft;
      f = ft;
      if (change <= 1e-9 * (1 + Math.max(...Array.from(theta, Math.abs))) || decrease <= 1e-9 * (1 + Math.abs(f))) break;
    }
  }

  /** The exact step in each noise rate given theta: the Beta-prior MAP of a concave one-dimensional objective. */
  private updateNoise(): void {
    const [a, b] = this.noisePrior!;
    const n = this.n;
    for (const kind of [RATING, CHOICE]) {
      // p_i: probability of the observed label under the clean model; c_i its weight.
      const p: number[] = [];
      const c: number[] = [];
      for (let i = this.from; i < this.count; i++) {
        if (this.kinds[i] !== kind) continue;
        let z = 0;
        for (let q = 0, o = i * n; q < n; q++) z += this.rows[o + q] * this.theta[q];
        p.push(sigmoid(this.labels[i] ? z : -z));
        c.push(this.weights[i] * this.discount[i]);
      }
      // d/deps of sum c log(eps + (1 - 2 eps) p) + (a - 1) log eps + (b - 1) log(1 - eps) decreases in eps.
      const slope = (eps: number) => {
        let g = (a - 1) / eps - (b - 1) / (1 - eps);
        for (let i = 0; i < p.length; i++) g += (c[i] * (1 - 2 * p[i])) / (eps + (1 - 2 * eps) * p[i]);
        return g;
      };
      let lo = 1e-9;
      let hi = MAX_NOISE;
      if (slope(hi) >= 0) lo = hi;
      for (let it = 0; it < 40 && hi - lo > 1e-6; it++) {
        const mid = 0.5 * (lo + hi);
        if (slope(mid) > 0) lo = mid;
        else hi = mid;
      }
      this.noise[kind] = lo;
    }
  }

  /** -log of the noise rates' Beta prior (up to a constant). */
  private noisePenalty(): number {
    if (!this.noisePrior) return 0;
    const [a, b] = this.noisePrior;
    let f = 0;
    for (const e of this.noise) f -= (a - 1) * Math.log(e) + (b - 1) * Math.log(1 - e);
    return f;
  }

  private noiseMode(): number {
    const [a, b] = this.noisePrior!;
    return (a - 1) / (a + b - 2);
  }

  /** gamma^age per event, and the first event still worth fitting. */
  private refreshDiscounts(): void {
    const logGamma = Math.log(this.forgetting);
    this.from = Math.max(this.start, logGamma < 0 ? this.count - Math.ceil(Math.log(1e-6) / logGamma) : 0);
    for (let i = this.from; i < this.count; i++) this.discount[i] = Math.exp(logGamma * (this.count - 1 - i));
  }

  private applySlider(dim: number, value: number, locked: boolean): void {
    this.priorMean[dim] = this.clip(value);
    // Raising a diagonal entry keeps a (user-level, correlated) precision positive definite; never lower it.
    const d = dim * this.dims + dim;
    this.priorPrecision[d] = Math.max(this.priorPrecision[d], this.sliderAlpha);
    this.locked[dim] = locked;
    if (locked) this.theta[dim] = this.priorMean[dim];
    this.factor = null;
    this.priorVariance = null;
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
      const kinds = new Uint8Array(capacity);
      kinds.set(this.kinds);
      this.kinds = kinds;
      this.discount = new Float64Array(capacity);
    }
    const row = this.rows.subarray(this.count * n, (this.count + 1) * n);
    row.fill(0);
    if (event.type === "rating") {
      for (let k = 0; k < this.dims; k++) row[k] = event.features[k];
      row[this.dims + SURFACES.indexOf(event.surface)] = 1;
      this.labels[this.count] = event.up ? 1 : 0;
      this.weights[this.count] = this.eventWeight(event);
      this.kinds[this.count] = RATING;
    } else {
      for (let k = 0; k < this.dims; k++) row[k] = event.winner[k] - event.loser[k];
      this.labels[this.count] = 1;
      this.weights[this.count] = this.eventWeight(event);
      this.kinds[this.count] = CHOICE;
    }
    this.discount[this.count] = 1;
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
    const c = this.weights[i];
    const t = eventTerms(z, this.labels[i], this.noise[this.kinds[i]]);
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) this.hessian[a * n + b] += c * t.s * x[a] * x[b];
    const free = this.freeIndices();
    const l = choleskyJittered(this.submatrix(this.hessian, free), free.length);
    const step = cholSolve(l, free.length, free.map((p) => c * t.r * x[p]));
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

  private factorization(): { free: number[]; l: Float64Array; mean?: number[] } {
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
    for (let i = this.from; i < this.count; i++) {
      let z = 0;
      for (let p = 0, o = i * n; p < n; p++) z += this.rows[o + p] * theta[p];
      const eps = this.noise[this.kinds[i]];
      const y = this.labels[i];
      const term = eps === 0 ? softplus(y ? -z : z) : eventTerms(z, y, eps).f;
      f += this.weights[i] * this.discount[i] * term;
    }
    return f;
  }

  /** Objective, gradient and Fisher-scoring Hessian in one pass over the events. */
  private derivatives(theta: Float64Array, grad: Float64Array, hess: Float64Array): number {
    const n = this.n;
    grad.fill(0);
    hess.fill(0);
    let f = this.priorTerms(theta, grad, hess);
    for (let i = this.from; i < this.count; i++) {
      const o = i * n;
      let z = 0;
      for (let p = 0; p < n; p++) z += this.rows[o + p] * theta[p];
      const c = this.weights[i] * this.discount[i];
      const t = eventTerms(z, this.labels[i], this.noise[this.kinds[i]]);
      f += c * t.f;
      const r = c * t.r;
      const s = c * t.s;
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
