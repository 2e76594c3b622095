// Evidence that ages only when the person changes: a posterior that never forgets, watched by a change detector.
// A second posterior over the same stream forgets fast (it keeps about the last 20 events); before each event both
// predict it, and a CUSUM of the log-likelihood ratio (fast over slow) sums the evidence that the recent events are
// better explained by a new taste. When it passes a threshold, the slow posterior drops every event before the
// point where the sum last started rising (the estimated change point) and goes on from there.
//
// Why not a constant forgetting factor: it throws away a stable person's evidence. Measured in the simulator, a
// factor of 0.98 cost the most where the informative events are rare and early (feature scale x3: 0.73 against 0.81
// after 100 ratings without forgetting). Why not a weighted mixture of the two memories: on ratings their
// predictions differ little per event, so the weights wander and the fast memory's noise leaks into every estimate
// (20% flipped ratings: 0.60-0.64 against 0.65-0.66). A CUSUM acts only on a sustained run of better predictions.
import type { Feedback } from "./feedback";
import { SoupPosterior, type PosteriorOptions } from "./posterior";
import type { Rng } from "../random";

export interface AgingOptions extends PosteriorOptions {
  /** Forgetting factor of the detector's fast posterior (the alternative "the taste changed recently"). */
  fastForgetting?: number;
  /** CUSUM threshold in nats; Infinity: never forget (the plain posterior). */
  changeThreshold?: number;
  /** The slow posterior's memory in events per weight, when `forgetting` is not given. */
  memoryPerWeight?: number;
}

/**
 * The rule for one person's stream of feedback (`soup adapt`, the simulator, bench/closedLoop.ts):
 * - the estimate is the posterior mean, not its mode (importance sampling; measured on the standard simulated user
 *   after 25 ratings: 0.86-0.87 against 0.82 for the mode), under a prior N(0, 1/2) per weight without the extra
 *   cost of negative weights (both would move the mean away from the base model before any feedback: the box is
 *   asymmetric, so only a symmetric prior has its mean there). The mean is sensitive to the prior's width where the
 *   data fix a direction better than a size (choices: 0.72 after 100 with N(0, 1), 0.92 with N(0, 1/2));
 * - the careless-feedback likelihood with its rates under a Beta(4, 16) prior;
 * - Thompson draws at the full posterior width at the prior, narrowing to half as the feedback shrinks it;
 * - a slow posterior that keeps about 12 events per weight and at least 100 (forgetting 0.99 up to K = 8; a fixed 0.99
 *   was too short a memory for 34 parameters at K = 32) and a change detector with a fast memory of 0.95 and a 6-nat
 *   threshold (no false alarm on 20 stable users over 200 events, careless ones included; a strong change found in
 *   15-60 events).
 * The editor's store (EDITOR_FIT) ages a workspace's level only (STREAM_AGING); the user level, which pools every
 * workspace, keeps the fit without aging.
 */
export const STREAM_FIT = {
  alpha: 2,
  negativePenalty: 0,
  importanceSamples: 512,
  noisePrior: [4, 16] as [number, number],
  minSpread: 0.5,
};

/**
 * The editor's fit: the stream rule's without the careless-feedback likelihood. That likelihood is not convex, and
 * the fit, warm-started from the last one as events and sliders arrive, can stop elsewhere than a fit of the same
 * log on reopening (4 events and a slider: objective 18.06 live against 17.59 reopened, weights 0.05 apart): a
 * reloaded window would show other weights. Without it the objective has one minimum, whatever the order.
 */
export const EDITOR_FIT = { ...STREAM_FIT, noisePrior: null };

export const STREAM_AGING = {
  memoryPerWeight: 12,
  fastForgetting: 0.95,
  changeThreshold: 6,
};

export const STREAM_POSTERIOR = { ...STREAM_FIT, ...STREAM_AGING };

/**
 * Where the change detector stood after the first `events` events (sliders not counted): with those events, enough
 * to rebuild the posterior by two bulk fits instead of a refit per event (about 11 s per 1,000 events on 2 cores,
 * against 0.2 s in bulk).
 */
export interface DetectorState {
  events: number;
  /** The first event of the current taste: the slow posterior forgot those before it. */
  regimeStart: number;
  cusum: number;
  run: number;
  changes: number;
}

/**
 * Events replayed one by one, detector included, when no detector state can be used (a log written before the
 * detector was kept, a damaged snapshot): a strong change is found in 15-60 events, and each costs a refit (opening
 * a 3,000-event log took 10 s with 300 of them on a loaded 2-core machine).
 */
export const REPLAY_DETECTED = 150;

/** The shortest memory of the slow posterior, in events: shorter, a stable person's estimate follows the noise. */
const MIN_MEMORY = 100;

