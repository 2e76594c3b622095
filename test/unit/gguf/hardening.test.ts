// Hostile and corrupted GGUF files: the reader bounds every length, and the checks turn away what llama.cpp's
// loader would crash on (each case below aborted or segfaulted llama.cpp before the checks existed).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { checkBasisCompatibility } from "../../../src/core/gguf/compat";
import { GGUF_LIMITS, readGguf } from "../../../src/core/gguf/reader";
import { writeSyntheticAdapter, writeSyntheticModel, type SyntheticModelOptions } from "../../../src/core/gguf/synthetic";
import { GgmlType, GgufKv, GgufValueType, kv } from "../../../src/core/gguf/types";
import { adapterProblem, modelProblem } from "../../../src/core/gguf/validate";
import { writeGguf } from "../../../src/core/gguf/writer";
import { readTensorBytes } from "../../../src/core/gguf/reader";
import { sparseHugeKeyFile } from "../../support/ggufFuzz";
import { rejectsNaming, tempDir } from "./helpers";

const BASE: SyntheticModelOptions = { seed: 5, nEmbd: 32, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 64 };

describe("GGUF hardening", function () {
  let dir: string;
  let cleanup: () => Promise<void>;
  let model: string;
  let adapter: string;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    model = path.join(dir, "base.gguf");
    adapter = path.join(dir, "lora.gguf");
    await writeSyntheticModel(model, BASE);
    await writeSyntheticAdapter(adapter, { seed: 6, base: BASE, target: "attn_ffn", rank: 2 });
  });
  after(() => cleanup());

  /** Rewrites `from` with its metadata and tensors changed. */
  async function mutate(from: string, name: string, change: (m: GgufKv[], t: { name: string; dims: number[]; ggmlType: GgmlType; bytes: Uint8Array }[]) => void): Promise<string> {
    const f = await readGguf(from);
    const metadata = [...f.metadata.values()];
    const tensors = [];
    for (const t of f.tensors) tensors.push({ name: t.name, dims: [...t.dims], ggmlType: t.type, bytes: await readTensorBytes(f, t.name) });
    change(metadata, tensors);
    const out = path.join(dir, name);
    await writeGguf(out, { metadata, tensors });
    return out;
  }
  const set = (m: GgufKv[], entry: GgufKv) => {
    const i = m.findIndex((e) => e.key === entry.key);
    if (i >= 0) m[i] = entry;
    else m.push(entry);
  };

  describe("reader bounds (these ran a Node assertion, a 1.5 GB allocation or a minute-long loop in the caller)", () => {
    it("a 2.5e9-byte key in a sparse 3 GiB file: a message, not a SIGABRT (checked in a child process first)", async () => {
      const file = path.join(dir, "huge-key.gguf");
      await sparseHugeKeyFile(file, 3 * 2 ** 30, 2_500_000_000n);
      // In a child, so that a regression aborts that process instead of the test run.
      const child = spawnSync(
        process.execPath,
        ["--import", "tsx", "-e", `require(${JSON.stringify(path.resolve(__dirname, "../../../src/core/gguf/reader.ts"))}).readGguf(${JSON.stringify(file)}).then(() => process.exit(3), (e) => { console.log(e.message); process.exit(0); })`],
        { encoding: "utf8", timeout: 60_000 },
      );
      assert.equal(child.signal, null, `the reader killed its process: ${child.stderr.slice(-400)}`);
      assert.equal(child.status, 0, child.stderr.slice(-400));
      assert.match(child.stdout, /huge-key\.gguf: metadata entry 0: key length 2500000000 is more than the 1024/);
    });

    it("a 1.5e9-byte string value and a 2^31-item array fail at once, naming the file", async () => {
      const file = path.join(dir, "huge-string.gguf");
      await sparseHugeKeyFile(file, 2 * 2 ** 30, 4n);
      // key "abcd", type STRING, length 1.5e9
      const { open } = await import("node:fs/promises");
      const fh = await open(file, "r+");
      const b = Buffer.alloc(20);
      b.write("abcd", 0, "latin1");
      b.writeUInt32LE(GgufValueType.STRING, 4);
      b.writeBigUInt64LE(1_500_000_000n, 8);
      await fh.write(b, 0, 16, 32);
      await fh.close();
      const t0 = Date.now();
      await rejectsNaming(readGguf(file), "huge-string.gguf", /metadata "abcd": string length 1500000000 is more than the 1048576/);
      const arr = path.join(dir, "huge-array.gguf");
      await sparseHugeKeyFile(arr, 2 ** 32 + 64, 4n);
      const fh2 = await open(arr, "r+");
      b.writeUInt32LE(GgufValueType.ARRAY, 4);
      b.writeUInt32LE(GgufValueType.UINT8, 8);
      b.writeBigUInt64LE(2n ** 31n, 12);
      await fh2.write(b, 0, 20, 32);
      await fh2.close();
      await rejectsNaming(readGguf(arr), "huge-array.gguf", /array length 2147483648 is more than the 16777216/);
      assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    });

    it("an array longer than the bytes left, counted at its item size", async () => {
      const file = path.join(dir, "short-array.gguf");
      await writeGguf(file, { metadata: [kv.f32s("xs", [1, 2, 3, 4])], tensors: [] });
      const { open } = await import("node:fs/promises");
      const fh = await open(file, "r+");
      // 4 floats take 16 bytes (and padding follows); claim 20: that fits at one byte an item, not at four.
      const at = 24 + 8 + 2 + 4 + 4;
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(20n, 0);
      await fh.write(b, 0, 8, at);
      await fh.close();
      await rejectsNaming(readGguf(file), "short-array.gguf", /array length 20 runs past the end of the file/);
    });

    it(`more than ${GGUF_LIMITS.metadataKeys} metadata keys (llama.cpp's load is quadratic in them)`, async () => {
      const file = path.join(dir, "many-keys.gguf");
      await writeGguf(file, { metadata: Array.from({ length: GGUF_LIMITS.metadataKeys + 1 }, (_, i) => kv.u32(`k${i}`, i)), tensors: [] });
      await rejectsNaming(readGguf(file), "many-keys.gguf", /metadata count 4097 is more than the 4096/);
    });
  });

  describe("model checks: what crashed llama.cpp is turned away with the key or tensor named", () => {
    const cases: [string, (m: GgufKv[], t: { name: string; dims: number[]; ggmlType: GgmlType }[]) => void, RegExp][] = [
      ["expert_count on a dense model", (m) => set(m, kv.u32("llama.expert_count", 8)), /llama\.expert_count is 8 but llama\.expert_used_count is 0/],
      ["head_count 0", (m) => set(m, kv.u32("llama.attention.head_count", 0)), /llama\.attention\.head_count is 0/],
      ["head_count_kv 0", (m) => set(m, kv.u32("llama.attention.head_count_kv", 0)), /llama\.attention\.head_count_kv is 0/],
      ["feed_forward_length 0", (m) => set(m, kv.u32("llama.feed_forward_length", 0)), /llama\.feed_forward_length is 0/],
      ["block_count 0", (m) => set(m, kv.u32("llama.block_count", 0)), /llama\.block_count is 0, outside 1 to 512/],
      ["block_count 1000", (m) => set(m, kv.u32("llama.block_count", 1000)), /llama\.block_count is 1000, outside 1 to 512/],
      ["NaN rms epsilon", (m) => set(m, kv.f32("llama.attention.layer_norm_rms_epsilon", NaN)), /layer_norm_rms_epsilon is NaN, not finite/],
      ["negative rms epsilon", (m) => set(m, kv.f32("llama.attention.layer_norm_rms_epsilon", -1e-5)), /layer_norm_rms_epsilon is -0\.0000099.*between 0 and 1/],
      ["bert tokenizer", (m) => set(m, kv.str("tokenizer.ggml.model", "bert")), /tokenizer\.ggml\.model is "bert"/],
      ["no tokenizer", (m) => set(m, kv.str("tokenizer.ggml.model", "none")), /tokenizer\.ggml\.model is "none"/],
      ["all tokens empty", (m) => set(m, kv.strs("tokenizer.ggml.tokens", (m.find((e) => e.key === "tokenizer.ggml.tokens")!.value as string[]).map(() => ""))), /empty tokens/],
      ["duplicated tokens", (m) => set(m, kv.strs("tokenizer.ggml.tokens", (m.find((e) => e.key === "tokenizer.ggml.tokens")!.value as string[]).map((t, i, a) => (i === 9 ? a[8]! : t)))), /twice/],
      ["an I32 weight", (_, t) => (t.find((x) => x.name === "blk.0.ffn_up.weight")!.ggmlType = GgmlType.I32), /blk\.0\.ffn_up\.weight is I32, which cannot be a weight/],
      ["a transposed weight", (_, t) => t.find((x) => x.name === "blk.1.ffn_down.weight")!.dims.reverse(), /blk\.1\.ffn_down\.weight has shape \[32, 64\], expected \[64, 32\]/],
      ["an unknown rope scaling", (m) => set(m, kv.str("llama.rope.scaling.type", "warp")), /rope\.scaling\.type is "warp"/],
      ["a string where a count belongs", (m) => set(m, kv.str("llama.embedding_length", "32")), /llama\.embedding_length is "32", not an integer/],
    ];
    it("the unchanged model passes", async () => assert.equal(modelProblem(await readGguf(model)), undefined));
    for (const [name, change, problem] of cases) {
      it(name, async () => {
        const file = await mutate(model, `${name.replace(/\W+/g, "-")}.gguf`, change as never);
        assert.match(modelProblem(await readGguf(file)) ?? "(accepted)", problem);
      });
    }
  });

  describe("adapter checks", () => {
    it("the unchanged adapter passes, and compat names a LoRA on a 1-D base tensor", async () => {
      assert.equal(await adapterProblem(await readGguf(adapter)), undefined);
      const file = await mutate(adapter, "norm-lora.gguf", (_, t) => {
        for (const x of t) x.name = x.name.replace(/^blk\.0\.attn_q\.weight/, "blk.0.attn_norm.weight");
      });
      const r = await checkBasisCompatibility(model, [{ id: "n", path: file }]);
      assert.equal(r.ok, false);
      assert.match((r as { message: string }).message, /norm-lora\.gguf\): adapts blk\.0\.attn_norm\.weight, which is a 1-D tensor \[32\] in the base; a LoRA adapts matrices only/);
    });

    const cases: [string, (m: GgufKv[], t: { name: string; dims: number[]; ggmlType: GgmlType; bytes: Uint8Array }[]) => void, RegExp][] = [
      ["a string alpha", (m) => set(m, kv.str("adapter.lora.alpha", "16")), /adapter\.lora\.alpha is "16", not a FLOAT32/],
      ["a NaN alpha", (m) => set(m, kv.f32("adapter.lora.alpha", NaN)), /adapter\.lora\.alpha is NaN/],
      ["an infinite alpha", (m) => set(m, kv.f32("adapter.lora.alpha", Infinity)), /adapter\.lora\.alpha is Infinity/],
      ["a huge alpha", (m) => set(m, kv.f32("adapter.lora.alpha", 1e30)), /adapter\.lora\.alpha is 1\.0\d*e\+30/],
      ["an I32 tensor", (_, t) => (t[0]!.ggmlType = GgmlType.I32), /is I32; LoRA tensors must be F32, F16, BF16, Q8_0/],
      ["a NaN value", (_, t) => {
        const b = Buffer.from(t[1]!.bytes);
        b.writeFloatLE(NaN, 4);
        t[1]!.bytes = b;
      }, /holds NaN at index 1/],
      ["a numeric adapter.type", (m) => set(m, kv.u32("adapter.type", 1)), /adapter\.type is 1, not a string/],
    ];
    for (const [name, change, problem] of cases) {
      it(name, async () => {
        const file = await mutate(adapter, `${name.replace(/\W+/g, "-")}-lora.gguf`, change);
        const r = await checkBasisCompatibility(model, [{ id: "x", path: file }]);
        assert.equal(r.ok, false, `${name} was accepted`);
        assert.match((r as { message: string }).message, new RegExp(`${path.basename(file).replace(/\W/g, "\\$&")}\\): .*${problem.source}`));
      });
    }
  });
});
