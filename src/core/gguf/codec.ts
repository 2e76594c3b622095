import { GGML_BLOCK, GgmlType } from "./types";

// Conversions between Float32Array and the bytes of a tensor type, following ggml's reference implementations
// (ggml-quants.c / ggml-impl.h), so that what we write dequantizes in llama.cpp to what we read back here.

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half from float with round-to-nearest-even (as ggml_compute_fp32_to_fp16 on CPUs without F16C). */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    // Subnormal half: shift the implicit 1 in, then round to nearest even.
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && (half & 1)) ? 1 : 0));
  }
  const rem = mant & 0x1fff;
  let h = sign | (e << 10) | (mant >>> 13);
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h += 1;
  return h;
}

let f16Table: Float32Array | undefined;

/** Float from IEEE half bits (table of all 65536 values, built on first use). */
export function f16ToF32(h: number): number {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) {
      const sign = i & 0x8000 ? -1 : 1;
      const exp = (i >>> 10) & 0x1f;
      const mant = i & 0x3ff;
      f16Table[i] =
        exp === 0 ? sign * mant * 2 ** -24 : exp === 0x1f ? (mant ? NaN : sign * Infinity) : sign * (1 + mant / 1024) * 2 ** (exp - 15);
    }
  }
  return f16Table[h & 0xffff]!;
}

function bf16ToF32(h: number): number {
  u32Scratch[0] = h << 16;
  return f32Scratch[0]!;
}

/** Encodes values as F32, F16 or Q8_0 bytes (Q8_0 needs a multiple of 32 values, as ggml rows do). */
export function encodeTensor(data: Float32Array, type: GgmlType.F32 | GgmlType.F16 | GgmlType.Q8_0): Buffer {
  const n = data.length;
  if (type === GgmlType.F32) {
    const out = Buffer.alloc(n * 4);
    out.set(new Uint8Array(data.buffer, data.byteOffset, n * 4));
    return out;
  }
  if (type === GgmlType.F16) {
    const out = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) out.writeUInt16LE(f32ToF16(data[i]!), i * 2);
    return out;
  }
  if (n % 32 !== 0) throw new RangeError(`Q8_0 needs a multiple of 32 values, got ${n}`);
  const out = Buffer.alloc((n / 32) * 34);
  for (let b = 0, o = 0; b < n; b += 32, o += 34) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(data[b + i]!));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    out.writeUInt16LE(f32ToF16(d), o);
    // ggml rounds with roundf: half away from zero.
    for (let i = 0; i < 32; i++) {
      const v = data[b + i]! * id;
      out.writeInt8(Math.sign(v) * Math.round(Math.abs(v)), o + 2 + i);
    }
  }
  return out;
}

/** Types `decodeTensor` understands. */
export const DECODABLE_TYPES: ReadonlySet<GgmlType> = new Set([
  GgmlType.F32,
  GgmlType.F16,
  GgmlType.BF16,
  GgmlType.Q8_0,
  GgmlType.Q4_0,
]);

/** Decodes `count` values of a tensor type; the caller checks the type with DECODABLE_TYPES first. */
export function decodeTensor(bytes: Uint8Array, type: GgmlType, count: number): Float32Array {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (type) {
    case GgmlType.F32:
      for (let i = 0; i < count; i++) out[i] = buf.readFloatLE(i * 4);
      return out;
    case GgmlType.F16:
      for (let i = 0; i < count; i++) out[i] = f16ToF32(buf.readUInt16LE(i * 2));
      return out;
    case GgmlType.BF16:
      for (let i = 0; i < count; i++) out[i] = bf16ToF32(buf.readUInt16LE(i * 2));
      return out;
    case GgmlType.Q8_0:
      for (let b = 0, o = 0; b < count; b += 32, o += GGML_BLOCK[type].bytes) {
        const d = f16ToF32(buf.readUInt16LE(o));
        for (let i = 0; i < 32; i++) out[b + i] = buf.readInt8(o + 2 + i) * d;
      }
      return out;
    case GgmlType.Q4_0:
      // Byte j holds element j in its low nibble and element j + 16 in its high nibble.
      for (let b = 0, o = 0; b < count; b += 32, o += GGML_BLOCK[type].bytes) {
        const d = f16ToF32(buf.readUInt16LE(o));
        for (let j = 0; j < 16; j++) {
          const q = buf[o + 2 + j]!;
          out[b + j] = ((q & 0x0f) - 8) * d;
          out[b + j + 16] = ((q >> 4) - 8) * d;
        }
      }
      return out;
    default:
      throw new RangeError(`cannot decode ggml type ${GgmlType[type] ?? type}`);
  }
}
