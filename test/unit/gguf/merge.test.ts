import assert from "node:assert/strict";
import * as path from "node:path";
import type { Token } from "node-llama-cpp";
import { loraDelta, readLoraAdapter } from "../../../src/core/gguf/lora";
import { mergeGguf, writeSoupedAdapter } from "../../../src/core/gguf/merge";
import { gaussian } from "../../../src/core/random";
import { metaValue, readGguf, readTensor } from "../../../src/core/gguf/reader";
import { writeSyntheticAdapter, writeSyntheticModel } from "../../../src/core/gguf/synthetic";
import { byteTokenId } from "../../../src/core/gguf/synthetic-vocab";
import { kv } from "../../../src/core/gguf/types";
import { writeGguf } from "../../../src/core/gguf/writer";
import { tempDir } from "./helpers";

const SHAPES = { nEmbd: 32, nLayer: 1, nHead: 2, nFf: 64 };

/** A hand-made adapter: random pairs on `targets` ({name: [nIn, nOut]}), token_embd stored flipped as llama.cpp wants. */
async function writeAdapter(p: string, seed: number, rank: number, alpha: number, targets: Record<string, [number, number]>) {
  await writeGguf(p, {
    metadata: [kv.str("general.type", "adapter"), kv.str("general.architecture", "llama"), kv.str("adapter.type", "lora"), kv.f32("adapter.lora.alpha", alpha)],
    tensors: Object.entries(targets).flatMap(([name, [nIn, nOut]], i) => {
      const flipped = name === "token_embd.weight";
      return [
        { name: `${name}.lora_a`, dims: flipped ? [rank, nOut] : [nIn, rank], type: "f32" as const, data: gaussian(seed * 100 + i, (flipped ? nOut : nIn) * rank, 1) },
        { name: `${name}.lora_b`, dims: flipped ? [rank, nIn] : [rank, nOut], type: "f32" as const, data: gaussian(seed * 100 + 50 + i, (flipped ? nIn : nOut) * rank, 1) },
      ];
    }),
  });
}

