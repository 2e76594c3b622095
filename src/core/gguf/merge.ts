import { readCompatible } from "./compat";
import { findPair, isAdapterFile, LoraAdapter, loraDelta, loraFactor, LoraPair, readLoraAdapter } from "./lora";
import { GgufFile, GgufTensorInfo, readGguf, readTensor, readTensorBytes } from "./reader";
import { GgufError, GgufValueType, kv, WritableTensorType } from "./types";
import { RawTensorToWrite, TensorToWrite, writeGguf } from "./writer";

export interface WeightedPath {
  path: string;
  weight: number;
}

export interface MergeOptions {
  base: string;
  /** Full models of the base's shapes, LoRA adapters for it, or both. */
  experts: WeightedPath[];
  out: string;
  /** Type of the merged matrices (default f16); 1-D tensors stay F32. q8_0 falls back to f16 for rows not a multiple of 32. */
  outType?: WritableTensorType;
}

// llama_ftype values (llama.h) recorded in general.file_type.
const FILE_TYPE: Record<WritableTensorType, number> = { f32: 0, f16: 1, q8_0: 7 };

function matrixType(info: GgufTensorInfo, outType: WritableTensorType): WritableTensorType {
  if (info.dims.length === 1) return "f32";
  return outType === "q8_0" && info.dims[0]! % 32 !== 0 ? "f16" : outType;
}

/**
 * Task arithmetic: theta_0 + sum_k w_k (theta_k - theta_0) for full-model experts, plus w_k * alpha_k / r_k * B_k A_k
 * for adapter experts, written as a full model. Tensors no expert changes are copied byte for byte (any type).
 * Every expert is checked against the base first; tensors are read and written one at a time.
 */
export async function mergeGguf({ base: basePath, experts, out, outType = "f16" }: MergeOptions): Promise<void> {
  const base = await readGguf(basePath);
  if (isAdapterFile(base)) throw new GgufError(basePath, "is an adapter; the base of a merge must be a model");
  const models: { file: GgufFile; weight: number }[] = [];
  const adapters: { adapter: LoraAdapter; weight: number }[] = [];
  for (const { path, weight } of experts) {
    const file = await readCompatible(base, path);
    if (isAdapterFile(file)) adapters.push({ adapter: await readLoraAdapter(file), weight });
    else models.push({ file, weight });
  }

  const tensors = base.tensors.map((info): TensorToWrite | RawTensorToWrite => {
    const touching = adapters.filter(({ adapter }) => adapter.pairs.some((p) => p.target === info.name));
    if (models.length === 0 && touching.length === 0) {
      return { name: info.name, dims: info.dims, ggmlType: info.type, bytes: () => readTensorBytes(base, info.name) };
    }
    return {
      name: info.name,
      dims: info.dims,
      type: matrixType(info, outType),
      data: async () => {
        const theta0 = await readTensor(base, info.name);
        const merged = Float32Array.from(theta0);
        for (const { file, weight } of models) {
          const theta = await readTensor(file, info.name);
          for (let i = 0; i < merged.length; i++) merged[i]! += weight * (theta[i]! - theta0[i]!);
        }
        for (const { adapter, weight } of touching) {
          const delta = await loraDelta(adapter, info.name);
          for (let i = 0; i < merged.length; i++) merged[i]! += weight * delta[i]!;
        }
        return merged;
      },
    };
  });
  const metadata = [...base.metadata.values()].filter((m) => m.key !== "general.file_type");
  metadata.push({ key: "general.file_type", type: GgufValueType.UINT32, value: FILE_TYPE[outType] });
  await writeGguf(out, { metadata, tensors, alignment: base.alignment });
}

