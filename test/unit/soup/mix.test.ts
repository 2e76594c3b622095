import * as assert from "node:assert/strict";
import { logFloor, sampleToken, softmax, soupLogits } from "../../../src/core/soup/mix";
import { mulberry32 } from "../../../src/core/random";

const dist = (entries: [number, number][]) => new Map(entries);

describe("output souping math", () => {
  it("weight 0 gives the reference policy and weight 1 the expert (full distributions)", () => {
    const p0 = dist([[1, 0.5], [2, 0.3], [3, 0.2]]);
    const p1 = dist([[1, 0.1], [2, 0.1], [3, 0.8]]);
    const at = (w: number) => {
      const d = soupLogits([p0, p1], [w], 3);
      const probs = softmax(d.logits);
      return Object.fromEntries(d.tokens.map((t, i) => [t, probs[i]]));
    };
    assert.ok(Math.abs(at(0)[1] - 0.5) < 1e-12 && Math.abs(at(0)[3] - 0.2) < 1e-12);
    assert.ok(Math.abs(at(1)[3] - 0.8) < 1e-12);
    // The geometric soup at w = 0.5: p ∝ sqrt(p0 p1).
    const g = [0.5 * 0.1, 0.3 * 0.1, 0.2 * 0.8].map(Math.sqrt);
    const z = g.reduce((a, b) => a + b);
    assert.ok(Math.abs(at(0.5)[3] - g[2] / z) < 1e-12);
  });

  it("negative weights move away from the expert", () => {
    const p0 = dist([[1, 0.5], [2, 0.5]]);
    const p1 = dist([[1, 0.9], [2, 0.1]]);
    const d = soupLogits([p0, p1], [-1], 2);
    const probs = softmax(d.logits);
    assert.ok(probs[d.tokens.indexOf(1)] < 0.5);
  });

  it("top-k maps: a token missing from a policy gets a floor below what it reported", () => {
    const p = dist([[1, 0.6], [2, 0.3]]);
    const f = logFloor(p, 1000);
    assert.ok(f < Math.log(0.3) && Number.isFinite(f));
    assert.ok(Math.abs(f - Math.log(0.1 / 998)) < 1e-12, "left-over mass spread over missing tokens");
    const d = soupLogits([p, dist([[3, 1]])], [1], 1000);
    assert.deepEqual(new Set(d.tokens), new Set([1, 2, 3]), "mixing is over the union");
  });

  it("sampling: greedy at temperature 0, top-k/top-p/min-p restrict, seeds reproduce", () => {
    const d = { tokens: [10, 11, 12, 13], logits: Float64Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]) };
    assert.equal(sampleToken(d, { temperature: 0 }, Math.random), 10);
    const draw = (s: Parameters<typeof sampleToken>[1], seed: number) => {
      const r = mulberry32(seed);
      return new Set(Array.from({ length: 400 }, () => sampleToken(d, s, r)));
    };
    assert.deepEqual(draw({ temperature: 1, topK: 2 }, 1), new Set([10, 11]));
    assert.deepEqual(draw({ temperature: 1, topP: 0.79 }, 2), new Set([10, 11]));
    assert.deepEqual(draw({ temperature: 1, minP: 0.25 }, 3), new Set([10, 11, 12]));
    assert.equal(draw({ temperature: 1 }, 4).size, 4);
    // As llama.cpp: top-p on the untempered distribution, then the temperature. At temperature 0.5 the tempered
    // probabilities are 0.68/0.24/0.06/0.007: a nucleus of 0.85 on them would keep 2 tokens, on the untempered 3.
    assert.deepEqual(draw({ temperature: 0.5, topP: 0.85 }, 5), new Set([10, 11, 12]));
    // Top-p after top-k counts the mass of what top-k kept: 0.5/0.8 = 0.625 >= 0.6 keeps one token.
    assert.deepEqual(draw({ temperature: 1, topK: 2, topP: 0.6 }, 6), new Set([10]));
    const a = mulberry32(9);
    const b = mulberry32(9);
    assert.deepEqual(
      Array.from({ length: 20 }, () => sampleToken(d, { temperature: 1 }, a)),
      Array.from({ length: 20 }, () => sampleToken(d, { temperature: 1 }, b)),
    );
  });
});
