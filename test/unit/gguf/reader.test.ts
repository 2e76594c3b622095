import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, truncate, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { f16ToF32, f32ToF16 } from "../../../src/core/gguf/codec";
import { gaussian } from "../../../src/core/gguf/random";
import { metaValue, readGguf, readTensor } from "../../../src/core/gguf/reader";
import { GgmlType, GgufValueType, kv } from "../../../src/core/gguf/types";
import { writeGguf } from "../../../src/core/gguf/writer";
import { rejectsNaming, tempDir } from "./helpers";

const STORIES = "/work/shared/models/stories260K.gguf";

describe("GGUF reader and writer", function () {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());
  const file = (name: string) => path.join(dir, name);

  /** A small valid file with one F32 tensor "w" [32, 2]. */
  async function smallFile(name: string): Promise<string> {
    const p = file(name);
    await writeGguf(p, { metadata: [kv.str("general.architecture", "llama")], tensors: [{ name: "w", dims: [32, 2], type: "f32", data: gaussian(1, 64, 1) }] });
    return p;
  }

  it("round-trips metadata of every type and F32 tensors exactly, with a custom alignment", async () => {
    const p = file("roundtrip.gguf");
    const metadata = [
      kv.str("general.architecture", "llama"),
      { key: "u8", type: GgufValueType.UINT8, value: 200 },
      { key: "i8", type: GgufValueType.INT8, value: -100 },
      { key: "u16", type: GgufValueType.UINT16, value: 60000 },
      { key: "i16", type: GgufValueType.INT16, value: -30000 },
      kv.u32("u32", 4000000000),
      kv.i32("i32", -2000000000),
      kv.f32("f32", 0.5),
      kv.bool("bool", true),
      { key: "u64", type: GgufValueType.UINT64, value: 2n ** 60n },
      { key: "i64", type: GgufValueType.INT64, value: -5 },
      { key: "f64", type: GgufValueType.FLOAT64, value: Math.PI },
      kv.strs("strs", ["a", "", "ünïcödé ▁"]),
      kv.f32s("f32s", [1.5, -2]),
      kv.i32s("i32s", [1, -1, 7]),
    ] as const;
    const a = gaussian(2, 3 * 5, 1);
    const b = gaussian(3, 7, 1);
    await writeGguf(p, {
      metadata: [...metadata],
      tensors: [
        { name: "a", dims: [3, 5], type: "f32", data: a },
        { name: "b", dims: [7], type: "f32", data: () => b },
      ],
      alignment: 64,
    });
    const f = await readGguf(p);
    assert.equal(f.version, 3);
    assert.equal(f.alignment, 64);
    assert.equal(f.dataOffset % 64, 0);
    for (const m of metadata) assert.deepEqual(f.metadata.get(m.key), m);
    assert.equal(metaValue(f, "general.alignment"), 64);
    assert.deepEqual(f.tensors.map((t) => [t.name, t.dims, t.type, (t.offset - f.dataOffset) % 64]), [["a", [3, 5], GgmlType.F32, 0], ["b", [7], GgmlType.F32, 0]]);
    assert.deepEqual(await readTensor(f, "a"), a);
    assert.deepEqual(await readTensor(f, "b"), b);
  });

  it("round-trips F16 exactly for representable values and within half-precision rounding otherwise", async () => {
    const exact = Float32Array.from([0, -0, 1, -2, 0.5, 1024, 65504, 2 ** -24, 0.099975586, -3.140625]);
    const noisy = gaussian(4, 64, 3);
    const p = file("f16.gguf");
    await writeGguf(p, { metadata: [], tensors: [{ name: "e", dims: [10], type: "f16", data: exact }, { name: "n", dims: [64], type: "f16", data: noisy }] });
    const f = await readGguf(p);
    assert.deepEqual(await readTensor(f, "e"), exact);
    const back = await readTensor(f, "n");
    noisy.forEach((v, i) => assert.ok(Math.abs(back[i]! - v) <= Math.abs(v) * 2 ** -11 + 1e-7, `${v} -> ${back[i]}`));
    // Round to nearest even at a tie: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
    assert.equal(f16ToF32(f32ToF16(1 + 2 ** -11)), 1);
    assert.equal(f16ToF32(f32ToF16(1 + 3 * 2 ** -11)), 1 + 2 ** -9);
    assert.equal(f16ToF32(f32ToF16(1e6)), Infinity);
  });

  it("round-trips Q8_0 within the quantization error of each block", async () => {
    const data = gaussian(5, 64 * 4, 1);
    const p = file("q8.gguf");
    await writeGguf(p, { metadata: [], tensors: [{ name: "q", dims: [64, 4], type: "q8_0", data }] });
    const f = await readGguf(p);
    assert.equal(f.tensors[0]!.byteLength, 8 * 34);
    const back = await readTensor(f, "q");
    for (let b = 0; b < data.length; b += 32) {
      const amax = Math.max(...data.subarray(b, b + 32).map(Math.abs));
      for (let i = b; i < b + 32; i++) assert.ok(Math.abs(back[i]! - data[i]!) <= (amax / 127) * 0.51, `element ${i}`);
    }
  });

  it("dequantizes hand-built Q4_0, Q8_0 and BF16 blocks", async () => {
    // Q4_0: d = 0.5 (f16 0x3800); byte j holds element j (low nibble j) and element j + 16 (high nibble 15 - j).
    const q4 = Buffer.alloc(18);
    q4.writeUInt16LE(0x3800, 0);
    for (let j = 0; j < 16; j++) q4[2 + j] = j | ((15 - j) << 4);
    // Q8_0: d = 0.25 (f16 0x3400), q_i = i - 16.
    const q8 = Buffer.alloc(34);
    q8.writeUInt16LE(0x3400, 0);
    for (let i = 0; i < 32; i++) q8.writeInt8(i - 16, 2 + i);
    const bf16 = Buffer.alloc(8);
    [0x3f80, 0xc040, 0x3e80, 0x0000].forEach((h, i) => bf16.writeUInt16LE(h, i * 2));
    const p = file("hand.gguf");
    await writeGguf(p, {
      metadata: [],
      tensors: [
        { name: "q4", dims: [32], ggmlType: GgmlType.Q4_0, bytes: q4 },
        { name: "q8", dims: [32], ggmlType: GgmlType.Q8_0, bytes: q8 },
        { name: "bf", dims: [4], ggmlType: GgmlType.BF16, bytes: bf16 },
      ],
    });
    const f = await readGguf(p);
    const q4Expected = [...Array.from({ length: 16 }, (_, j) => (j - 8) * 0.5), ...Array.from({ length: 16 }, (_, j) => (7 - j) * 0.5)];
    assert.deepEqual([...(await readTensor(f, "q4"))], q4Expected);
    assert.deepEqual([...(await readTensor(f, "q8"))], Array.from({ length: 32 }, (_, i) => (i - 16) * 0.25));
    assert.deepEqual([...(await readTensor(f, "bf"))], [1, -3, 0.25, 0]);
  });

  it("writes tensors of a big model one at a time (data given as functions)", async () => {
    const p = file("lazy.gguf");
    let live = 0;
    let maxLive = 0;
    const tensors = Array.from({ length: 4 }, (_, i) => ({
      name: `t${i}`,
      dims: [256],
      type: "f32" as const,
      data: () => {
        maxLive = Math.max(maxLive, ++live);
        queueMicrotask(() => live--);
        return new Float32Array(256).fill(i);
      },
    }));
    await writeGguf(p, { metadata: [], tensors });
    assert.equal(maxLive, 1);
    assert.deepEqual([...(await readTensor(await readGguf(p), "t3"))].slice(0, 2), [3, 3]);
  });

  describe("bad input: each error names the file and the problem", () => {
    it("missing file", () => rejectsNaming(readGguf(file("nope.gguf")), "nope.gguf", /file not found/));

    it("wrong magic", async () => {
      const p = file("magic.gguf");
      await writeFile(p, "abcdefgh");
      await rejectsNaming(readGguf(p), p, /not a GGUF file \(magic "abcd", expected "GGUF"\)/);
    });

    it("unsupported version", async () => {
      const p = await smallFile("version.gguf");
      const bytes = await readFile(p);
      bytes.writeUInt32LE(9, 4);
      await writeFile(p, bytes);
      await rejectsNaming(readGguf(p), p, /unsupported GGUF version 9/);
    });

    it("truncated header or metadata", async () => {
      const p = await smallFile("truncated.gguf");
      await truncate(p, 50);
      await rejectsNaming(readGguf(p), p, /truncated metadata/);
      await truncate(p, 10);
      await rejectsNaming(readGguf(p), p, /truncated header/);
    });

    it("tensor data past the end of the file", async () => {
      const p = await smallFile("short-data.gguf");
      const f = await readGguf(p);
      await truncate(p, f.dataOffset + 100);
      await rejectsNaming(readGguf(p), p, /tensor "w" data \(bytes \d+ to \d+\) extends past the end of the file/);
    });

    it("unknown tensor type", async () => {
      const p = await smallFile("type.gguf");
      const bytes = await readFile(p);
      // The tensor info is: name (u64 length + "w"), n_dims u32, 2 dims u64, then the type u32.
      const typeAt = bytes.indexOf(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, "w".charCodeAt(0)])) + 9 + 4 + 16;
      bytes.writeUInt32LE(99, typeAt);
      await writeFile(p, bytes);
      await rejectsNaming(readGguf(p), p, /tensor "w" has unknown type 99/);
    });

    it("a type that cannot be dequantized", async () => {
      const p = file("iq2xxs.gguf");
      await writeGguf(p, { metadata: [], tensors: [{ name: "k", dims: [256], ggmlType: GgmlType.IQ2_XXS, bytes: Buffer.alloc(66) }] });
      await rejectsNaming(readTensor(await readGguf(p), "k"), p, /tensor "k" is IQ2_XXS, which cannot be dequantized/);
    });
  });

  it("reads the trained stories260K model when present", async function () {
    if (!existsSync(STORIES)) {
      console.log(`      (skipped: ${STORIES} is absent)`);
      this.skip();
    }
    const f = await readGguf(STORIES);
    assert.equal(metaValue(f, "general.architecture"), "llama");
    assert.equal(metaValue(f, "llama.block_count"), 5);
    assert.equal((metaValue(f, "tokenizer.ggml.tokens") as string[]).length, 512);
    assert.equal(f.tensors.length, 48);
    const embd = f.tensors.find((t) => t.name === "token_embd.weight")!;
    assert.deepEqual(embd.dims, [64, 512]);
    const values = await readTensor(f, "token_embd.weight");
    assert.equal(values.length, 64 * 512);
    assert.ok(values.every(Number.isFinite) && values.some((v) => v !== 0));
  });
});
