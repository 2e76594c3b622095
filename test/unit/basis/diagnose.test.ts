import assert from "node:assert/strict";
import { diagnoseBasis, whitening } from "../../../src/core/basis/diagnose";
import { gaussian } from "../../../src/core/random";

/** n responses of 10 tokens: independent features for a, b, c; d copies a (plus a hair of noise); z is zero. */
function calibration(n: number) {
  const g = gaussian(3, n * 4, 1);
  const features = Array.from({ length: n }, (_, i) => [g[4 * i], g[4 * i + 1], 0.5 * g[4 * i + 2], g[4 * i] + 1e-4 * g[4 * i + 3], 0]);
  return { ids: ["a", "b", "c", "d", "z"], features, tokens: features.map(() => 10) };
}

describe("basis diagnostics", () => {
  it("flags a duplicated dimension and a zero-effect one", () => {
    const { ids, features, tokens } = calibration(200);
    const d = diagnoseBasis(ids, features, tokens);
    assert.deepEqual(d.redundantPairs.map((p) => [p.a, p.b]), [["a", "d"]]);
    assert.ok(d.redundantPairs[0].correlation > 0.999);
    assert.deepEqual(d.weakDimensions, ["z"]);
    // Five dimensions, but only three independent directions carry variance.
    assert.ok(d.effectiveRank > 2.3 && d.effectiveRank < 3.2, `effective rank ${d.effectiveRank}`);
    assert.ok(d.eigenvalues[3] < 1e-6 && d.eigenvalues[4] < 1e-6);
    assert.equal(d.correlation[4 * 5 + 0], 0, "no correlation is claimed for a dimension without variance");
  });

  it("has effective rank K for independent equal-variance features", () => {
    const n = 4000;
    const g = gaussian(9, n * 3, 1);
    const features = Array.from({ length: n }, (_, i) => [g[3 * i], g[3 * i + 1], g[3 * i + 2]]);
    const d = diagnoseBasis(["x", "y", "w"], features, features.map(() => 5));
    assert.ok(Math.abs(d.effectiveRank - 3) < 0.05, String(d.effectiveRank));
    assert.equal(d.redundantPairs.length, 0);
    assert.equal(d.weakDimensions.length, 0);
  });

  it("whitening makes the covariance the identity on its support", () => {
    const cov = [4, 1.2, 0, 1.2, 1, 0, 0, 0, 0];
    const w = whitening(cov, 3);
    // W Sigma W' = diag(1, 1, 0).
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) s += w[i * 3 + a] * cov[a * 3 + b] * w[j * 3 + b];
        assert.ok(Math.abs(s - (i === j && i < 2 ? 1 : 0)) < 1e-9, `${i},${j}: ${s}`);
      }
    }
  });

  it("rejects malformed input", () => {
    assert.throws(() => diagnoseBasis(["a"], [[1]], [1]), /at least 2/);
    assert.throws(() => diagnoseBasis(["a", "b"], [[1], [2]], [1, 1]), /K values/);
  });
});
