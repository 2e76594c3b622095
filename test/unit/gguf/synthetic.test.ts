import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import * as path from "node:path";
import type { LlamaModel, Token } from "node-llama-cpp";
import {
  BENCHMARK_MODEL,
  syntheticAdapterCache,
  syntheticModelCache,
  syntheticParameterCount,
  writeSyntheticAdapter,
  writeSyntheticModel,
} from "../../../src/core/gguf/synthetic";
import { byteTokenId, SPECIAL_TOKENS } from "../../../src/core/gguf/synthetic-vocab";
import { tempDir } from "./helpers";

const BASE = { seed: 7 };
const BOOSTED = [..."xyz"].map((c) => byteTokenId(c.charCodeAt(0)));
const PROMPTS = ["hello world", "function foo() {", "the quick brown fox", "}}}"];

describe("synthetic GGUF models (loaded by node-llama-cpp)", function () {
  let dir: string;
  let cleanup: () => Promise<void>;
  let modelPath: string;
  let model: LlamaModel;

  before(async function () {
    ({ dir, cleanup } = await tempDir());
    modelPath = await syntheticModelCache(dir, BASE);
    const nlc = await import("node-llama-cpp");
    const llama = await nlc.getLlama({ gpu: false, build: "never" });
    model = await llama.loadModel({ modelPath });
  });

  after(async () => {
    await model?.dispose();
    await cleanup();
  });

  /** Next-token distribution after BOS + prompt, with the given adapters. */
  async function nextToken(prompt: string, adapters: { filePath: string; scale: number }[] = []): Promise<Map<Token, number>> {
    const context = await model.createContext({ contextSize: 256, threads: 1, lora: { adapters } });
    try {
      const tokens = [model.tokens.bos!, ...model.tokenize(prompt)];
      const last = tokens.pop()!;
      const res = await context.getSequence().controlledEvaluate([...tokens, [last, { generateNext: { probabilities: true } }]]);
      return res.at(-1)!.next!.probabilities!;
    } finally {
      await context.dispose();
    }
  }

  it("has the special tokens, FIM tokens and a tokenizer that round-trips text", () => {
    assert.equal(model.tokens.bos, SPECIAL_TOKENS.bos);
    assert.equal(model.tokens.eos, SPECIAL_TOKENS.eos);
    assert.equal(model.tokens.infill.prefix, SPECIAL_TOKENS.fimPrefix);
    assert.equal(model.tokens.infill.suffix, SPECIAL_TOKENS.fimSuffix);
    assert.equal(model.tokens.infill.middle, SPECIAL_TOKENS.fimMiddle);
    assert.equal(model.tokens.shouldPrependBosToken, true);
    assert.deepEqual(model.getWarnings(), []);
    const text = "some test text here\n\tx = f(1);";
    assert.equal(model.detokenize(model.tokenize(text)), text);
  });

  it("gives varied, non-degenerate next-token distributions", async () => {
    const context = await model.createContext({ contextSize: 256, threads: 1 });
    const text = "the quick brown fox jumps over the lazy dog; function foo(x) { return x * 2; } // hello";
    const tokens = [model.tokens.bos!, ...model.tokenize(text)];
    const res = await context.getSequence().controlledEvaluate(tokens.map((t) => [t, { generateNext: { probabilities: true } }]));
    await context.dispose();
    const entropies: number[] = [];
    const argmaxes = new Set<Token>();
    for (const output of res) {
      const probs = [...output!.next!.probabilities!.entries()];
      entropies.push(-probs.reduce((s, [, p]) => (p > 0 ? s + p * Math.log(p) : s), 0));
      argmaxes.add(probs.reduce((a, b) => (b[1] > a[1] ? b : a))[0]);
    }
    entropies.sort((a, b) => a - b);
    const median = entropies[entropies.length >> 1]!;
    assert.ok(median > 1.5 && median < 5, `median entropy ${median} nats`);
    assert.ok(argmaxes.size > tokens.length / 4, `${argmaxes.size} distinct most likely tokens in ${tokens.length} contexts`);
  });

  it("a head boost adapter raises exactly the boosted tokens' logits in every context", async () => {
    const filePath = path.join(dir, "boost.gguf");
    await writeSyntheticAdapter(filePath, { seed: 1, base: BASE, boostTokens: BOOSTED, strength: 2 });
    for (const prompt of PROMPTS) {
      const p0 = await nextToken(prompt);
      const p1 = await nextToken(prompt, [{ filePath, scale: 1 }]);
      // Centred on an untouched token, the log-ratio is strength * h[0]: positive, equal for all boosted tokens.
      const shift = (t: Token) => Math.log(p1.get(t)! / p0.get(t)!) - Math.log(p1.get(100 as Token)! / p0.get(100 as Token)!);
      const shifts = BOOSTED.map((t) => shift(t as Token));
      assert.ok(shifts[0]! > 2, `boost ${shifts[0]} after ${JSON.stringify(prompt)}`);
      for (const s of shifts) assert.ok(Math.abs(s - shifts[0]!) < 1e-3);
      assert.ok(Math.abs(shift(200 as Token)) < 1e-3);
    }
  });

  it("a boost adapter at scale 1 makes the boosted bytes commoner in sampled text", async () => {
    const filePath = path.join(dir, "boost.gguf");
    const countBoosted = async (scale: number) => {
      const context = await model.createContext({ contextSize: 256, threads: 1, lora: { adapters: [{ filePath, scale }] } });
      let hits = 0;
      for (const [i, prompt] of PROMPTS.entries()) {
        const seq = context.getSequence();
        let n = 0;
        for await (const t of seq.evaluate([model.tokens.bos!, ...model.tokenize(prompt)], { temperature: 1, seed: i + 1 })) {
          if (BOOSTED.includes(t)) hits++;
          if (++n >= 48) break;
        }
        await seq.clearHistory();
        seq.dispose();
      }
      await context.dispose();
      return hits;
    };
    const [plain, boosted] = [await countBoosted(0), await countBoosted(1)];
    assert.ok(boosted > plain + 10, `boosted bytes: ${plain} at scale 0, ${boosted} at scale 1`);
  });

  it("a random attn_ffn adapter loads and changes the distribution", async () => {
    const filePath = await syntheticAdapterCache(dir, { seed: 2, base: BASE, target: "attn_ffn" });
    const p0 = await nextToken("hello");
    const p1 = await nextToken("hello", [{ filePath, scale: 1 }]);
    const tv = [...p0.keys()].reduce((s, t) => s + Math.abs(p0.get(t)! - (p1.get(t) ?? 0)), 0) / 2;
    assert.ok(tv > 0.01 && tv < 0.9, `total variation ${tv}`);
  });
});

