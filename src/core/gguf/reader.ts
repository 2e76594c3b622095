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
/** Reads happen in pieces of at most this size, so no length in a file can ask for a large buffer at once. */
const CHUNK = 1 << 20;

/**
 * What a GGUF header may declare. Every count and length in a file is also bounded by the bytes left (count times
 * the smallest size of one item), so a corrupted length fails with a message instead of a huge allocation.
 */
export const GGUF_LIMITS = {
  /** llama.cpp's loader looks keys up linearly, so its load time grows with the square of the key count. */
  metadataKeys: 4096,
  keyBytes: 1024,
  /** Chat templates, the longest strings real models carry, are tens of KB. */
  stringBytes: 1 << 20,
  /** Vocabularies and merge lists run to a few hundred thousand items. */
  arrayItems: 1 << 24,
  tensors: 1 << 16,
  /** ggml's GGML_MAX_NAME (64) counts the terminating NUL. */
  tensorNameBytes: 63,
  alignment: 1 << 16,
} as const;

/** Bytes of one metadata item on disk; a string takes at least its 8-byte length. */
const ITEM_BYTES: Readonly<Record<GgufValueType, number>> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
  [GgufValueType.STRING]: 8,
  [GgufValueType.ARRAY]: 12,
};

const bigToNumber = (v: bigint): number | bigint => (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v);

/**
 * Sequential little-endian reads over a file handle through a buffer of about CHUNK bytes. `need(n)` (async, only
 * when the buffer runs out) makes n bytes available; the typed readers after it are synchronous, so that arrays of
 * millions of items cost one await per chunk rather than one per item.
 */
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

  fail(problem: string): GgufError {
    return new GgufError(this.path, `${this.section}: ${problem}`);
  }

  get left(): number {
    return this.size - this.pos;
  }

  has(n: number): boolean {
    return this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.bufLen;
  }

  /** Makes n bytes at pos available (n is at most a capped length, so the buffer stays small). */
  async need(n: number): Promise<void> {
    if (n > this.left) {
      throw new GgufError(this.path, `truncated ${this.section}: needs byte ${this.pos + n} but the file has ${this.size} bytes`);
    }
    if (this.has(n)) return;
    const len = Math.min(Math.max(n, CHUNK), this.left);
    if (this.buf.length < len) this.buf = Buffer.alloc(len);
    const { bytesRead } = await this.fh.read(this.buf, 0, len, this.pos);
    if (bytesRead < n) throw new GgufError(this.path, `short read in ${this.section} at byte ${this.pos}`);
    this.bufStart = this.pos;
    this.bufLen = bytesRead;
  }

  /** Advances over n bytes made available by need() and returns their offset in the buffer. */
  private at(n: number): number {
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  /** One fixed-size scalar; the caller has made ITEM_BYTES[type] bytes available. */
  scalar(type: Exclude<GgufValueType, GgufValueType.STRING | GgufValueType.ARRAY>): GgufScalar {
    const b = this.buf;
    switch (type) {
      case GgufValueType.UINT8: return b.readUInt8(this.at(1));
      case GgufValueType.INT8: return b.readInt8(this.at(1));
      case GgufValueType.BOOL: return b.readUInt8(this.at(1)) !== 0;
      case GgufValueType.UINT16: return b.readUInt16LE(this.at(2));
      case GgufValueType.INT16: return b.readInt16LE(this.at(2));
      case GgufValueType.UINT32: return b.readUInt32LE(this.at(4));
      case GgufValueType.INT32: return b.readInt32LE(this.at(4));
      case GgufValueType.FLOAT32: return b.readFloatLE(this.at(4));
      case GgufValueType.UINT64: return bigToNumber(b.readBigUInt64LE(this.at(8)));
      case GgufValueType.INT64: return bigToNumber(b.readBigInt64LE(this.at(8)));
      case GgufValueType.FLOAT64: return b.readDoubleLE(this.at(8));
    }
  }

  async u32(): Promise<number> {
    if (!this.has(4)) await this.need(4);
    return this.buf.readUInt32LE(this.at(4));
  }

  async u64(): Promise<number | bigint> {
    if (!this.has(8)) await this.need(8);
    return bigToNumber(this.buf.readBigUInt64LE(this.at(8)));
  }

  /** A u64 count of items of at least `bytesEach` bytes: at most `cap`, and all of them must fit in the bytes left. */
  async count(what: string, bytesEach: number, cap: number): Promise<number> {
    const v = await this.u64();
    if (typeof v === "bigint" || v * bytesEach > this.left) {
      throw new GgufError(this.path, `truncated ${this.section}: ${what} ${v} runs past the end of the file (${this.size} bytes)`);
    }
    if (v > cap) throw this.fail(`${what} ${v} is more than the ${cap} this reader accepts`);
    return v;
  }

  /** A string of at most `cap` bytes. */
  async str(what: string, cap: number): Promise<string> {
    const n = await this.count(`${what} length`, 1, cap);
    if (!this.has(n)) await this.need(n);
    const at = this.at(n);
    return this.buf.toString("utf8", at, at + n);
  }
}

const isValueType = (t: number): t is GgufValueType => Number.isInteger(t) && t >= 0 && t <= GgufValueType.FLOAT64;

