import assert from "node:assert/strict";
import { decodeTensor, DECODABLE_TYPES, f32ToF16 } from "../../../src/core/gguf/codec";
import { gaussian } from "../../../src/core/gguf/random";
import { GGML_BLOCK, GgmlType } from "../../../src/core/gguf/types";
import { dequantRef, dequantRefBinary } from "../../support/llamaTools";

/** Byte offsets of each block type's half-precision scales (random bytes there could be NaN or infinity). */
const HALF_SCALES: Partial<Record<GgmlType, number[]>> = {
  [GgmlType.Q4_0]: [0],
  [GgmlType.Q4_1]: [0, 2],
  [GgmlType.Q5_0]: [0],
  [GgmlType.Q5_1]: [0, 2],
  [GgmlType.Q8_0]: [0],
  [GgmlType.Q2_K]: [80, 82],
  [GgmlType.Q3_K]: [108],
  [GgmlType.Q4_K]: [0, 2],
  [GgmlType.Q5_K]: [0, 2],
  [GgmlType.Q6_K]: [208],
  [GgmlType.IQ4_NL]: [0],
  [GgmlType.IQ4_XS]: [0],
};

/** `blocks` blocks of random bytes with finite random scales (Q8_K's scale is a float). */
function randomBlocks(type: GgmlType, blocks: number, seed: number): Buffer {
  const { bytes } = GGML_BLOCK[type];
  const noise = gaussian(seed, blocks * bytes, 1);
  const scales = gaussian(seed + 1, blocks * 2, 0.05);
  const buf = Buffer.alloc(blocks * bytes);
  for (let i = 0; i < buf.length; i++) buf[i] = Math.floor((noise[i]! * 1e6) % 256 + 256) % 256;
  for (let b = 0; b < blocks; b++) {
    if (type === GgmlType.Q8_K) buf.writeFloatLE(scales[2 * b]!, b * bytes);
    (HALF_SCALES[type] ?? []).forEach((at, k) => buf.writeUInt16LE(f32ToF16(scales[2 * b + k]!), b * bytes + at));
  }
  return buf;
}

const BLOCK_TYPES = [...DECODABLE_TYPES].filter((t) => GGML_BLOCK[t].elements > 1);

describe("dequantization against llama.cpp's dequantize_row_*", function () {
  this.timeout(180_000);
  let binary: string;

  before(function () {
    const ref = dequantRefBinary();
    if (!ref.path) {
      console.log(`      (skipped: ${ref.why})`);
      this.skip();
    }
    binary = ref.path!;
  });

  it("decodes every k-quant, legacy quant and IQ4 type", function () {
    for (const t of [GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q8_K]) assert.ok(DECODABLE_TYPES.has(t), GgmlType[t]);
    for (const t of [GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.IQ4_NL, GgmlType.IQ4_XS]) assert.ok(DECODABLE_TYPES.has(t), GgmlType[t]);
  });

  for (const type of BLOCK_TYPES) {
    it(`${GgmlType[type]}: random blocks decode bit for bit as ggml`, async function () {
      const blocks = 64;
      const count = blocks * GGML_BLOCK[type].elements;
      const bytes = randomBlocks(type, blocks, 1000 + type);
      const ours = decodeTensor(bytes, type, count);
      const theirs = await dequantRef(binary, type, count, bytes);
      const oursBits = new Uint32Array(ours.buffer);
      const theirBits = new Uint32Array(theirs.buffer);
      let nonzero = 0;
      for (let i = 0; i < count; i++) {
        if (oursBits[i] !== theirBits[i]) assert.fail(`${GgmlType[type]} value ${i}: ${ours[i]} but ggml gives ${theirs[i]}`);
        if (ours[i] !== 0) nonzero++;
      }
      // Random bytes with random scales must give mostly nonzero values; all zeros would mean nothing was compared.
      assert.ok(nonzero > count / 2, `${GgmlType[type]}: only ${nonzero} of ${count} values are nonzero`);
    });
  }

  it("rejects a byte count that does not hold the values", function () {
    assert.throws(() => decodeTensor(Buffer.alloc(100), GgmlType.Q6_K, 256), /Q6_K: 256 values need 210 bytes, got 100/);
    assert.throws(() => decodeTensor(Buffer.alloc(210), GgmlType.Q6_K, 100), /multiple of 256/);
  });
});
