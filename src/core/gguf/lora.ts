import { GgufFile, GgufTensorInfo, metaValue, readGguf, readTensor } from "./reader";
import { GgufError } from "./types";

/** One adapted base tensor: its lora_a / lora_b pair. */
export interface LoraPair {
  /** The base tensor's name, e.g. "blk.0.attn_q.weight". */
  target: string;
  a: GgufTensorInfo;
  b: GgufTensorInfo;
  rank: number;
  /**
   * token_embd is applied as a row lookup, so llama.cpp stores it flipped: lora_a [r, n_vocab], lora_b [r, n_embd]
   * (llm_build_inp_embd); every other target is lora_a [n_in, r], lora_b [r, n_out].
   */
  flipped: boolean;
  /** The sizes each pair fixes on its base tensor (ggml dims 0 and 1), for compatibility checks. */
  baseSizes: { tensor: string; what: string; size: number; baseDim: 0 | 1 }[];
}

export interface LoraAdapter {
  file: GgufFile;
  architecture: string;
  /** adapter.lora.alpha; 0 means no alpha / rank factor (as in llama.cpp). */
  alpha: number;
  pairs: LoraPair[];
}

export const isAdapterFile = (file: GgufFile): boolean => metaValue(file, "general.type") === "adapter";

/** Reads and validates a LoRA adapter's metadata and tensor pairs (not its data). */
export async function readLoraAdapter(pathOrFile: string | GgufFile): Promise<LoraAdapter> {
  const file = typeof pathOrFile === "string" ? await readGguf(pathOrFile) : pathOrFile;
  const fail = (problem: string) => new GgufError(file.path, problem);
  if (!isAdapterFile(file)) throw fail(`not an adapter (general.type is ${JSON.stringify(metaValue(file, "general.type") ?? null)}, expected "adapter")`);
  const adapterType = metaValue(file, "adapter.type");
  if (adapterType !== "lora") throw fail(`not a LoRA adapter (adapter.type is ${JSON.stringify(adapterType ?? null)})`);
  const architecture = metaValue(file, "general.architecture");
  if (typeof architecture !== "string") throw fail("no general.architecture");
  const alpha = Number(metaValue(file, "adapter.lora.alpha") ?? 0);

  const pairs: LoraPair[] = [];
  for (const a of file.tensors) {
    if (!a.name.endsWith(".lora_a")) {
      if (!a.name.endsWith(".lora_b")) throw fail(`tensor "${a.name}" is neither a lora_a nor a lora_b`);
      continue;
    }
    const target = a.name.slice(0, -".lora_a".length);
    const b = file.tensors.find((t) => t.name === `${target}.lora_b`);
    if (!b) throw fail(`${target}.lora_a has no matching lora_b`);
    if (a.dims.length !== 2 || b.dims.length !== 2) throw fail(`${target}: lora_a and lora_b must be matrices`);
    const flipped = target === "token_embd.weight";
    const rank = b.dims[0]!;
    const aRank = flipped ? a.dims[0]! : a.dims[1]!;
    if (aRank !== rank) throw fail(`${target}: lora_a has rank ${aRank} but lora_b has rank ${rank}`);
    const baseSizes: LoraPair["baseSizes"] = flipped
      ? [
          { tensor: b.name, what: "embedding size", size: b.dims[1]!, baseDim: 0 },
          { tensor: a.name, what: "vocabulary size", size: a.dims[1]!, baseDim: 1 },
        ]
      : [
          { tensor: a.name, what: "input size", size: a.dims[0]!, baseDim: 0 },
          { tensor: b.name, what: "output size", size: b.dims[1]!, baseDim: 1 },
        ];
    pairs.push({ target, a, b, rank, flipped, baseSizes });
  }
  for (const b of file.tensors.filter((t) => t.name.endsWith(".lora_b"))) {
    if (!pairs.some((p) => p.b === b)) throw fail(`${b.name} has no matching lora_a`);
  }
  return { file, architecture, alpha, pairs };
}

/** The factor llama.cpp applies to B A at scale 1: alpha / rank, or 1 without alpha. */
export const loraFactor = (adapter: LoraAdapter, pair: LoraPair): number => (adapter.alpha ? adapter.alpha / pair.rank : 1);

export function findPair(adapter: LoraAdapter, target: string): LoraPair {
  const pair = adapter.pairs.find((p) => p.target === target);
  if (!pair) throw new GgufError(adapter.file.path, `adapter has no tensors for "${target}"`);
  return pair;
}

/** The dense change to a base tensor at scale 1, in the base tensor's ggml layout (row = output, dims[0] per row). */
export async function loraDelta(adapter: LoraAdapter, target: string): Promise<Float32Array> {
  const pair = findPair(adapter, target);
  const [a, b] = await Promise.all([readTensor(adapter.file, pair.a.name), readTensor(adapter.file, pair.b.name)]);
  const r = pair.rank;
  const f = loraFactor(adapter, pair);
  // Normal: delta[j][i] = f * sum_k B[j][k] A[k][i]. Flipped (token_embd): delta[t][i] = f * sum_k B[i][k] A[t][k].
  const nRows = pair.flipped ? pair.a.dims[1]! : pair.b.dims[1]!;
  const nCols = pair.flipped ? pair.b.dims[1]! : pair.a.dims[0]!;
  const delta = new Float32Array(nRows * nCols);
  for (let j = 0; j < nRows; j++) {
    for (let k = 0; k < r; k++) {
      if (pair.flipped) {
        const ajk = f * a[j * r + k]!;
        if (ajk !== 0) for (let i = 0; i < nCols; i++) delta[j * nCols + i]! += ajk * b[i * r + k]!;
      } else {
        const bjk = f * b[j * r + k]!;
        if (bjk !== 0) for (let i = 0; i < nCols; i++) delta[j * nCols + i]! += bjk * a[k * nCols + i]!;
      }
    }
  }
  return delta;
}
