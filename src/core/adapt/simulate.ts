// The Gaussian-feature user model, and a benchmark of soup-weight policies on it.
// Under soup w the features are phi ~ N(mu_0 + Sigma w, Sigma) (exponential tilting of the base model's
// N(mu_0, Sigma)); a user with hidden w* has utility J(w) = w*.(mu_0 + Sigma w) - 0.5 w' Sigma w (reward minus KL),
// maximized at w = w*, rates with P(up) = sigmoid(b + w*.phi) and chooses with P(A > B) = sigmoid(w*.(phiA - phiB)).
// Less kind users: careless (a share of their feedback flipped), drifting (w* redrawn at a given round), negative (a
// share of dimensions disliked), choosers (mostly A/B choices) and completers (only accept or dismiss completions).
import { seededRng, type Rng } from "../random";
import type { RatingSignal } from "./feedback";
import { cholesky } from "./linalg";
import { AgingPosterior, STREAM_POSTERIOR, type AgingOptions } from "./aging";
import { DEFAULT_POSTERIOR, type GaussianPrior } from "./posterior";

export type FeedbackKind = "rating" | "choice";
export type UserKind = "standard" | "noisy" | "drifting" | "negative" | "chooser" | "completer";
export const USER_KINDS: readonly UserKind[] = ["standard", "noisy", "drifting", "negative", "chooser", "completer"];
export type PolicyName =
  | "base"
  | "uniform"
  | "sliders"
  | "greedy"
  | "epsilon-greedy"
  | "thompson"
  | "thompson+sliders"
  | "first-wave";
export const POLICIES: readonly PolicyName[] = [
  "base",
  "uniform",
  "sliders",
  "greedy",
  "epsilon-greedy",
  "thompson",
  "thompson+sliders",
  "first-wave",
];

/**
 * The first wave's posterior, kept as a baseline: the plain logistic likelihood under the editor's prior, the MAP as
 * the estimate, evidence that never ages, and Thompson draws at a fixed half of the posterior std.
 */
export const FIRST_WAVE = {
  posterior: {
    alpha: DEFAULT_POSTERIOR.alpha,
    negativePenalty: DEFAULT_POSTERIOR.negativePenalty,
    importanceSamples: 0,
    noisePrior: null,
    minSpread: 1,
    forgetting: 1,
    changeThreshold: Infinity,
  },
  spread: 0.5,
} as const;

/** What makes a user less kind than the standard one; each user kind sets one of these, flags may set any. */
export interface UserTraits {
  /** Share of ratings and choices flipped at random. */
  flip: number;
  /** Round at which w* is redrawn (a change of taste); Infinity: never. */
  switchAt: number;
  /** Share of dimensions the user dislikes (true weight in [box lo, 0)). */
  negativeShare: number;
  /** Share of rounds that are A/B choices instead of ratings (overrides `feedback` when set). */
  choiceShare: number | null;
  /** Ratings are completion outcomes: accepted (1), dismissed (0.5) or typed over (0.2). */
  completions: boolean;
}

