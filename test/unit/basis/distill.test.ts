import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { evaluateHead, fitHeadDelta, refineHeadDelta, writeHeadAdapter, type DistillSample } from "../../../src/core/basis/distill";
import { matMul, symmetricEigen, topEigen, transpose } from "../../../src/core/basis/linalg";
import { loraDelta, readLoraAdapter } from "../../../src/core/gguf/lora";
import { gaussian } from "../../../src/core/random";

const D = 12;
const V = 40;

const logSoftmax = (x: Float64Array) => {
  const m = Math.max(...x);
  const lse = m + Math.log(x.reduce((s, v) => s + Math.exp(v - m), 0));
  return x.map((v) => v - lse);
};

/**
 * Positions of a toy log-linear model: reference logits W0 h, expert logits (W0 + dW) h + extra(h), with dW of the
 * given rank. `top` keeps only the union of both policies' top entries as candidates (with floors as the tail).
 */
function toySamples(n: number, seed: number, opts: { rank: number; nonlinear?: number; top?: number }): DistillSample[] {
  const w0 = gaussian(seed, V * D, 1 / Math.sqrt(D));
  const ua = gaussian(seed + 1, V * opts.rank, 1);
  const ub = gaussian(seed + 2, opts.rank * D, 1 / Math.sqrt(D));
  const hs = gaussian(seed + 3, n * D, 1);
  return Array.from({ length: n }, (_, i) => {
    const h = hs.slice(i * D, (i + 1) * D);
    h[0] = 2; // like the synthetic models' bias channel: one coordinate is constant
    const l0 = new Float64Array(V);
    const lk = new Float64Array(V);
    for (let a = 0; a < V; a++) {
      let base = 0;
      for (let x = 0; x < D; x++) base += w0[a * D + x] * h[x];
      let shift = 0;
      for (let q = 0; q < opts.rank; q++) {
        let bh = 0;
        for (let x = 0; x < D; x++) bh += ub[q * D + x] * h[x];
        shift += ua[a * opts.rank + q] * bh;
      }
      l0[a] = base;
      lk[a] = base + shift + (opts.nonlinear ?? 0) * Math.tanh(h[1] * h[2] + a / 7);
    }
    const p0 = logSoftmax(l0);
    const pk = logSoftmax(lk);
    let tokens = Array.from({ length: V }, (_, a) => a);
    if (opts.top) {
      const best = (l: Float64Array) => [...tokens].sort((x, y) => l[y] - l[x]).slice(0, opts.top);
      tokens = [...new Set([...best(p0), ...best(pk)])];
    }
    const floor = (p: Float64Array) => Math.log((1 - tokens.reduce((s, t) => s + Math.exp(p[t]), 0)) / (V - tokens.length) || 1e-12);
    return {
      h,
      tokens: Int32Array.from(tokens),
      logp: Float32Array.from([...tokens.map((t) => p0[t]), ...tokens.map((t) => pk[t])]),
      tail: Float32Array.from(tokens.length < V ? [floor(p0), floor(pk)] : [0, 0]),
    };
  });
}

describe("symmetric eigendecomposition", () => {
  it("reconstructs a random symmetric matrix, eigenvalues largest first", () => {
    const n = 7;
    const g = gaussian(5, n * n, 1);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = g[i * n + j] + g[j * n + i];
    const { values, vectors } = symmetricEigen(a, n);
    for (let i = 1; i < n; i++) assert.ok(values[i - 1] >= values[i]);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let e = 0; e < n; e++) s += vectors[i * n + e] * values[e] * vectors[j * n + e];
        assert.ok(Math.abs(s - a[i * n + j]) < 1e-10);
      }
    }
  });

  /** A random positive semi-definite n x n matrix of the given rank, and its product with a row-major n x k block. */
  function lowRank(n: number, rank: number, seed: number) {
    const f = gaussian(seed, n * rank, 1);
    const a = matMul(f, transpose(f, n, rank), n, rank, n);
    return { a, apply: (block: Float64Array, k: number) => matMul(a, block, n, n, k) };
  }

  it("subspace iteration finds the leading eigenpairs Jacobi finds, without forming the decomposition", () => {
    const n = 60;
    const { a, apply } = lowRank(n, 20, 9);
    const full = symmetricEigen(a, n);
    const top = topEigen(apply, n, 4);
    for (let j = 0; j < 4; j++) {
      assert.ok(Math.abs(top.values[j] - full.values[j]) <= 1e-6 * full.values[0], `value ${j}: ${top.values[j]} vs ${full.values[j]}`);
      let dot = 0;
      for (let i = 0; i < n; i++) dot += top.vectors[i * 4 + j] * full.vectors[i * n + j];
      assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-5, `vector ${j}: |cos| ${Math.abs(dot)}`);
    }
  });

  it("subspace iteration on an operator of lower rank than its block: zero eigenvalues past the rank, no NaN", () => {
    const n = 30;
    const { apply } = lowRank(n, 2, 3);
    const top = topEigen(apply, n, 4);
    assert.ok(top.values[1] > 0 && Math.abs(top.values[2]) < 1e-8 * top.values[0] && Math.abs(top.values[3]) < 1e-8 * top.values[0], `${[...top.values]}`);
    assert.ok(top.vectors.every(Number.isFinite));
    assert.deepEqual([...topEigen(() => new Float64Array(n * 12), n, 4).values], [0, 0, 0, 0], "the zero operator");
  });
});

