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

/** The 16 levels of IQ4_NL and IQ4_XS (kvalues_iq4nl in ggml-common.h). */
const IQ4_LEVELS = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/** Decoders of one block: read the block at byte `o`, write its values from `out[y]`. */
type BlockDecoder = (buf: Buffer, o: number, out: Float32Array, y: number) => void;

// ggml computes in single precision: every product or sum it keeps in a float is rounded here with
// Math.fround, so the values are bit for bit those of ggml's dequantize_row_* (a double-precision result of
// one float operation rounds to the same float, so only intermediates need it).
const f = Math.fround;
const half = (buf: Buffer, o: number): number => f16ToF32(buf.readUInt16LE(o));

/** The 6-bit scale and min of sub-block `j` of a Q4_K / Q5_K block's 12 scale bytes at `s` (get_scale_min_k4). */
function scaleMinK4(buf: Buffer, s: number, j: number): [scale: number, min: number] {
  if (j < 4) return [buf[s + j]! & 63, buf[s + j + 4]! & 63];
  return [(buf[s + j + 4]! & 0xf) | ((buf[s + j - 4]! >> 6) << 4), (buf[s + j + 4]! >> 4) | ((buf[s + j]! >> 6) << 4)];
}

const BLOCK_DECODERS: Partial<Record<GgmlType, BlockDecoder>> = {
  [GgmlType.Q8_0]: (buf, o, out, y) => {
    const d = half(buf, o);
    for (let i = 0; i < 32; i++) out[y + i] = buf.readInt8(o + 2 + i) * d;
  },
  // Byte j of the 4-bit types holds element j in its low nibble and element j + 16 in its high nibble.
  [GgmlType.Q4_0]: (buf, o, out, y) => {
    const d = half(buf, o);
    for (let j = 0; j < 16; j++) {
      const q = buf[o + 2 + j]!;
      out[y + j] = ((q & 0xf) - 8) * d;
      out[y + j + 16] = ((q >> 4) - 8) * d;
    }
  },
  [GgmlType.Q4_1]: (buf, o, out, y) => {
    const d = half(buf, o);
    const m = half(buf, o + 2);
    for (let j = 0; j < 16; j++) {
      const q = buf[o + 4 + j]!;
      out[y + j] = f((q & 0xf) * d) + m;
      out[y + j + 16] = f((q >> 4) * d) + m;
    }
  },
  // The fifth bits of the 32 elements are one little-endian 32-bit word.
  [GgmlType.Q5_0]: (buf, o, out, y) => {
    const d = half(buf, o);
    const qh = buf.readUInt32LE(o + 2);
    for (let j = 0; j < 16; j++) {
      const q = buf[o + 6 + j]!;
      out[y + j] = (((q & 0xf) | (((qh >>> j) << 4) & 0x10)) - 16) * d;
      out[y + j + 16] = (((q >> 4) | ((qh >>> (j + 12)) & 0x10)) - 16) * d;
    }
  },
  [GgmlType.Q5_1]: (buf, o, out, y) => {
    const d = half(buf, o);
    const m = half(buf, o + 2);
    const qh = buf.readUInt32LE(o + 4);
    for (let j = 0; j < 16; j++) {
      const q = buf[o + 8 + j]!;
      out[y + j] = f(((q & 0xf) | (((qh >>> j) << 4) & 0x10)) * d) + m;
      out[y + j + 16] = f(((q >> 4) | ((qh >>> (j + 12)) & 0x10)) * d) + m;
    }
  },
  // Layout: scales[16] (4-bit scale | 4-bit min), qs[64], d, dmin.
  [GgmlType.Q2_K]: (buf, o, out, y) => {
    const d = half(buf, o + 80);
    const dmin = half(buf, o + 82);
    let is = 0;
    for (let n = 0; n < 2; n++) {
      const q = o + 16 + 32 * n;
      for (let shift = 0; shift < 8; shift += 2) {
        for (const half16 of [0, 16]) {
          const sc = buf[o + is++]!;
          const dl = f(d * (sc & 0xf));
          const ml = f(dmin * (sc >> 4));
          for (let l = 0; l < 16; l++) out[y++] = f(dl * ((buf[q + l + half16]! >> shift) & 3)) - ml;
        }
      }
    }
  },
  // Layout: hmask[32], qs[64], scales[12] (sixteen 6-bit scales), d.
  [GgmlType.Q3_K]: (buf, o, out, y) => {
    const d = half(buf, o + 108);
    const a0 = buf.readUInt32LE(o + 96);
    const a1 = buf.readUInt32LE(o + 100);
    const a2 = buf.readUInt32LE(o + 104);
    const k1 = 0x03030303;
    const k2 = 0x0f0f0f0f;
    const words = [
      (a0 & k2) | (((a2 >>> 0) & k1) << 4),
      (a1 & k2) | (((a2 >>> 2) & k1) << 4),
      ((a0 >>> 4) & k2) | (((a2 >>> 4) & k1) << 4),
      ((a1 >>> 4) & k2) | (((a2 >>> 6) & k1) << 4),
    ];
    const scale = (i: number): number => ((words[i >> 2]! >>> (8 * (i & 3))) & 0xff) - 32;
    let is = 0;
    let m = 1;
    for (let n = 0; n < 2; n++) {
      const q = o + 32 + 32 * n;
      for (let shift = 0; shift < 8; shift += 2, m <<= 1) {
        for (const half16 of [0, 16]) {
          const dl = f(d * scale(is++));
          for (let l = 0; l < 16; l++) {
            const hi = buf[o + l + half16]! & m ? 0 : 4;
            out[y++] = dl * (((buf[q + l + half16]! >> shift) & 3) - hi);
          }
        }
      }
    }
  },
  // Layout: d, dmin, scales[12], qs[128]; 64 elements per 32 bytes: low nibbles, then high nibbles.
  [GgmlType.Q4_K]: (buf, o, out, y) => {
    const d = half(buf, o);
    const dmin = half(buf, o + 2);
    for (let j = 0, is = 0; j < 4; j++, is += 2) {
      const q = o + 16 + 32 * j;
      const [s1, m1] = scaleMinK4(buf, o + 4, is);
      const [s2, m2] = scaleMinK4(buf, o + 4, is + 1);
      const d1 = f(d * s1), n1 = f(dmin * m1), d2 = f(d * s2), n2 = f(dmin * m2);
      for (let l = 0; l < 32; l++) out[y++] = f(d1 * (buf[q + l]! & 0xf)) - n1;
      for (let l = 0; l < 32; l++) out[y++] = f(d2 * (buf[q + l]! >> 4)) - n2;
    }
  },
  // Layout: d, dmin, scales[12], qh[32], qs[128]; as Q4_K with a fifth bit from qh.
  [GgmlType.Q5_K]: (buf, o, out, y) => {
    const d = half(buf, o);
    const dmin = half(buf, o + 2);
    for (let j = 0, is = 0, u1 = 1, u2 = 2; j < 4; j++, is += 2, u1 <<= 2, u2 <<= 2) {
      const q = o + 48 + 32 * j;
      const [s1, m1] = scaleMinK4(buf, o + 4, is);
      const [s2, m2] = scaleMinK4(buf, o + 4, is + 1);
      const d1 = f(d * s1), n1 = f(dmin * m1), d2 = f(d * s2), n2 = f(dmin * m2);
      for (let l = 0; l < 32; l++) out[y++] = f(d1 * ((buf[q + l]! & 0xf) + (buf[o + 16 + l]! & u1 ? 16 : 0))) - n1;
      for (let l = 0; l < 32; l++) out[y++] = f(d2 * ((buf[q + l]! >> 4) + (buf[o + 16 + l]! & u2 ? 16 : 0))) - n2;
    }
  },
  // Layout: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d.
  [GgmlType.Q6_K]: (buf, o, out, y) => {
    const d = half(buf, o + 208);
    for (let n = 0; n < 2; n++, y += 128) {
      const ql = o + 64 * n;
      const qh = o + 128 + 32 * n;
      const sc = o + 192 + 8 * n;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = buf[qh + l]!;
        const q1 = ((buf[ql + l]! & 0xf) | (((h >> 0) & 3) << 4)) - 32;
        const q2 = ((buf[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((buf[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((buf[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = f(d * buf.readInt8(sc + is)) * q1;
        out[y + l + 32] = f(d * buf.readInt8(sc + is + 2)) * q2;
        out[y + l + 64] = f(d * buf.readInt8(sc + is + 4)) * q3;
        out[y + l + 96] = f(d * buf.readInt8(sc + is + 6)) * q4;
      }
    }
  },
  // Layout: d (a float, not a half), qs[256] (int8), bsums[16] (unused for values).
  [GgmlType.Q8_K]: (buf, o, out, y) => {
    const d = buf.readFloatLE(o);
    for (let j = 0; j < 256; j++) out[y + j] = d * buf.readInt8(o + 4 + j);
  },
  [GgmlType.IQ4_NL]: (buf, o, out, y) => {
    const d = half(buf, o);
    for (let j = 0; j < 16; j++) {
      const q = buf[o + 2 + j]!;
      out[y + j] = d * IQ4_LEVELS[q & 0xf]!;
      out[y + j + 16] = d * IQ4_LEVELS[q >> 4]!;
    }
  },
  // Layout: d, scales_h (2 high bits per sub-block), scales_l[4] (4 low bits each), qs[128].
  [GgmlType.IQ4_XS]: (buf, o, out, y) => {
    const d = half(buf, o);
    const scalesH = buf.readUInt16LE(o + 2);
    for (let ib = 0; ib < 8; ib++, y += 32) {
      const ls = ((buf[o + 4 + (ib >> 1)]! >> (4 * (ib & 1))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl = f(d * (ls - 32));
      const qs = o + 8 + 16 * ib;
      for (let j = 0; j < 16; j++) {
        const q = buf[qs + j]!;
        out[y + j] = dl * IQ4_LEVELS[q & 0xf]!;
        out[y + j + 16] = dl * IQ4_LEVELS[q >> 4]!;
      }
    }
  },
};

/** Types `decodeTensor` understands. */
export const DECODABLE_TYPES: ReadonlySet<GgmlType> = new Set([
  GgmlType.F32,
  GgmlType.F16,
  GgmlType.BF16,
  ...(Object.keys(BLOCK_DECODERS).map(Number) as GgmlType[]),
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
  }
  const block = BLOCK_DECODERS[type];
  if (!block) throw new RangeError(`cannot decode ggml type ${GgmlType[type] ?? type}`);
  const { elements, bytes: size } = GGML_BLOCK[type];
  if (count % elements !== 0) throw new RangeError(`${GgmlType[type]} needs a multiple of ${elements} values, got ${count}`);
  if (buf.length < (count / elements) * size) {
    throw new RangeError(`${GgmlType[type]}: ${count} values need ${(count / elements) * size} bytes, got ${buf.length}`);
  }
  for (let y = 0, o = 0; y < count; y += elements, o += size) block(buf, o, out, y);
  return out;
}