async function readValue(c: FileCursor, type: Exclude<GgufValueType, GgufValueType.ARRAY>): Promise<GgufScalar> {
  if (type === GgufValueType.STRING) return c.str("string", GGUF_LIMITS.stringBytes);
  if (!c.has(ITEM_BYTES[type])) await c.need(ITEM_BYTES[type]);
  return c.scalar(type);
}

/** An array's items, read chunk by chunk; strings are checked against the cap one by one. */
async function readArray(c: FileCursor, itemType: Exclude<GgufValueType, GgufValueType.ARRAY>): Promise<GgufScalar[]> {
  const n = await c.count("array length", ITEM_BYTES[itemType], GGUF_LIMITS.arrayItems);
  const value: GgufScalar[] = new Array(n);
  if (itemType === GgufValueType.STRING) {
    for (let i = 0; i < n; i++) value[i] = await readValue(c, itemType);
    return value;
  }
  const size = ITEM_BYTES[itemType];
  for (let i = 0; i < n; ) {
    const batch = Math.min(n - i, Math.floor(CHUNK / size));
    await c.need(batch * size);
    for (const end = i + batch; i < end; i++) value[i] = c.scalar(itemType);
  }
  return value;
}

async function readKv(c: FileCursor): Promise<GgufKv> {
  const key = await c.str("key", GGUF_LIMITS.keyBytes);
  c.section = `metadata "${key}"`;
  const type = await c.u32();
  if (!isValueType(type)) throw c.fail(`unknown value type ${type}`);
  if (type !== GgufValueType.ARRAY) return { key, type, value: await readValue(c, type) } as GgufKv;
  const itemType = await c.u32();
  if (!isValueType(itemType)) throw c.fail(`unknown array item type ${itemType}`);
  if (itemType === GgufValueType.ARRAY) throw c.fail("nested arrays are not supported");
  return { key, type, itemType, value: await readArray(c, itemType) };
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
    // A tensor info takes at least 32 bytes (name length, one dimension, type, offset), a metadata entry 13.
    const tensorCount = await c.count("tensor count", 32, GGUF_LIMITS.tensors);
    const kvCount = await c.count("metadata count", 13, GGUF_LIMITS.metadataKeys);
    const metadata = new Map<string, GgufKv>();
    for (let i = 0; i < kvCount; i++) {
      c.section = `metadata entry ${i}`;
      const entry = await readKv(c);
      if (metadata.has(entry.key)) throw new GgufError(path, `metadata key "${entry.key}" appears twice`);
      metadata.set(entry.key, entry);
    }
    const alignEntry = metadata.get("general.alignment");
    const alignment = alignEntry ? Number(alignEntry.value) : GGUF_DEFAULT_ALIGNMENT;
    // ggml requires a power of two.
    if (!Number.isInteger(alignment) || alignment < 8 || alignment > GGUF_LIMITS.alignment || (alignment & (alignment - 1)) !== 0) {
      throw new GgufError(path, `invalid general.alignment ${String(alignEntry?.value)} (a power of two from 8 to ${GGUF_LIMITS.alignment})`);
    }

    const raw: { name: string; dims: number[]; type: GgmlType; relative: number }[] = [];
    const names = new Set<string>();
    for (let i = 0; i < tensorCount; i++) {
      c.section = `tensor info ${i}`;
      const name = await c.str("tensor name", GGUF_LIMITS.tensorNameBytes);
      if (names.has(name)) throw new GgufError(path, `tensor "${name}" appears twice`);
      names.add(name);
      c.section = `tensor info "${name}"`;
      const nDims = await c.u32();
      if (nDims < 1 || nDims > MAX_DIMS) throw new GgufError(path, `tensor "${name}" has ${nDims} dimensions (1 to ${MAX_DIMS} allowed)`);
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) {
        const dim = await c.u64();
        if (typeof dim === "bigint") throw new GgufError(path, `tensor "${name}" has dimension ${dim}, too large`);
        dims.push(dim);
      }
      if (elementCount(dims) > Number.MAX_SAFE_INTEGER) throw new GgufError(path, `tensor "${name}" has shape [${dims.join(", ")}], too many elements`);
      const type = (await c.u32()) as GgmlType;
      const block = Object.prototype.hasOwnProperty.call(GGML_BLOCK, type) ? GGML_BLOCK[type] : undefined;
      if (!block) throw new GgufError(path, `tensor "${name}" has unknown type ${type}`);
      if (dims[0]! % block.elements !== 0) {
        throw new GgufError(path, `tensor "${name}" has row length ${dims[0]}, not a multiple of the ${GgmlType[type]} block (${block.elements})`);
      }
      const relative = await c.u64();
      if (typeof relative === "bigint") throw new GgufError(path, `tensor "${name}" has an offset past the end of the file`);
      if (relative % alignment !== 0) throw new GgufError(path, `tensor "${name}" has offset ${relative}, not a multiple of the alignment ${alignment}`);
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
    // One read call takes at most 2^31 - 1 bytes; larger ones abort Node.
    for (let done = 0; done < info.byteLength; ) {
      const { bytesRead } = await fh.read(bytes, done, Math.min(info.byteLength - done, 1 << 30), info.offset + done);
      if (bytesRead === 0) throw new GgufError(file.path, `tensor "${name}" is truncated (did the file change after it was read?)`);
      done += bytesRead;
    }
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