/** Rows of `rowLength` values from each part, one part after the other, then zero rows up to `rows`. */
function stackRows(parts: Float32Array[], rowLength: number, rows: number): Float32Array {
  const out = new Float32Array(rows * rowLength);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Row j of the result is [s_1 * row j of part 1, s_2 * row j of part 2, ..., zeros] with `width` values in all. */
function interleaveRows(parts: { data: Float32Array; rank: number; scale: number }[], rows: number, width: number): Float32Array {
  const out = new Float32Array(rows * width);
  let col = 0;
  for (const { data, rank, scale } of parts) {
    for (let j = 0; j < rows; j++) {
      for (let k = 0; k < rank; k++) out[j * width + col + k] = scale * data[j * rank + k]!;
    }
    col += rank;
  }
  return out;
}

/**
 * One adapter equal to the weighted sum of several: sum_k w_k f_k B_k A_k = [w_1 f_1 B_1 ... w_K f_K B_K] [A_1; ...; A_K]
 * (f_k = alpha_k / r_k). Every target gets the same rank R (zero-padded where an adapter lacks it) and alpha = R,
 * so that llama.cpp's factor is 1 and the file at scale 1 is the soup. One context with this adapter decodes at
 * nearly plain speed, where K adapters cost a pair of matrix products each.
 */
export async function writeSoupedAdapter(adapters: WeightedPath[], out: string): Promise<void> {
  if (adapters.length === 0) throw new GgufError(out, "a souped adapter needs at least one adapter");
  const loaded = await Promise.all(adapters.map(async ({ path, weight }) => ({ adapter: await readLoraAdapter(path), weight })));
  const first = loaded[0]!.adapter;
  const targets: LoraPair[] = [];
  for (const { adapter } of loaded) {
    if (adapter.architecture !== first.architecture) {
      throw new GgufError(adapter.file.path, `architecture is "${adapter.architecture}" but ${first.file.path} is "${first.architecture}"`);
    }
    for (const pair of adapter.pairs) {
      const seen = targets.find((t) => t.target === pair.target);
      if (!seen) targets.push(pair);
      else if (seen.baseSizes.some((s, i) => s.size !== pair.baseSizes[i]!.size)) {
        throw new GgufError(adapter.file.path, `${pair.target} has a shape that differs from the same target in ${first.file.path}`);
      }
    }
  }
  const rankOf = (target: string) => loaded.reduce((r, { adapter }) => r + (adapter.pairs.find((p) => p.target === target)?.rank ?? 0), 0);
  const rank = Math.max(...targets.map((t) => rankOf(t.target)));

  const tensors: TensorToWrite[] = targets.flatMap(({ target, flipped, a, b }) => {
    const parts = (which: "a" | "b") =>
      Promise.all(
        loaded
          .filter(({ adapter }) => adapter.pairs.some((p) => p.target === target))
          .map(async ({ adapter, weight }) => {
            const pair = findPair(adapter, target);
            const data = await readTensor(adapter.file, pair[which].name);
            return { data, rank: pair.rank, scale: which === "b" ? weight * loraFactor(adapter, pair) : 1 };
          }),
      );
    // Normal: lora_a [n_in, R] stacks the A_k rows, lora_b [R, n_out] interleaves the B_k columns.
    // Flipped (token_embd): lora_a [R, n_vocab] and lora_b [R, n_embd] both interleave; the scale goes on B.
    const nA = flipped ? a.dims[1]! : a.dims[0]!;
    const nB = b.dims[1]!;
    return [
      {
        name: a.name,
        dims: flipped ? [rank, nA] : [nA, rank],
        type: "f32",
        data: async () => {
          const ps = await parts("a");
          return flipped ? interleaveRows(ps, nA, rank) : stackRows(ps.map((p) => p.data), nA, rank);
        },
      },
      {
        name: b.name,
        dims: [rank, nB],
        type: "f32",
        data: async () => interleaveRows(await parts("b"), nB, rank),
      },
    ];
  });
  await writeGguf(out, {
    metadata: [
      kv.str("general.type", "adapter"),
      kv.str("general.architecture", first.architecture),
      kv.str("general.name", "souped"),
      kv.str("adapter.type", "lora"),
      kv.f32("adapter.lora.alpha", rank),
    ],
    tensors,
  });
}