export function userTraits(kind: UserKind, overrides: Partial<UserTraits> = {}): UserTraits {
  const traits: UserTraits = { flip: 0, switchAt: Infinity, negativeShare: 0, choiceShare: null, completions: false };
  if (kind === "noisy") traits.flip = 0.2;
  if (kind === "drifting") traits.switchAt = 50;
  if (kind === "negative") traits.negativeShare = 0.25;
  if (kind === "chooser") traits.choiceShare = 0.8;
  if (kind === "completer") traits.completions = true;
  return { ...traits, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
}

export interface SimulationOptions {
  users: number;
  k: number;
  rounds: number;
  feedback: FeedbackKind;
  seed: number;
  user?: UserKind;
  /** Overrides of the user kind's traits. */
  traits?: Partial<UserTraits>;
  /** Multiplies the features' spread: Sigma becomes scale^2 Sigma (a stronger or weaker basis). */
  featureScale?: number;
  correlation?: number;
  /** Std of the error in a user's stated slider weights. */
  sliderNoise?: number;
  epsilon?: number;
  /** Std multiplier of the Thompson draws (1: plain Thompson sampling); default: the posterior's own rule. */
  thompsonSpread?: number;
  policies?: readonly PolicyName[];
  posterior?: Omit<AgingOptions, "dims" | "prior">;
  /**
   * A prior on w per user (index 0..users-1) for the posterior policies, instead of N(0, alpha^-1 I): lets a
   * benchmark compare priors on the same users (bench/whitening.ts). Sliders still override their dimension's mean.
   */
  prior?: (user: number) => GaussianPrior;
}

export interface PolicyResult {
  policy: PolicyName;
  /** Median over users of the normalized utility of the policy's current weights (the posterior mean), t = 0..T. */
  utility: number[];
  /** 25th and 75th percentiles of the same. */
  utilityQ1: number[];
  utilityQ3: number[];
  /** Median over users of the cumulative regret of what was shown, in units of J(w*) - J(0) per round. */
  regret: number;
  /** Median over users of the first round from which normalized utility stays >= 0.9 (Infinity: never within T). */
  roundsTo90: number;
  /** Share of (user, round) pairs whose weights were worse than the base model (normalized utility < 0). */
  belowBase: number;
  nonFinite: number;
}

export interface SimulationResult {
  options: Required<Omit<SimulationOptions, "posterior" | "policies" | "prior" | "traits" | "thompsonSpread">> & {
    policies: PolicyName[];
    traits: UserTraits;
    thompsonSpread: number | "adaptive";
  };
  results: PolicyResult[];
  /** Median wall time of one posterior update, milliseconds. */
  updateMs: number;
}

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** The standard setting: unit variances, equal correlations. */
class GaussianUsers {
  readonly sigma: Float64Array;
  private readonly chol: Float64Array;

  constructor(
    readonly k: number,
    correlation: number,
    readonly scale: number,
  ) {
    this.sigma = new Float64Array(k * k);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) this.sigma[i * k + j] = i === j ? 1 : correlation;
    const l = cholesky(this.sigma, k);
    if (!l) throw new Error("correlation must keep Sigma positive definite");
    this.chol = l;
  }

  /** (a - b)' Sigma (a - b), unscaled: normalized utility is scale-free. */
  quad(a: ArrayLike<number>, b: ArrayLike<number>): number {
    const k = this.k;
    let s = 0;
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) s += (a[i] - b[i]) * this.sigma[i * k + j] * (a[j] - b[j]);
    return s;
  }

  /** (J(w) - J(0)) / (J(w*) - J(0)) = 1 - (w - w*)' Sigma (w - w*) / w*' Sigma w*, with mu_0 = 0. */
  normalizedUtility(w: ArrayLike<number>, wStar: ArrayLike<number>): number {
    return 1 - this.quad(w, wStar) / this.quad(wStar, new Float64Array(this.k));
  }

  /** phi ~ N(s^2 Sigma w, s^2 Sigma): the tilted Gaussian of features with spread s. */
  features(w: ArrayLike<number>, rng: Rng): number[] {
    const k = this.k;
    const s = this.scale;
    const xi = Array.from({ length: k }, () => rng.normal());
    return Array.from({ length: k }, (_, i) => {
      let mean = 0;
      let noise = 0;
      for (let j = 0; j < k; j++) {
        mean += this.sigma[i * k + j] * w[j];
        noise += this.chol[i * k + j] * xi[j];
      }
      return s * s * mean + s * noise;
    });
  }
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const sigmoid = (t: number) => 1 / (1 + Math.exp(-t));

/** One simulated person: the taste before and after a switch, and the sliders they state at the start. */
interface SimUser {
  tastes: [number[], number[]];
  stated: number[];
}

const COMPLETION_DOWN: readonly RatingSignal[] = ["dismissed", "typedOver"];

/** One simulated user under one policy: utility of the current weights per round and of what was shown. */
function runUser(
  policy: PolicyName,
  model: GaussianUsers,
  user: SimUser,
  traits: UserTraits,
  prior: GaussianPrior | undefined,
  opts: SimulationOptions,
  rng: Rng,
  timings: number[],
): { current: number[]; shown: number[] } {
  const k = opts.k;
  const taste = (t: number) => user.tastes[t >= traits.switchAt ? 1 : 0];
  const fixed: Partial<Record<PolicyName, number[]>> = {
    base: new Array<number>(k).fill(0),
    uniform: new Array<number>(k).fill(1 / k),
    sliders: user.stated,
  };
  const current: number[] = [];
  const shown: number[] = [];
  const fixedW = fixed[policy];
  if (fixedW) {
    for (let t = 0; t <= opts.rounds; t++) current.push(model.normalizedUtility(fixedW, taste(t)));
    for (let t = 0; t < opts.rounds; t++) shown.push(model.normalizedUtility(fixedW, taste(t)));
    return { current, shown };
  }
  const firstWave = policy === "first-wave";
  const posterior = new AgingPosterior({
    ...STREAM_POSTERIOR,
    ...opts.posterior,
    ...(firstWave ? FIRST_WAVE.posterior : {}),
    dims: k,
    ...(prior ? { prior } : {}),
  });
  if (policy === "thompson+sliders") {
    posterior.observeAll(user.stated.map((value, dim) => ({ type: "slider", dim, value, locked: false })));
  }
  const epsilon = opts.epsilon ?? 0.1;
  const spread = firstWave ? FIRST_WAVE.spread : opts.thompsonSpread;
  const behaviour = (): number[] => {
    if (policy === "greedy") return posterior.mean();
    if (policy === "epsilon-greedy") {
      return rng.next() < epsilon ? Array.from({ length: k }, () => rng.next()) : posterior.mean();
    }
    return posterior.sample(rng, spread); // Thompson: one draw per round, a round being one episode
  };
  const flipped = (v: boolean) => (rng.next() < traits.flip ? !v : v);
  current.push(model.normalizedUtility(posterior.mean(), taste(0)));
  for (let t = 0; t < opts.rounds; t++) {
    const wStar = taste(t);
    const choice = traits.choiceShare === null ? opts.feedback === "choice" : rng.next() < traits.choiceShare;
    const wA = behaviour();
    const phiA = model.features(wA, rng);
    const started = performance.now();
    if (!choice) {
      shown.push(model.normalizedUtility(wA, wStar));
      const up = flipped(rng.next() < sigmoid(dot(wStar, phiA)));
      if (traits.completions) {
        const signal: RatingSignal = up ? "accepted" : COMPLETION_DOWN[rng.next() < 0.5 ? 0 : 1];
        posterior.observe({ type: "rating", features: phiA, up, surface: "completion", signal });
      } else {
        posterior.observe({ type: "rating", features: phiA, up, surface: "chat" });
      }
    } else {
      const wB = behaviour();
      const phiB = model.features(wB, rng);
      shown.push((model.normalizedUtility(wA, wStar) + model.normalizedUtility(wB, wStar)) / 2);
      const aWins = flipped(rng.next() < sigmoid(dot(wStar, phiA) - dot(wStar, phiB)));
      posterior.observe({ type: "choice", winner: aWins ? phiA : phiB, loser: aWins ? phiB : phiA });
    }
    timings.push(performance.now() - started);
    current.push(model.normalizedUtility(posterior.mean(), taste(t + 1)));
  }
  return { current, shown };
}

