// A seeded mutation fuzzer over GGUF models and LoRA adapters: byte-level damage (bit flips, truncations, huge
// counts and lengths written over the header's length fields) and targeted mutations of a parsed file
// (hyper-parameters, tokenizer, tensor types, shapes, adapter alpha, non-finite tensor values), written back with
// the project's writer. Each case is one file on disk and a one-line description that reproduces it with its seed.
import { open, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { mulberry32 } from "../../src/core/random";
import { GgufFile, readGguf, readTensorBytes } from "../../src/core/gguf/reader";
import { GgmlType, GgufKv, GgufValueType, kv } from "../../src/core/gguf/types";
import { writeGguf, type RawTensorToWrite } from "../../src/core/gguf/writer";

export interface FuzzCase {
  file: string;
  kind: "model" | "adapter";
  mutation: string;
}

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, n: number) => Math.floor(r() * n);

/** Offsets of every u64 count or length in a GGUF header (tensor and key counts, string and array lengths, dims). */
function lengthFields(bytes: Buffer): number[] {
  const out: number[] = [];
  let p = 8;
  const u64 = () => {
    out.push(p);
    const v = Number(bytes.readBigUInt64LE(p));
    p += 8;
    return v;
  };
  const str = () => {
    const n = u64();
    p += n;
  };
  const SIZES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const value = (t: number) => {
    if (t === GgufValueType.STRING) str();
    else p += SIZES[t]!;
  };
  const nTensors = u64();
  const nKv = u64();
  for (let i = 0; i < nKv; i++) {
    str();
    const t = bytes.readUInt32LE(p);
    p += 4;
    if (t === GgufValueType.ARRAY) {
      const it = bytes.readUInt32LE(p);
      p += 4;
      const n = u64();
      for (let j = 0; j < n; j++) value(it);
    } else value(t);
  }
  for (let i = 0; i < nTensors; i++) {
    str();
    const nDims = bytes.readUInt32LE(p);
    p += 4;
    for (let d = 0; d < nDims; d++) u64();
    p += 4 + 8;
  }
  return out;
}

const HUGE = [2n ** 31n, 2n ** 31n - 1n, 1_500_000_000n, 2_500_000_000n, 2n ** 32n + 1n, 2n ** 63n, 2n ** 64n - 1n, 0n];

function byteMutation(r: Rand, bytes: Buffer, fields: number[]): { bytes: Buffer; mutation: string } {
  const out = Buffer.from(bytes);
  const headerEnd = Math.max(...fields) + 8;
  switch (int(r, 3)) {
    case 0: {
      const n = 1 + int(r, 8);
      const where: number[] = [];
      for (let i = 0; i < n; i++) {
        // Mostly in the header, where a flip changes how the rest is read.
        const at = r() < 0.8 ? int(r, headerEnd) : int(r, out.length);
        out[at] = out[at]! ^ (1 << int(r, 8));
        where.push(at);
      }
      return { bytes: out, mutation: `bit flips at ${where.join(",")}` };
    }
    case 1: {
      const at = r() < 0.7 ? int(r, headerEnd) : int(r, out.length);
      return { bytes: out.subarray(0, at), mutation: `truncated to ${at} bytes` };
    }
    default: {
      const at = pick(r, fields);
      const v = pick(r, HUGE);
      out.writeBigUInt64LE(v, at);
      return { bytes: out, mutation: `length field at ${at} set to ${v}` };
    }
  }
}

interface Parsed {
  metadata: GgufKv[];
  tensors: RawTensorToWrite[];
}

async function parse(file: GgufFile): Promise<Parsed> {
  const tensors: RawTensorToWrite[] = [];
  for (const t of file.tensors) tensors.push({ name: t.name, dims: [...t.dims], ggmlType: t.type, bytes: await readTensorBytes(file, t.name) });
  return { metadata: [...file.metadata.values()].filter((m) => m.key !== "general.alignment"), tensors };
}

