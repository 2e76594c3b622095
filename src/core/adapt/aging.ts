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
}

/**
 * The rule for one person's stream of feedback (`soup adapt`, the simulator, bench/closedLoop.ts): the
 * careless-feedback likelihood with its rates under a Beta(4, 16) prior; Thompson draws at the full posterior width
 * at the prior (the real closed loop needs them at the start) narrowing to half as the feedback shrinks the
 * posterior (measured: full width all along doubled the simulated users' regret, 101 against 48, and showed a draw
 * worse than the base model 9% of the time, with no gain in utility and none on the real loop); a slow posterior
 * forgetting at 0.99 per event (choices and careless users gained 0.01-0.03 after 100 events over no forgetting,
 * feature scale x3 lost about as much) and a change detector with a fast memory of 0.95 and a 6-nat threshold (no
 * false alarm on 20 stable users over 200 events, careless ones included; a strong change found in 15-60 events).
 * Not the editor's default: the store pools workspaces into a user level, which must not age.
 */
export const STREAM_POSTERIOR = {
  noisePrior: [4, 16] as [number, number],
  minSpread: 0.5,
  forgetting: 0.99,
  fastForgetting: 0.95,
  changeThreshold: 6,
};

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

  constructor(options: AgingOptions) {
    const { fastForgetting = STREAM_POSTERIOR.fastForgetting, changeThreshold = STREAM_POSTERIOR.changeThreshold, ...rest } = options;
    if (!(changeThreshold > 0)) throw new Error("changeThreshold must be > 0 (Infinity: never forget)");
    this.slow = new SoupPosterior({ forgetting: 1, ...rest });
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
      this.changeCount++;
      this.cusum = 0;
      this.run = 0;
    }
  }

  /** Replays a log event by event, so the detector sees each event before the fit does, as it did live. */
  observeAll(events: Iterable<Feedback>): void {
    for (const e of events) this.observe(e);
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
