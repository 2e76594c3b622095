import * as assert from "node:assert/strict";
import {
  afterAnswer,
  afterComparison,
  decideComparison,
  DEFAULT_AB_SETTINGS,
  INITIAL_AB_STATE,
  type AbSettings,
  type AbState,
  type DimensionUncertainty,
} from "../../../src/core/chat/ab";

const settings: AbSettings = { ...DEFAULT_AB_SETTINGS, stdThreshold: 0.3, relevanceThreshold: 0.1, minAnswersBetween: 3, minMinutesBetween: 10 };
const uncertain: DimensionUncertainty[] = [
  { id: "concise", std: 0.2, relevance: 1.5 },
  { id: "tests-first", std: 0.8, relevance: 0.5 },
  { id: "comments", std: 0.9, relevance: 0.2 },
];
const MIN = 60_000;
const ready: AbState = { answersSinceLast: 3 };

describe("A/B scheduling", () => {
  it("offers a comparison on the uncertain dimension that matters most", () => {
    const d = decideComparison(uncertain, ready, settings, 0);
    assert.deepEqual(d.offer && d.dimension, "tests-first");
  });

  it("does not offer when no dimension is both uncertain and relevant", () => {
    const dims: DimensionUncertainty[] = [
      { id: "concise", std: 0.1, relevance: 2 }, // certain
      { id: "comments", std: 1.0, relevance: 0.05 }, // uncertain but irrelevant
      { id: "tests-first", std: 1.0, relevance: 1, locked: true }, // pinned by the user
      { id: "types", std: Number.NaN, relevance: 1 }, // a broken fit is no reason to ask
    ];
    const d = decideComparison(dims, ready, settings, 0);
    assert.equal(d.offer, false);
    assert.match(d.reason, /no relevant dimension/);
  });

  it("waits for minAnswersBetween answers, counted by afterAnswer", () => {
    let state: AbState = INITIAL_AB_STATE;
    const offers: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      offers.push(decideComparison(uncertain, state, settings, 0).offer);
      state = afterAnswer(state);
    }
    assert.deepEqual(offers, [false, false, false, true]);
  });

  it("waits minMinutesBetween after a comparison, with the injected clock", () => {
    const t0 = 1_700_000_000_000;
    let state = afterComparison(t0);
    for (let i = 0; i < 3; i++) state = afterAnswer(state);
    const early = decideComparison(uncertain, state, settings, t0 + 9 * MIN);
    assert.equal(early.offer, false);
    assert.match(early.reason, /9\.0 of 10 minutes/);
    assert.equal(decideComparison(uncertain, state, settings, t0 + 10 * MIN).offer, true);
  });

  it("needs both limits: enough time alone is not enough", () => {
    const t0 = 1_700_000_000_000;
    const state = afterAnswer(afterComparison(t0));
    assert.equal(decideComparison(uncertain, state, settings, t0 + 1000 * MIN).offer, false);
  });

  it("never offers when disabled", () => {
    assert.equal(decideComparison(uncertain, ready, { ...settings, enabled: false }, 0).offer, false);
  });
});