const u32 = (key: string, value: number): GgufKv => ({ key, type: GgufValueType.UINT32, value });
/** Values that llama.cpp's loader has been seen to mishandle, in the types it might find them. */
const ODD_VALUES: ((key: string) => GgufKv)[] = [
  (k) => u32(k, 0),
  (k) => u32(k, 1),
  (k) => u32(k, 1000),
  (k) => u32(k, 0xffffffff),
  (k) => kv.i32(k, -1),
  (k) => kv.f32(k, NaN),
  (k) => kv.f32(k, -1),
  (k) => kv.f32(k, Infinity),
  (k) => kv.f32(k, 1e30),
  (k) => kv.str(k, "x"),
  (k) => kv.i32s(k, [1, 2, 3]),
  (k) => kv.f32s(k, []),
];

function setKey(p: Parsed, entry: GgufKv | null, key: string): void {
  const i = p.metadata.findIndex((m) => m.key === key);
  if (entry === null) {
    if (i >= 0) p.metadata.splice(i, 1);
  } else if (i >= 0) p.metadata[i] = entry;
  else p.metadata.push(entry);
}

/** Same-size retypes (bytes stay valid), the way a corrupted type field or a wrong converter would make them. */
const RETYPE: Partial<Record<GgmlType, GgmlType[]>> = {
  [GgmlType.F32]: [GgmlType.I32],
  [GgmlType.F16]: [GgmlType.I16, GgmlType.BF16],
  [GgmlType.BF16]: [GgmlType.I16, GgmlType.F16],
};

function modelMutation(r: Rand, p: Parsed, arch: string): string {
  const hyper = p.metadata.filter((m) => m.key.startsWith(`${arch}.`)).map((m) => m.key);
  const extraKeys = ["expert_count", "expert_used_count", "rope.scaling.type", "attention.key_length", "nextn_predict_layers"].map((k) => `${arch}.${k}`);
  switch (int(r, 6)) {
    case 0: {
      const key = pick(r, [...hyper, ...extraKeys]);
      if (r() < 0.15) {
        setKey(p, null, key);
        return `removed ${key}`;
      }
      const entry = pick(r, ODD_VALUES)(key);
      setKey(p, entry, key);
      return `${key} = ${JSON.stringify(entry.value)} (type ${GgufValueType[entry.type]})`;
    }
    case 1: {
      const value = pick(r, ["bert", "none", "no_vocab", "t5", "rwkv", "gpt2", "", "llama"]);
      setKey(p, kv.str("tokenizer.ggml.model", value), "tokenizer.ggml.model");
      return `tokenizer.ggml.model = ${JSON.stringify(value)}`;
    }
    case 2: {
      const tokens = p.metadata.find((m) => m.key === "tokenizer.ggml.tokens")!.value as string[];
      const how = int(r, 4);
      const next = how === 0 ? tokens.map(() => "") : how === 1 ? tokens.map((t, i) => (i % 2 ? tokens[i - 1]! : t)) : how === 2 ? tokens.slice(0, int(r, tokens.length)) : [...tokens, ...tokens.slice(0, 5).map((t) => `${t}+`)];
      setKey(p, kv.strs("tokenizer.ggml.tokens", next), "tokenizer.ggml.tokens");
      return `tokenizer.ggml.tokens: ${["all empty", "duplicated", `cut to ${next.length}`, "5 added"][how]}`;
    }
    case 3: {
      const candidates = p.tensors.filter((t) => RETYPE[t.ggmlType]);
      const t = pick(r, candidates);
      const to = pick(r, RETYPE[t.ggmlType]!);
      const from = t.ggmlType;
      t.ggmlType = to;
      return `tensor ${t.name} retyped ${GgmlType[from]} -> ${GgmlType[to]}`;
    }
    case 4: {
      const t = pick(r, p.tensors.filter((x) => x.dims.length === 2 && x.dims[0] !== x.dims[1]));
      t.dims.reverse();
      return `tensor ${t.name} dims swapped to [${t.dims.join(", ")}]`;
    }
    default: {
      const i = int(r, p.tensors.length);
      const [t] = p.tensors.splice(i, 1);
      return `tensor ${t!.name} removed`;
    }
  }
}

