import assert from "node:assert/strict";
import * as path from "node:path";
import { checkBasisCompatibility } from "../../../src/core/gguf/compat";
import { mergeGguf } from "../../../src/core/gguf/merge";
import { writeSyntheticAdapter, writeSyntheticModel } from "../../../src/core/gguf/synthetic";
import { kv } from "../../../src/core/gguf/types";
import { writeGguf } from "../../../src/core/gguf/writer";
import { rejectsNaming, tempDir } from "./helpers";

const BASE = { seed: 1, nEmbd: 64, nLayer: 1, nHead: 4, nFf: 64 };

describe("basis compatibility", function () {
  let dir: string;
  let cleanup: () => Promise<void>;
  let basePath: string;
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    basePath = file("base.gguf");
    await writeSyntheticModel(basePath, BASE);
  });
  after(() => cleanup());

  it("accepts same-shape models and adapters for the base", async () => {
    await writeSyntheticModel(file("m.gguf"), { ...BASE, seed: 2, weightType: "f16" });
    await writeSyntheticAdapter(file("head.gguf"), { seed: 1, base: BASE, boostTokens: [10] });
    await writeSyntheticAdapter(file("blocks.gguf"), { seed: 2, base: BASE, target: "attn_ffn" });
    const policies = ["m", "head", "blocks"].map((id) => ({ id, path: file(`${id}.gguf`) }));
    assert.deepEqual(await checkBasisCompatibility(basePath, policies), { ok: true });
  });

  it("names the policy, file, tensor and sizes of an adapter with the wrong shape", async () => {
    const p = file("typed.gguf");
    await writeSyntheticAdapter(p, { seed: 3, base: { ...BASE, nEmbd: 32, nHead: 2 }, target: "attn_ffn" });
    assert.deepEqual(await checkBasisCompatibility(basePath, [{ id: "ok", path: file("head.gguf") }, { id: "typed", path: p }]), {
      ok: false,
      message: 'adapter "typed" (typed.gguf): blk.0.attn_q.weight.lora_a has input size 32 but the base tensor has 64',
    });
  });

  it("rejects an adapter for another architecture", async () => {
    const p = file("qwen.gguf");
    await writeGguf(p, {
      metadata: [kv.str("general.type", "adapter"), kv.str("general.architecture", "qwen2"), kv.str("adapter.type", "lora"), kv.f32("adapter.lora.alpha", 1)],
      tensors: [],
    });
    const res = await checkBasisCompatibility(basePath, [{ id: "q", path: p }]);
    assert.deepEqual(res, { ok: false, message: 'adapter "q" (qwen.gguf): architecture is "qwen2" but the base is "llama"' });
  });

  it("rejects a model with another vocabulary or other shapes", async () => {
    await writeSyntheticModel(file("vocab.gguf"), { ...BASE, vocabSize: 300 });
    await writeSyntheticModel(file("wide.gguf"), { ...BASE, nFf: 128 });
    assert.deepEqual(await checkBasisCompatibility(basePath, [{ id: "v", path: file("vocab.gguf") }]), {
      ok: false,
      message: 'model "v" (vocab.gguf): vocabulary has 300 tokens but the base has 263',
    });
    assert.deepEqual(await checkBasisCompatibility(basePath, [{ id: "w", path: file("wide.gguf") }]), {
      ok: false,
      message: 'model "w" (wide.gguf): blk.0.ffn_gate.weight has shape [64, 128] but the base tensor has [64, 64]',
    });
  });

  it("reports an unreadable policy with its id and file", async () => {
    const res = await checkBasisCompatibility(basePath, [{ id: "gone", path: file("gone.gguf") }]);
    assert.equal(res.ok, false);
    assert.match((res as { message: string }).message, /^policy "gone": .*gone\.gguf: file not found$/);
  });

  it("merging refuses an adapter for another architecture or of the wrong shape, naming the file", async () => {
    const out = file("out.gguf");
    await rejectsNaming(mergeGguf({ base: basePath, experts: [{ path: file("qwen.gguf"), weight: 1 }], out }), "qwen.gguf", /architecture is "qwen2"/);
    await rejectsNaming(mergeGguf({ base: basePath, experts: [{ path: file("typed.gguf"), weight: 1 }], out }), "typed.gguf", /lora_a has input size 32 but the base tensor has 64/);
  });
});