describe("synthetic GGUF files", function () {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  it("are deterministic in their seed", async () => {
    const [a, b, c] = ["a", "b", "c"].map((n) => path.join(dir, `${n}.gguf`)) as [string, string, string];
    await writeSyntheticModel(a, { seed: 3, weightType: "f16", vocabSize: 1000 });
    await writeSyntheticModel(b, { seed: 3, weightType: "f16", vocabSize: 1000 });
    await writeSyntheticModel(c, { seed: 4, weightType: "f16", vocabSize: 1000 });
    assert.ok((await readFile(a)).equals(await readFile(b)));
    assert.ok(!(await readFile(a)).equals(await readFile(c)));
  });

  it("are cached by options and generated once", async () => {
    const first = await syntheticModelCache(dir, { seed: 5 });
    const mtime = (await stat(first)).mtimeMs;
    assert.equal(await syntheticModelCache(dir, { seed: 5, nEmbd: 64 }), first, "defaults are part of the key");
    assert.equal((await stat(first)).mtimeMs, mtime);
    assert.notEqual(await syntheticModelCache(dir, { seed: 6 }), first);
  });

  it("the benchmark preset has about 50M parameters and a 32k vocabulary", () => {
    const n = syntheticParameterCount(BENCHMARK_MODEL);
    assert.ok(n > 45e6 && n < 55e6, `${n} parameters`);
    assert.equal(BENCHMARK_MODEL.vocabSize, 32000);
  });
});