function adapterMutation(r: Rand, p: Parsed): string {
  switch (int(r, 4)) {
    case 0: {
      const entry = pick(r, [
        kv.str("adapter.lora.alpha", "16"),
        kv.f32("adapter.lora.alpha", NaN),
        kv.f32("adapter.lora.alpha", Infinity),
        kv.f32("adapter.lora.alpha", 1e30),
        kv.f32("adapter.lora.alpha", -4),
        kv.i32("adapter.lora.alpha", 4),
        kv.f32s("adapter.lora.alpha", [4]),
      ]);
      setKey(p, entry, "adapter.lora.alpha");
      return `adapter.lora.alpha = ${JSON.stringify(entry.value)} (type ${GgufValueType[entry.type]})`;
    }
    case 1: {
      const key = pick(r, ["general.type", "general.architecture", "adapter.type"]);
      const entry = pick(r, [u32(key, 1), kv.str(key, "model"), kv.str(key, "qwen2"), kv.strs(key, ["lora"])]);
      setKey(p, entry, key);
      return `${key} = ${JSON.stringify(entry.value)} (type ${GgufValueType[entry.type]})`;
    }
    case 2: {
      const t = pick(r, p.tensors.filter((x) => RETYPE[x.ggmlType]));
      const to = pick(r, RETYPE[t.ggmlType]!);
      const from = t.ggmlType;
      t.ggmlType = to;
      return `tensor ${t.name} retyped ${GgmlType[from]} -> ${GgmlType[to]}`;
    }
    default: {
      const t = pick(r, p.tensors.filter((x) => x.ggmlType === GgmlType.F32));
      const bytes = Buffer.from(t.bytes as Uint8Array);
      const v = pick(r, [NaN, Infinity, -Infinity]);
      const at = int(r, bytes.length / 4);
      bytes.writeFloatLE(v, at * 4);
      t.bytes = bytes;
      return `tensor ${t.name}[${at}] = ${v}`;
    }
  }
}

/**
 * The llama model relabelled qwen2: qwen2's loader creates the same tensors from the same keys (its q/k/v biases
 * are optional), so both checked architectures are fuzzed from one trained model.
 */
export async function asQwen2(llamaModel: string, out: string): Promise<string> {
  const parsed = await parse(await readGguf(llamaModel));
  const metadata = parsed.metadata
    .filter((m) => m.key !== "llama.rope.dimension_count" && m.key !== "llama.vocab_size")
    .map((m) => (m.key === "general.architecture" ? kv.str(m.key, "qwen2") : m.key.startsWith("llama.") ? { ...m, key: `qwen2.${m.key.slice("llama.".length)}` } : m));
  await writeGguf(out, { metadata, tensors: parsed.tensors });
  return out;
}

/** Writes case `index` of a run seeded `seed` into `dir`, from one of the base files. */
export async function makeCase(seed: number, index: number, bases: { models: string[]; adapter: string }, dir: string): Promise<FuzzCase> {
  const r = mulberry32((seed * 1_000_003 + index) >>> 0);
  const kind = r() < 0.7 ? "model" : "adapter";
  const base = kind === "model" ? pick(r, bases.models) : bases.adapter;
  const file = path.join(dir, `fuzz-${seed}-${index}-${kind}.gguf`);
  if (r() < 0.45) {
    const bytes = await readFile(base);
    const m = byteMutation(r, bytes, lengthFields(bytes));
    await writeFile(file, m.bytes);
    return { file, kind, mutation: `${path.basename(base)}: ${m.mutation}` };
  }
  const parsed = await parse(await readGguf(base));
  const arch = String(parsed.metadata.find((m) => m.key === "general.architecture")?.value);
  const mutation = kind === "model" ? modelMutation(r, parsed, arch) : adapterMutation(r, parsed);
  await writeGguf(file, { metadata: parsed.metadata, tensors: parsed.tensors });
  return { file, kind, mutation: `${path.basename(base)}: ${mutation}` };
}

/** A sparse file of `size` bytes whose header declares a first metadata key `keyLength` bytes long. */
export async function sparseHugeKeyFile(file: string, size: number, keyLength: bigint): Promise<void> {
  const h = Buffer.alloc(32);
  h.write("GGUF", 0, "latin1");
  h.writeUInt32LE(3, 4);
  h.writeBigUInt64LE(0n, 8);
  h.writeBigUInt64LE(1n, 16);
  h.writeBigUInt64LE(keyLength, 24);
  const fh = await open(file, "w");
  try {
    await fh.write(h, 0, h.length, 0);
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}
