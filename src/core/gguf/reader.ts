import { FileHandle, open } from "node:fs/promises";
import { decodeTensor, DECODABLE_TYPES } from "./codec";
import {
  elementCount,
  GGML_BLOCK,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgmlType,
  GgufError,
  GgufKv,
  GgufScalar,
  GgufValueType,
} from "./types";

export interface GgufTensorInfo {
  name: string;
  /** ggml order: first = input size (row length). */
  dims: number[];
  type: GgmlType;
  /** Absolute offset of the tensor's data in the file. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  path: string;
  version: number;
  /** Typed entries in file order (the types let a file be rewritten exactly). */
  metadata: Map<string, GgufKv>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute offset of the tensor data section. */
  dataOffset: number;
  fileSize: number;
}

const SUPPORTED_VERSIONS = [2, 3];
// ggml's GGML_MAX_DIMS.
const MAX_DIMS = 4;
const CHUNK = 1 << 20;

/** Sequential little-endian reads over a file handle, through a buffer that grows with the largest single read. */
class FileCursor {
  pos = 0;
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  private bufLen = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly size: number,
    /** What is being read, for the message of a truncated file. */
    public section = "header",
  ) {}

  /** Makes n bytes at pos available and returns their offset in the buffer. */
  private async take(n: number): Promise<number> {
    if (this.pos + n > this.size) {
      throw new GgufError(this.path, `truncated ${this.section}: needs byte ${this.pos + n} but the file has ${this.size} bytes`);
    }
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.bufLen) {
      const len = Math.min(Math.max(n, CHUNK), this.size - this.pos);
      if (this.buf.length < len) this.buf = Buffer.alloc(len);
      const { bytesRead } = await this.fh.read(this.buf, 0, len, this.pos);
      if (bytesRead < n) throw new GgufError(this.path, `short read in ${this.section} at byte ${this.pos}`);
      this.bufStart = this.pos;
      this.bufLen = bytesRead;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  async u8() { const at = await this.take(1); return this.buf.readUInt8(at); }
  async i8() { const at = await this.take(1); return this.buf.readInt8(at); }
  async u16() { const at = await this.take(2); return this.buf.readUInt16LE(at); }
  async i16() { const at = await this.take(2); return this.buf.readInt16LE(at); }
  async u32() { const at = await this.take(4); return this.buf.readUInt32LE(at); }
  async i32() { const at = await this.take(4); return this.buf.readInt32LE(at); }
  async f32() { const at = await this.take(4); return this.buf.readFloatLE(at); }
  async f64() { const at = await this.take(8); return this.buf.readDoubleLE(at); }
  async u64(): Promise<number | bigint> {
    const at = await this.take(8);
    const v = this.buf.readBigUInt64LE(at);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  async i64(): Promise<number | bigint> {
    const at = await this.take(8);
    const v = this.buf.readBigInt64LE(at);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
  }
  /** A u64 count or size, which must fit in what is left of the file. */
  async count(what: string, bytesEach = 1): Promise<number> {
    const v = await this.u64();
    if (typeof v === "bigint" || this.pos + v * bytesEach > this.size) {
      throw new GgufError(this.path, `truncated ${this.section}: ${what} ${v} runs past the end of the file (${this.size} bytes)`);
    }
    return v;
  }
  async str(): Promise<string> {
    const n = await this.count("string length");
    const at = await this.take(n);
    return this.buf.toString("utf8", at, at + n);
  }
}

async function readScalar(c: FileCursor, type: GgufValueType): Promise<GgufScalar> {
  switch (type) {
    case GgufValueType.UINT8: return c.u8();
    case GgufValueType.INT8: return c.i8();
    case GgufValueType.UINT16: return c.u16();
    case GgufValueType.INT16: return c.i16();
    case GgufValueType.UINT32: return c.u32();
    case GgufValueType.INT32: return c.i32();
    case GgufValueType.FLOAT32: return c.f32();
    case GgufValueType.BOOL: return (await c.u8()) !== 0;
    case GgufValueType.STRING: return c.str();
    case GgufValueType.UINT64: return c.u64();
    case GgufValueType.INT64: return c.i64();
    case GgufValueType.FLOAT64: return c.f64();
    default: throw new GgufError(c.path, `${c.section}: unknown value type ${type}`);
  }
}

async function readKv(c: FileCursor): Promise<GgufKv> {
  const key = await c.str();
  c.section = `metadata "${key}"`;
  const type = (await c.u32()) as GgufValueType;
  if (type !== GgufValueType.ARRAY) return { key, type, value: await readScalar(c, type) } as GgufKv;
  const itemType = (await c.u32()) as Exclude<GgufValueType, GgufValueType.ARRAY>;
  if (itemType === (GgufValueType.ARRAY as GgufValueType)) throw new GgufError(c.path, `metadata "${key}": nested arrays are not supported`);
  const n = await c.count("array length");
  const value: GgufScalar[] = new Array(n);
  for (let i = 0; i < n; i++) value[i] = await readScalar(c, itemType);
  return { key, type, itemType, value };
}

async function openOrFail(path: string): Promise<FileHandle> {
  try {
    return await open(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GgufError(path, code === "ENOENT" ? "file not found" : `cannot open (${code ?? (err as Error).message})`);
  }
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** Reads a GGUF file's header, metadata and tensor index (not the tensor data) with a few buffered reads. */
export async function readGguf(path: string): Promise<GgufFile> {
  const fh = await openOrFail(path);
  try {
    const fileSize = (await fh.stat()).size;
    const c = new FileCursor(fh, path, fileSize);
    if (fileSize < 4) throw new GgufError(path, `not a GGUF file (${fileSize} bytes)`);
    const magic = Buffer.alloc(4);
    await fh.read(magic, 0, 4, 0);
    if (magic.toString("latin1") !== GGUF_MAGIC) {
      throw new GgufError(path, `not a GGUF file (magic ${JSON.stringify(magic.toString("latin1"))}, expected "GGUF")`);
    }
    c.pos = 4;
    const version = await c.u32();
    if (!SUPPORTED_VERSIONS.includes(version)) {
      throw new GgufError(path, `unsupported GGUF version ${version} (supported: ${SUPPORTED_VERSIONS.join(", ")})`);
    }
    // Each tensor info and each metadata entry takes at least 8 bytes, which bounds the counts by the file size.
    const tensorCount = await c.count("tensor count", 8);
    const kvCount = await c.count("metadata count", 8);
    const metadata = new Map<string, GgufKv>();
    for (let i = 0; i < kvCount; i++) {
      c.section = `metadata entry ${i}`;
      const entry = await readKv(c);
      metadata.set(entry.key, entry);
    }
    const alignEntry = metadata.get("general.alignment");
    const alignment = alignEntry ? Number(alignEntry.value) : GGUF_DEFAULT_ALIGNMENT;
    if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
      throw new GgufError(path, `invalid general.alignment ${String(alignEntry?.value)}`);
    }

    const raw: { name: string; dims: number[]; type: GgmlType; relative: number }[] = [];
    for (let i = 0; i < tensorCount; i++) {
      c.section = `tensor info ${i}`;
      const name = await c.str();
      c.section = `tensor info "${name}"`;
      const nDims = await c.u32();
      if (nDims < 1 || nDims > MAX_DIMS) throw new GgufError(path, `tensor "${name}" has ${nDims} dimensions (1 to ${MAX_DIMS} allowed)`);
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) {
        const dim = await c.u64();
        if (typeof dim === "bigint") throw new GgufError(path, `tensor "${name}" has dimension ${dim}, too large`);
        dims.push(dim);
      }
      const type = (await c.u32()) as GgmlType;
      const block = GGML_BLOCK[type];
      if (!block) throw new GgufError(path, `tensor "${name}" has unknown type ${type}`);
      if (dims[0]! % block.elements !== 0) {
        throw new GgufError(path, `tensor "${name}" has row length ${dims[0]}, not a multiple of the ${GgmlType[type]} block (${block.elements})`);
      }
      const relative = await c.u64();
      if (typeof relative === "bigint") throw new GgufError(path, `tensor "${name}" has an offset past the end of the file`);
      raw.push({ name, dims, type, relative });
    }
    const dataOffset = align(c.pos, alignment);
    const tensors = raw.map(({ name, dims, type, relative }) => {
      const block = GGML_BLOCK[type];
      const byteLength = (elementCount(dims) / block.elements) * block.bytes;
      const offset = dataOffset + relative;
      if (offset + byteLength > fileSize) {
        throw new GgufError(path, `tensor "${name}" data (bytes ${offset} to ${offset + byteLength}) extends past the end of the file (${fileSize} bytes)`);
      }
      return { name, dims, type, offset, byteLength };
    });
    return { path, version, metadata, tensors, alignment, dataOffset, fileSize };
  } finally {
    await fh.close();
  }
}

/** A metadata value, or undefined when the key is absent. */
export function metaValue(file: GgufFile, key: string): GgufScalar | GgufScalar[] | undefined {
  return file.metadata.get(key)?.value;
}

export function findTensor(file: GgufFile, name: string): GgufTensorInfo {
  const info = file.tensors.find((t) => t.name === name);
  if (!info) throw new GgufError(file.path, `no tensor "${name}"`);
  return info;
}

/** A tensor's bytes as stored (any type). */
export async function readTensorBytes(file: GgufFile, name: string): Promise<Buffer> {
  const info = findTensor(file, name);
  const fh = await openOrFail(file.path);
  try {
    const bytes = Buffer.alloc(info.byteLength);
    const { bytesRead } = await fh.read(bytes, 0, info.byteLength, info.offset);
    if (bytesRead < info.byteLength) throw new GgufError(file.path, `tensor "${name}" is truncated (did the file change after it was read?)`);
    return bytes;
  } finally {
    await fh.close();
  }
}

/** A tensor's values as float32, dequantized from F32, F16, BF16, Q8_0 or Q4_0. */
export async function readTensor(file: GgufFile, name: string): Promise<Float32Array> {
  const info = findTensor(file, name);
  if (!DECODABLE_TYPES.has(info.type)) {
    const known = [...DECODABLE_TYPES].map((t) => GgmlType[t]).join(", ");
    throw new GgufError(file.path, `tensor "${name}" is ${GgmlType[info.type]}, which cannot be dequantized here (only ${known})`);
  }
  return decodeTensor(await readTensorBytes(file, name), info.type, elementCount(info.dims));
}