function assertClose(actual: Float32Array, expected: ArrayLike<number>, tol: number, what: string) {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol * (1 + Math.abs(expected[i]!)), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe("GGUF merging", function () {
  let dir: string;
  let cleanup: () => Promise<void>;
  let basePath: string;
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    basePath = file("base.gguf");
    await writeSyntheticModel(basePath, { seed: 1, ...SHAPES });
  });
  after(() => cleanup());

  it("merges full models elementwise: theta_0 + sum_k w_k (theta_k - theta_0)", async () => {
    await writeSyntheticModel(file("e1.gguf"), { seed: 2, ...SHAPES });
    await writeSyntheticModel(file("e2.gguf"), { seed: 3, ...SHAPES });
    const out = file("merged.gguf");
    await mergeGguf({ base: basePath, experts: [{ path: file("e1.gguf"), weight: 0.7 }, { path: file("e2.gguf"), weight: -0.2 }], out, outType: "f32" });
    const [b, e1, e2, m] = await Promise.all([basePath, file("e1.gguf"), file("e2.gguf"), out].map(readGguf));
    assert.equal(metaValue(m, "general.file_type"), 0);
    assert.deepEqual(metaValue(m, "tokenizer.ggml.tokens"), metaValue(b, "tokenizer.ggml.tokens"));
    for (const t of b.tensors) {
      const [x0, x1, x2, got] = await Promise.all([b, e1, e2, m].map((f) => readTensor(f, t.name)));
      assertClose(got!, x0!.map((v, i) => v + 0.7 * (x1![i]! - v) - 0.2 * (x2![i]! - v)), 1e-6, t.name);
    }
  });

  it("writes merged matrices as q8_0 when asked, keeping norms F32", async () => {
    const out = file("merged-q8.gguf");
    await mergeGguf({ base: basePath, experts: [{ path: file("e1.gguf"), weight: 1 }], out, outType: "q8_0" });
    const m = await readGguf(out);
    assert.deepEqual(new Set(m.tensors.map((t) => (t.dims.length === 1 ? `1d:${t.type}` : `2d:${t.type}`))), new Set(["1d:0", "2d:8"]));
    assertClose(await readTensor(m, "output.weight"), await readTensor(await readGguf(file("e1.gguf")), "output.weight"), 0.02, "output");
  });

  it("merges adapters into the base: theta_0 + sum_k w_k alpha_k / r_k B_k A_k", async () => {
    const a1 = file("a1.gguf");
    await writeAdapter(a1, 1, 2, 4, { "blk.0.attn_q.weight": [32, 32], "token_embd.weight": [32, 263] });
    const out = file("merged-lora.gguf");
    await mergeGguf({ base: basePath, experts: [{ path: a1, weight: 0.5 }], out, outType: "f32" });
    const [b, m, a] = await Promise.all([readGguf(basePath), readGguf(out), readGguf(a1)]);
    // Computed here from the formula, independently of loraDelta.
    const [A, B] = await Promise.all([readTensor(a, "blk.0.attn_q.weight.lora_a"), readTensor(a, "blk.0.attn_q.weight.lora_b")]);
    const q0 = await readTensor(b, "blk.0.attn_q.weight");
    const expected = q0.map((v, idx) => {
      const [j, i] = [Math.floor(idx / 32), idx % 32];
      return v + 0.5 * (4 / 2) * (B[j * 2]! * A[i]! + B[j * 2 + 1]! * A[32 + i]!);
    });
    assertClose(await readTensor(m, "blk.0.attn_q.weight"), expected, 1e-5, "attn_q");
    const [Ae, Be] = await Promise.all([readTensor(a, "token_embd.weight.lora_a"), readTensor(a, "token_embd.weight.lora_b")]);
    const e0 = await readTensor(b, "token_embd.weight");
    const expectedEmbd = e0.map((v, idx) => {
      const [t, i] = [Math.floor(idx / 32), idx % 32];
      return v + 0.5 * 2 * (Be[i * 2]! * Ae[t * 2]! + Be[i * 2 + 1]! * Ae[t * 2 + 1]!);
    });
    assertClose(await readTensor(m, "token_embd.weight"), expectedEmbd, 1e-5, "token_embd");
    assert.deepEqual(await readTensor(m, "blk.0.attn_k.weight"), await readTensor(b, "blk.0.attn_k.weight"), "untouched tensors are copied");
  });

  it("a souped adapter equals the sum of the weighted deltas (mixed ranks, alphas and targets)", async () => {
    const [a1, a2, souped] = [file("s1.gguf"), file("s2.gguf"), file("souped.gguf")];
    await writeAdapter(a1, 2, 2, 4, { "blk.0.attn_q.weight": [32, 32], "output.weight": [32, 263], "token_embd.weight": [32, 263] });
    await writeAdapter(a2, 3, 3, 0, { "output.weight": [32, 263], "blk.0.ffn_down.weight": [64, 32] });
    await writeSoupedAdapter([{ path: a1, weight: 0.3 }, { path: a2, weight: -1.5 }], souped);
    const [s, l1, l2] = await Promise.all([souped, a1, a2].map((p) => readLoraAdapter(p)));
    assert.equal(s!.alpha, 5);
    assert.ok(s!.pairs.every((p) => p.rank === 5));
    for (const target of ["blk.0.attn_q.weight", "output.weight", "token_embd.weight", "blk.0.ffn_down.weight"]) {
      const has = (l: typeof l1) => l!.pairs.some((p) => p.target === target);
      const d1 = has(l1) ? await loraDelta(l1!, target) : undefined;
      const d2 = has(l2) ? await loraDelta(l2!, target) : undefined;
      const got = await loraDelta(s!, target);
      assertClose(got, got.map((_, i) => 0.3 * (d1?.[i] ?? 0) - 1.5 * (d2?.[i] ?? 0)), 1e-5, target);
    }
  });

  it("llama.cpp gives the same distribution for a souped adapter as for its adapters at their weights", async () => {
    const base = { seed: 1, ...SHAPES };
    const [b1, b2, souped] = [file("b1.gguf"), file("b2.gguf"), file("b-souped.gguf")];
    await writeSyntheticAdapter(b1, { seed: 1, base, boostTokens: [byteTokenId(0x61)] });
    await writeSyntheticAdapter(b2, { seed: 2, base, rank: 2, alpha: 8 });
    await writeSoupedAdapter([{ path: b1, weight: 0.6 }, { path: b2, weight: 1.3 }], souped);
    const nlc = await import("node-llama-cpp");
    const llama = await nlc.getLlama({ gpu: false, build: "never" });
    const model = await llama.loadModel({ modelPath: basePath });
    try {
      const next = async (adapters: { filePath: string; scale: number }[]) => {
        const context = await model.createContext({ contextSize: 64, threads: 1, lora: { adapters } });
        const tokens = [model.tokens.bos!, ...model.tokenize("abc")];
        const last = tokens.pop()!;
        const res = await context.getSequence().controlledEvaluate([...tokens, [last, { generateNext: { probabilities: true } }]]);
        await context.dispose();
        return res.at(-1)!.next!.probabilities!;
      };
      const separate = await next([{ filePath: b1, scale: 0.6 }, { filePath: b2, scale: 1.3 }]);
      const one = await next([{ filePath: souped, scale: 1 }]);
      const plain = await next([]);
      let diff = 0;
      let moved = 0;
      for (const [t, p] of separate) {
        diff = Math.max(diff, Math.abs(p - one.get(t as Token)!));
        moved = Math.max(moved, Math.abs(p - plain.get(t as Token)!));
      }
      assert.ok(diff < 1e-4, `max probability difference ${diff}`);
      assert.ok(moved > 1e-2, "the adapters should change the distribution");
    } finally {
      await model.dispose();
    }
  });
});
