// Validation of a user-chosen GGUF file before the engine loads it: a wrong file should fail here with a sentence,
// not inside llama.cpp with a crash. Reads only the header and the metadata keys up to general.architecture.
import { open, type FileHandle } from "node:fs/promises";
import * as path from "node:path";
import { GGUF_MAGIC, GgufValueType } from "../gguf/types";

export interface LocalModelCheck {
  ok: boolean;
  message: string;
  architecture?: string;
}

/** GGUF v1 used 32-bit counts and is no longer loaded by llama.cpp. */
const SUPPORTED_VERSIONS = [2, 3];
const FIXED_SIZE: Partial<Record<GgufValueType, number>> = {
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
};
/** Bounds what a corrupt length field can make us allocate. */
const MAX_STRING = 1 << 20;

export async function validateLocalModel(file: string): Promise<LocalModelCheck> {
  const name = path.basename(file);
  let fh: FileHandle;
  try {
    fh = await open(file, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, message: code === "ENOENT" ? `${file} does not exist` : `cannot open ${file} (${code ?? String(e)})` };
  }
  try {
    if (!(await fh.stat()).isFile()) return { ok: false, message: `${file} is not a file` };
    const r = new Cursor(fh);
    if ((await r.bytes(4)).toString("latin1") !== GGUF_MAGIC) {
      return { ok: false, message: `${name} is not a GGUF model (no GGUF magic at the start); choose a .gguf file` };
    }
    const version = await r.u32();
    if (!SUPPORTED_VERSIONS.includes(version)) {
      return { ok: false, message: `${name} is GGUF version ${version}; supported versions are ${SUPPORTED_VERSIONS.join(", ")} (re-convert it with a recent llama.cpp)` };
    }
    const tensors = await r.u64();
    const kvs = await r.u64();
    for (let i = 0; i < kvs; i++) {
      const key = await r.str();
      const type = (await r.u32()) as GgufValueType;
      if (key === "general.architecture" && type === GgufValueType.STRING) {
        const architecture = await r.str();
        return { ok: true, architecture, message: `${name}: GGUF v${version}, architecture ${architecture}, ${tensors} tensors` };
      }
      await r.skipValue(type);
    }
    return { ok: false, message: `${name} has no general.architecture in its metadata; it is not a model llama.cpp can load` };
  } catch (e) {
    return { ok: false, message: `${name} has a corrupt or truncated GGUF header (${(e as Error).message})` };
  } finally {
    await fh.close();
  }
}

/** Sequential little-endian reads through a small buffer, so skipping a large vocabulary array stays cheap. */
class Cursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  private pos = 0;

  constructor(private readonly fh: FileHandle) {}

  async bytes(n: number): Promise<Buffer> {
    if (this.pos + n > this.bufStart + this.buf.length) {
      const chunk = Buffer.alloc(Math.max(n, 64 * 1024));
      const { bytesRead } = await this.fh.read(chunk, 0, chunk.length, this.pos);
      if (bytesRead < n) throw new Error(`file ends at byte ${this.pos + bytesRead}, needed ${n} more from ${this.pos}`);
      this.buf = chunk.subarray(0, bytesRead);
      this.bufStart = this.pos;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }

  async u32(): Promise<number> {
    return (await this.bytes(4)).readUInt32LE();
  }

  async u64(): Promise<number> {
    const v = (await this.bytes(8)).readBigUInt64LE();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`count ${v} at byte ${this.pos - 8} is implausible`);
    return Number(v);
  }

  async str(): Promise<string> {
    const n = await this.u64();
    if (n > MAX_STRING) throw new Error(`string of ${n} bytes at byte ${this.pos - 8}`);
    return (await this.bytes(n)).toString("utf8");
  }

  async skipValue(type: GgufValueType): Promise<void> {
    const size = FIXED_SIZE[type];
    if (size !== undefined) this.pos += size;
    else if (type === GgufValueType.STRING) {
      const n = await this.u64(); // read before `this.pos +=`, which would capture pos ahead of the read
      this.pos += n;
    }
    else if (type === GgufValueType.ARRAY) {
      const itemType = (await this.u32()) as GgufValueType;
      const count = await this.u64();
      const itemSize = FIXED_SIZE[itemType];
      if (itemSize !== undefined) this.pos += itemSize * count;
      else for (let i = 0; i < count; i++) await this.skipValue(itemType);
    } else throw new Error(`unknown metadata type ${type} at byte ${this.pos - 4}`);
  }
}
