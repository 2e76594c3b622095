import { open, rename, rm } from "node:fs/promises";
import { encodeTensor } from "./codec";
import {
  elementCount,
  GGML_BLOCK,
  GgmlType,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  GgufError,
  GgufKv,
  GgufScalar,
  GgufValueType,
  WRITABLE_TYPES,
  WritableTensorType,
} from "./types";

export interface TensorToWrite {
  name: string;
  /** ggml order: first = input size (row length). */
  dims: number[];
  type: WritableTensorType;
  /** Values, or a function producing them when the tensor is written, so that big models are never whole in memory. */
  data: Float32Array | (() => Float32Array | Promise<Float32Array>);
}

/** A tensor already in its on-disk encoding (copied through unchanged, e.g. a quantization we cannot write). */
export interface RawTensorToWrite {
  name: string;
  dims: number[];
  ggmlType: GgmlType;
  bytes: Uint8Array | (() => Promise<Uint8Array>);
}

export interface GgufToWrite {
  metadata: GgufKv[];
  tensors: (TensorToWrite | RawTensorToWrite)[];
  /** Tensor data alignment; other than 32 it is recorded as `general.alignment`. */
  alignment?: number;
}

/** Little-endian byte sink that grows as needed (only the header goes through it). */
class ByteSink {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  /** Grows the buffer if needed and returns it with the offset of n fresh bytes (the buffer may be a new one). */
  private reserve(n: number): [Buffer, number] {
    if (this.length + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return [this.buf, at];
  }
  u8(v: number) { const [b, at] = this.reserve(1); b.writeUInt8(v, at); }
  i8(v: number) { const [b, at] = this.reserve(1); b.writeInt8(v, at); }
  u16(v: number) { const [b, at] = this.reserve(2); b.writeUInt16LE(v, at); }
  i16(v: number) { const [b, at] = this.reserve(2); b.writeInt16LE(v, at); }
  u32(v: number) { const [b, at] = this.reserve(4); b.writeUInt32LE(v, at); }
  i32(v: number) { const [b, at] = this.reserve(4); b.writeInt32LE(v, at); }
  u64(v: number | bigint) { const [b, at] = this.reserve(8); b.writeBigUInt64LE(BigInt(v), at); }
  i64(v: number | bigint) { const [b, at] = this.reserve(8); b.writeBigInt64LE(BigInt(v), at); }
  f32(v: number) { const [b, at] = this.reserve(4); b.writeFloatLE(v, at); }
  f64(v: number) { const [b, at] = this.reserve(8); b.writeDoubleLE(v, at); }
  str(v: string) {
    const bytes = Buffer.from(v, "utf8");
    this.u64(bytes.length);
    const [b, at] = this.reserve(bytes.length);
    bytes.copy(b, at);
  }
  zeros(n: number) { const [b, at] = this.reserve(n); b.fill(0, at, at + n); }
  bytes(): Buffer { return this.buf.subarray(0, this.length); }
}

function writeScalar(sink: ByteSink, type: GgufValueType, v: GgufScalar): void {
  switch (type) {
    case GgufValueType.UINT8: return sink.u8(Number(v));
    case GgufValueType.INT8: return sink.i8(Number(v));
    case GgufValueType.UINT16: return sink.u16(Number(v));
    case GgufValueType.INT16: return sink.i16(Number(v));
    case GgufValueType.UINT32: return sink.u32(Number(v));
    case GgufValueType.INT32: return sink.i32(Number(v));
    case GgufValueType.FLOAT32: return sink.f32(Number(v));
    case GgufValueType.BOOL: return sink.u8(v ? 1 : 0);
    case GgufValueType.STRING: return sink.str(String(v));
    case GgufValueType.UINT64: return sink.u64(v as number | bigint);
    case GgufValueType.INT64: return sink.i64(v as number | bigint);
    case GgufValueType.FLOAT64: return sink.f64(Number(v));
    default: throw new RangeError(`unsupported GGUF value type ${type}`);
  }
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

const ggmlTypeOf = (t: TensorToWrite | RawTensorToWrite): GgmlType => ("ggmlType" in t ? t.ggmlType : WRITABLE_TYPES[t.type]);

function tensorBytes(t: TensorToWrite | RawTensorToWrite): number {
  const block = GGML_BLOCK[ggmlTypeOf(t)];
  return (elementCount(t.dims) / block.elements) * block.bytes;
}

/** The bytes of one tensor, encoded now (so only one tensor's worth is in memory at a time). */
async function encode(path: string, t: TensorToWrite | RawTensorToWrite): Promise<Uint8Array> {
  if ("ggmlType" in t) {
    const bytes = typeof t.bytes === "function" ? await t.bytes() : t.bytes;
    if (bytes.length !== tensorBytes(t)) {
      throw new GgufError(path, `tensor ${t.name} has ${bytes.length} bytes but ${GgmlType[t.ggmlType]} [${t.dims}] needs ${tensorBytes(t)}`);
    }
    return bytes;
  }
  const data = typeof t.data === "function" ? await t.data() : t.data;
  if (data.length !== elementCount(t.dims)) {
    throw new GgufError(path, `tensor ${t.name} has ${data.length} values but dims [${t.dims}] need ${elementCount(t.dims)}`);
  }
  return encodeTensor(data, WRITABLE_TYPES[t.type]);
}

/**
 * Writes a GGUF v3 file. The header is built in memory; tensor data is encoded and written one tensor at a time.
 * The file appears atomically (temp file + rename), so a crash never leaves a half-written model behind.
 */
export async function writeGguf(path: string, file: GgufToWrite): Promise<void> {
  const alignment = file.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  const metadata = [...file.metadata];
  if (alignment !== GGUF_DEFAULT_ALIGNMENT && !metadata.some((m) => m.key === "general.alignment")) {
    metadata.push({ key: "general.alignment", type: GgufValueType.UINT32, value: alignment });
  }
  for (const t of file.tensors) {
    const type = ggmlTypeOf(t);
    const block = GGML_BLOCK[type];
    if (t.dims[0]! % block.elements !== 0) {
      throw new GgufError(path, `tensor ${t.name}: ${GgmlType[type]} needs a row length that is a multiple of ${block.elements}, got ${t.dims[0]}`);
    }
  }

  const sink = new ByteSink();
  sink.u32(Buffer.from(GGUF_MAGIC).readUInt32LE());
  sink.u32(GGUF_VERSION);
  sink.u64(file.tensors.length);
  sink.u64(metadata.length);
  for (const m of metadata) {
    sink.str(m.key);
    sink.u32(m.type);
    if (m.type === GgufValueType.ARRAY) {
      sink.u32(m.itemType);
      sink.u64(m.value.length);
      for (const v of m.value) writeScalar(sink, m.itemType, v);
    } else {
      writeScalar(sink, m.type, m.value);
    }
  }
  let offset = 0;
  for (const t of file.tensors) {
    sink.str(t.name);
    sink.u32(t.dims.length);
    for (const d of t.dims) sink.u64(d);
    sink.u32(ggmlTypeOf(t));
    sink.u64(offset);
    offset = align(offset + tensorBytes(t), alignment);
  }
  sink.zeros(align(sink.length, alignment) - sink.length);

  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fh = await open(tmp, "w");
  try {
    await fh.write(sink.bytes());
    for (const t of file.tensors) {
      const bytes = await encode(path, t);
      await fh.write(bytes);
      const pad = align(bytes.length, alignment) - bytes.length;
      if (pad) await fh.write(Buffer.alloc(pad));
    }
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}