describe("spectral distillation math", () => {
  it("recovers an exact low-rank head change from full-vocabulary log-probs (held-out KL ~ 0, top-1 100%)", () => {
    const all = toySamples(300, 1, { rank: 3 });
    const [train, held] = [all.slice(0, 200), all.slice(200)];
    const delta = fitHeadDelta(train, 1, V, { rank: 3, ridge: 1e-9 });
    const base = evaluateHead(null, held, 1);
    const fit = evaluateHead(delta, held, 1);
    assert.ok(base.kl > 0.05, `the expert differs from the reference (KL ${base.kl})`);
    assert.ok(fit.kl < 1e-8, `held-out KL ${fit.kl}`);
    assert.equal(fit.top1, 1);
  });

  it("a lower rank than the truth still captures most of the shift", () => {
    const all = toySamples(300, 2, { rank: 4 });
    const r1 = evaluateHead(fitHeadDelta(all.slice(0, 200), 1, V, { rank: 1 }), all.slice(200), 1).kl;
    const r4 = evaluateHead(fitHeadDelta(all.slice(0, 200), 1, V, { rank: 4 }), all.slice(200), 1).kl;
    const base = evaluateHead(null, all.slice(200), 1).kl;
    assert.ok(r4 < r1 && r1 < base, `${r4} < ${r1} < ${base}`);
  });

  it("works from the union of top-k candidates: the regression starts, KL refinement finishes", () => {
    const all = toySamples(400, 3, { rank: 2, top: 8 });
    assert.ok(all[0].tokens.length < V);
    const [train, held] = [all.slice(0, 300), all.slice(300)];
    const fit = fitHeadDelta(train, 1, V, { rank: 2 });
    const start = evaluateHead(fit, held, 1);
    // Floors stand in for the tail tokens' shifts, so the closed form is only approximate here.
    assert.ok(start.kl < evaluateHead(null, held, 1).kl / 5, JSON.stringify(start));
    const refined = evaluateHead(refineHeadDelta(fit, train, 1, { steps: 200 }), held, 1);
    assert.ok(refined.kl < 1e-3 && refined.top1 >= 0.95, JSON.stringify(refined));
  });

  it("gives a zero delta for an expert equal to the reference", () => {
    const all = toySamples(50, 4, { rank: 2 });
    const same = all.map((s) => ({ ...s, logp: Float32Array.from([...s.logp.subarray(0, V), ...s.logp.subarray(0, V)]) }));
    const delta = fitHeadDelta(same, 1, V, { rank: 2 });
    assert.ok(delta.a.every((v) => v === 0) || delta.b.every((v) => Math.abs(v) < 1e-6));
    assert.ok(evaluateHead(delta, same, 1).kl < 1e-10);
  });

  it("KL refinement lowers the KL of an expert that is not exactly a head change", () => {
    const all = toySamples(300, 5, { rank: 2, nonlinear: 1.5 });
    const [train, held] = [all.slice(0, 200), all.slice(200)];
    const fit = fitHeadDelta(train, 1, V, { rank: 4 });
    const refined = refineHeadDelta(fit, train, 1, { steps: 60 });
    const before = evaluateHead(fit, train, 1).kl;
    const after = evaluateHead(refined, train, 1).kl;
    assert.ok(after < before, `train KL ${before} -> ${after}`);
    assert.ok(evaluateHead(refined, held, 1).kl < evaluateHead(null, held, 1).kl);
  });

  it("writes a LoRA on output.weight whose delta is B A (alpha = rank)", async () => {
    const all = toySamples(100, 6, { rank: 2 });
    const delta = fitHeadDelta(all, 1, V, { rank: 2 });
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "distill-"));
    try {
      const file = path.join(dir, "head.gguf");
      await writeHeadAdapter(file, delta, { architecture: "llama", name: "toy" });
      const adapter = await readLoraAdapter(file);
      assert.equal(adapter.alpha, 2);
      assert.deepEqual(adapter.pairs.map((p) => [p.target, p.a.dims, p.b.dims]), [["output.weight", [D, 2], [2, V]]]);
      const dense = await loraDelta(adapter, "output.weight");
      for (const [t, x] of [[0, 0], [5, 3], [V - 1, D - 1]]) {
        const want = delta.b[t * 2] * delta.a[x] + delta.b[t * 2 + 1] * delta.a[D + x];
        assert.ok(Math.abs(dense[t * D + x] - want) < 1e-6);
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