/** The slow posterior's forgetting factor: a memory of `memoryPerWeight` events per weight, at least MIN_MEMORY. */
export function streamForgetting(dims: number, memoryPerWeight = STREAM_POSTERIOR.memoryPerWeight): number {
  return 1 - 1 / Math.max(MIN_MEMORY, memoryPerWeight * dims);
}

export class AgingPosterior {
  readonly dims: number;
  readonly box: [number, number];
  /** The estimate: every event since the last detected change, none forgotten. */
  readonly slow: SoupPosterior;
  private readonly fast: SoupPosterior | null;
  private readonly threshold: number;
  private cusum = 0;
  /** Events since the CUSUM last stood at 0: the length of the suspected new regime. */
  private run = 0;
  private changeCount = 0;
  private regimeStart = 0;

  constructor(options: AgingOptions) {
    const { fastForgetting = STREAM_POSTERIOR.fastForgetting, changeThreshold = STREAM_POSTERIOR.changeThreshold, memoryPerWeight, ...rest } = options;
    if (!(changeThreshold > 0)) throw new Error("changeThreshold must be > 0 (Infinity: never forget)");
    const forgetting = rest.forgetting ?? (memoryPerWeight === undefined ? 1 : streamForgetting(options.dims, memoryPerWeight));
    this.slow = new SoupPosterior({ ...rest, forgetting });
    this.fast = Number.isFinite(changeThreshold) ? new SoupPosterior({ ...rest, forgetting: fastForgetting }) : null;
    this.dims = this.slow.dims;
    this.box = this.slow.box;
    this.threshold = changeThreshold;
  }

  get eventCount(): number {
    return this.slow.eventCount;
  }

  /** How many changes of taste were detected so far. */
  get changes(): number {
    return this.changeCount;
  }

  observe(event: Feedback): void {
    if (event.type !== "slider" && this.fast) {
      // Weighted by the event's confidence, as in the fit: a zero-confidence event is no evidence either way.
      const c = this.slow.eventWeight(event);
      const llr = c * (Math.log(this.fast.predict(event)) - Math.log(this.slow.predict(event)));
      this.cusum += llr;
      this.run++;
      if (this.cusum <= 0) {
        this.cusum = 0;
        this.run = 0;
      }
    }
    this.slow.observe(event);
    this.fast?.observe(event);
    if (this.cusum > this.threshold) {
      this.slow.forgetAllBut(this.run);
      this.regimeStart = this.slow.eventCount - this.run;
      this.changeCount++;
      this.cusum = 0;
      this.run = 0;
    }
  }

  /** Replays a log event by event, so the detector sees each event before the fit does, as it did live. */
  observeAll(events: Iterable<Feedback>): void {
    for (const e of events) this.observe(e);
  }

  /** The detector's state now, for a snapshot (see resume). */
  detectorState(): DetectorState {
    return { events: this.slow.eventCount, regimeStart: this.regimeStart, cusum: this.cusum, run: this.run, changes: this.changeCount };
  }

  /**
   * Takes a replayed log as this posterior would have seen it live, given where its detector stood after the first
   * `state.events` of them: those are fitted in bulk (the slow posterior from the start of the current taste), the
   * rest observed one by one. Without a usable state (none, or not one of these events), the detector starts
   * REPLAY_DETECTED events before the end. Returns whether the state was used. For a fresh posterior only.
   */
  resume(events: readonly Feedback[], state?: DetectorState): boolean {
    const count = events.filter((e) => e.type !== "slider").length;
    const usable =
      typeof state === "object" &&
      state !== null &&
      [state.events, state.regimeStart, state.run, state.changes].every(Number.isInteger) &&
      state.events <= count &&
      state.regimeStart >= 0 &&
      state.regimeStart <= state.events &&
      state.run >= 0 &&
      state.run <= state.events &&
      state.changes >= 0 &&
      Number.isFinite(state.cusum) &&
      state.cusum >= 0 &&
      state.cusum <= this.threshold;
    const from: DetectorState = usable ? state : { events: Math.max(0, count - REPLAY_DETECTED), regimeStart: 0, cusum: 0, run: 0, changes: 0 };
    // Where the bulk part ends in `events` (sliders included in it).
    let split = 0;
    for (let seen = 0; split < events.length && seen < from.events; split++) if (events[split].type !== "slider") seen++;
    const bulk = events.slice(0, split);
    this.slow.observeAll(bulk);
    if (from.regimeStart > 0) this.slow.forgetAllBut(from.events - from.regimeStart);
    this.fast?.observeAll(bulk);
    this.regimeStart = from.regimeStart;
    this.cusum = from.cusum;
    this.run = from.run;
    this.changeCount = from.changes;
    for (const e of events.slice(split)) this.observe(e);
    return usable;
  }

  mean(): number[] {
    return this.slow.mean();
  }

  std(): number[] {
    return this.slow.std();
  }

  sample(rng: Rng, spread?: number): number[] {
    return this.slow.sample(rng, spread);
  }
}
