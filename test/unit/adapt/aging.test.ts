import assert from "node:assert/strict";
import { AgingPosterior, REPLAY_DETECTED, STREAM_POSTERIOR, streamForgetting } from "../../../src/core/adapt/aging";
import type { Feedback } from "../../../src/core/adapt/feedback";
import { SoupPosterior } from "../../../src/core/adapt/posterior";
import { seededRng, type Rng } from "../../../src/core/random";

/** Ratings of Gaussian features by a user with taste w*, a share of them flipped. */
function ratings(rng: Rng, truth: number[], n: number, flip = 0): Feedback[] {
  return Array.from({ length: n }, (): Feedback => {
    const features = truth.map(() => 1.5 * rng.normal());
    const z = features.reduce((s, x, i) => s + x * truth[i], 0);
    const up = rng.next() < 1 / (1 + Math.exp(-z));
    return { type: "rating", features, up: rng.next() < flip ? !up : up, surface: "chat" };
  });
}

const distance = (a: number[], b: number[]) => Math.hypot(...a.map((x, i) => x - b[i]));

describe("adapt/aging", () => {
  for (const flip of [0, 0.2]) {
    it(`a stable user (${flip * 100}% flipped) sets off no change, and the estimate is the slow posterior's, close to one that never forgets`, () => {
      const rng = seededRng(31 + flip * 10);
      const truth = [0.2, 1.2, 0.6, 0.9];
      const events = ratings(rng, truth, 300, flip);
      const aging = new AgingPosterior({ dims: 4, ...STREAM_POSTERIOR });
      aging.observeAll(events);
      assert.equal(aging.changes, 0);
      const same = new SoupPosterior({ dims: 4, ...STREAM_POSTERIOR, forgetting: streamForgetting(4) });
      same.observeAll(events);
      aging.mean().forEach((w, i) => assert.ok(Math.abs(w - same.mean()[i]) < 1e-4, `dim ${i}: ${w} vs ${same.mean()[i]}`));
      const never = new SoupPosterior({ dims: 4, ...STREAM_POSTERIOR, forgetting: 1 });
      never.observeAll(events);
      const std = never.std();
      aging.mean().forEach((w, i) => assert.ok(Math.abs(w - never.mean()[i]) < Math.max(0.15, 1.5 * std[i]), `dim ${i}: ${w} vs ${never.mean()[i]}`));
    });
  }

  it("finds a strong change of taste within tens of events and then follows the new taste", () => {
    const rng = seededRng(33);
    const before = [1.5, 1.2, 0, 0];
    const after = [-0.4, 0, 1.5, 1.2];
    const aging = new AgingPosterior({ dims: 4, ...STREAM_POSTERIOR });
    const never = new SoupPosterior({ dims: 4, ...STREAM_POSTERIOR, forgetting: 1 });
    for (const e of ratings(rng, before, 100)) {
      aging.observe(e);
      never.observe(e);
    }
    assert.equal(aging.changes, 0, "no change before the switch");
    let foundAt = -1;
    ratings(rng, after, 60).forEach((e, i) => {
      aging.observe(e);
      never.observe(e);
      if (foundAt < 0 && aging.changes > 0) foundAt = i + 1;
    });
    assert.ok(foundAt > 0 && foundAt <= 40, `change found after ${foundAt} events`);
    assert.ok(distance(aging.mean(), after) < 0.5 * distance(never.mean(), after), `aging ${aging.mean()} vs never ${never.mean()}`);
  });

  it("resumes from the detector's state to the posterior it was live, a detected change included; without one, finds the change in the newest events", () => {
    const rng = seededRng(35);
    const events = [...ratings(rng, [1.5, 1.2, 0, 0], 100), ...ratings(rng, [-0.4, 0, 1.5, 1.2], 60)];
    const live = new AgingPosterior({ dims: 4, ...STREAM_POSTERIOR });
    const halfway = 130;
    live.observeAll(events.slice(0, halfway));
    const state = live.detectorState();
    assert.equal(state.changes, 1, "the change was found before the state was taken");
    live.observeAll(events.slice(halfway));
    const near = (a: number[], b: number[]) => a.forEach((w, i) => assert.ok(Math.abs(w - b[i]) < 1e-3, `dim ${i}: ${a} vs ${b}`));
    // From the state at the end (a reopened store), and from one taken earlier (a snapshot older than the log).
    const atEnd = new AgingPosterior({ dims: 4, ...STREAM_POSTERIOR });
    assert.equal(atEnd.resume(events, live.detectorState()), true);
    near(atEnd.mean(), live.mean());
    assert.deepEqual(atEnd.detectorState(), live.detectorState());
    const older = new AgingPosterior({ dims: 4, ...STREAM_POSTERIOR });
    assert.equal(older.resume(events, state), true);
    near(older.mean(), live.mean());
    assert.equal(older.changes, live.changes);
    // A state that cannot be of these events (more events than the log has), or none: the detector replays the
    // newest REPLAY_DETECTED events, which hold the change here.
    for (const bad of [{ ...state, events: events.length + 1 }, undefined]) {
      const replayed = new AgingPosterior({ dims: 4, ...STREAM_POSTERIOR });
      assert.equal(replayed.resume(events, bad), false);
      assert.ok(events.length - REPLAY_DETECTED < 100, "the switch at event 100 is among the events replayed");
      near(replayed.mean(), live.mean());
      assert.equal(replayed.changes, 1);
    }
  });

  it("forgetAllBut leaves exactly the fit of the newest events", () => {
    const rng = seededRng(34);
    const events = ratings(rng, [1, 0.5, 0.2], 80);
    const p = new SoupPosterior({ dims: 3, noisePrior: [4, 16] });
    p.observeAll(events);
    p.forgetAllBut(25);
    const fresh = new SoupPosterior({ dims: 3, noisePrior: [4, 16] });
    fresh.observeAll(events.slice(-25));
    p.mean().forEach((w, i) => assert.ok(Math.abs(w - fresh.mean()[i]) < 1e-4, `dim ${i}: ${w} vs ${fresh.mean()[i]}`));
    assert.equal(p.eventCount, 80);
  });

  it("predicts each outcome with the fitted probabilities, careless-feedback rate included", () => {
    const rng = seededRng(35);
    const p = new SoupPosterior({ dims: 2, noisePrior: [4, 16] });
    p.observeAll(ratings(rng, [1.5, -0.3], 60, 0.1));
    const up: Feedback = { type: "rating", features: [2, 1], up: true, surface: "chat" };
    const pUp = p.predict(up);
    assert.ok(Math.abs(pUp + p.predict({ ...up, up: false }) - 1) < 1e-12);
    const eps = p.noiseRates().rating;
    const z = 2 * p.mean()[0] + p.mean()[1] + p.bias("chat");
    assert.ok(Math.abs(pUp - (eps + (1 - 2 * eps) / (1 + Math.exp(-z)))) < 1e-12);
    assert.ok(pUp > eps && pUp < 1 - eps, "a careless share bounds every prediction away from 0 and 1");
  });

  it("a zero-confidence event is no evidence of a change", () => {
    const rng = seededRng(36);
    const aging = new AgingPosterior({ dims: 2, ...STREAM_POSTERIOR, changeThreshold: 0.5 });
    aging.observeAll(ratings(rng, [1.5, 0], 60));
    for (const e of ratings(rng, [-0.5, 1.5], 40)) aging.observe({ ...(e as Extract<Feedback, { type: "rating" }>), confidence: 0 });
    assert.equal(aging.changes, 0);
  });
});