/** Runs every policy on the same users (same w*, same stated sliders), seeded and deterministic. */
export function simulate(opts: SimulationOptions): SimulationResult {
  const k = opts.k;
  const correlation = opts.correlation ?? 0.3;
  const featureScale = opts.featureScale ?? 1;
  const sliderNoise = opts.sliderNoise ?? 0.3;
  const policies = [...(opts.policies ?? POLICIES)];
  const model = new GaussianUsers(k, correlation, featureScale);
  const [lo, hi] = opts.posterior?.box ?? [-0.5, 2];
  const traits = userTraits(opts.user ?? "standard", opts.traits);
  const users = Array.from({ length: opts.users }, (_, u): SimUser => {
    const rng = seededRng(opts.seed * 7919 + u);
    const taste = () => {
      const w = Array.from({ length: k }, () => rng.next());
      // Disliked dimensions: a random share, with true weights spread over [lo, 0).
      const order = Array.from({ length: k }, (_, i) => i).sort(() => rng.next() - 0.5);
      for (const i of order.slice(0, Math.round(traits.negativeShare * k))) w[i] = lo * w[i];
      return w;
    };
    const first = taste();
    const stated = first.map((w) => Math.min(hi, Math.max(lo, w + sliderNoise * rng.normal())));
    return { tastes: [first, taste()], stated };
  });
  const timings: number[] = [];
  const results = policies.map((policy, pi): PolicyResult => {
    const runs = users.map((user, u) =>
      runUser(policy, model, user, traits, opts.prior?.(u), opts, seededRng((opts.seed + 1) * 104729 + u * 31 + pi), timings),
    );
    const perRound = (t: number) => runs.map((r) => r.current[t]);
    const utility: number[] = [];
    const utilityQ1: number[] = [];
    const utilityQ3: number[] = [];
    for (let t = 0; t <= opts.rounds; t++) {
      const v = perRound(t);
      utility.push(quantile(v, 0.5));
      utilityQ1.push(quantile(v, 0.25));
      utilityQ3.push(quantile(v, 0.75));
    }
    const settled = runs.map((r) => {
      let t = r.current.length;
      while (t > 0 && r.current[t - 1] >= 0.9) t--;
      return t === r.current.length ? Infinity : t;
    });
    const all = runs.flatMap((r) => [...r.current, ...r.shown]);
    return {
      policy,
      utility,
      utilityQ1,
      utilityQ3,
      regret: quantile(
        runs.map((r) => r.shown.reduce((a, u) => a + (1 - u), 0)),
        0.5,
      ),
      roundsTo90: quantile(settled, 0.5),
      belowBase: runs.flatMap((r) => r.shown).filter((u) => u < 0).length / (runs.length * opts.rounds),
      nonFinite: all.filter((v) => !Number.isFinite(v)).length,
    };
  });
  return {
    options: {
      users: opts.users,
      k,
      rounds: opts.rounds,
      feedback: opts.feedback,
      seed: opts.seed,
      user: opts.user ?? "standard",
      traits,
      featureScale,
      correlation,
      sliderNoise,
      epsilon: opts.epsilon ?? 0.1,
      thompsonSpread: opts.thompsonSpread ?? "adaptive",
      policies,
    },
    results,
    updateMs: timings.length ? quantile(timings, 0.5) : 0,
  };
}
