import { basename } from "node:path";
import { isAdapterFile, readLoraAdapter } from "./lora";
import { GgufFile, metaValue, readGguf } from "./reader";
import { GgufError } from "./types";
import { adapterProblem } from "./validate";

export type CompatibilityResult = { ok: true } | { ok: false; message: string };

const shape = (dims: readonly number[]) => `[${dims.join(", ")}]`;

/** The first way a full model differs from the base in architecture, vocabulary or tensor shapes. */
function modelMismatch(base: GgufFile, model: GgufFile): string | undefined {
  const arch = metaValue(model, "general.architecture");
  const baseArch = metaValue(base, "general.architecture");
  if (arch !== baseArch) return `architecture is ${JSON.stringify(arch)} but the base is ${JSON.stringify(baseArch)}`;
  const tokens = (metaValue(model, "tokenizer.ggml.tokens") ?? []) as unknown[];
  const baseTokens = (metaValue(base, "tokenizer.ggml.tokens") ?? []) as unknown[];
  if (tokens.length !== baseTokens.length) return `vocabulary has ${tokens.length} tokens but the base has ${baseTokens.length}`;
  const differs = tokens.findIndex((t, i) => t !== baseTokens[i]);
  if (differs >= 0) return `token ${differs} is ${JSON.stringify(tokens[differs])} but the base has ${JSON.stringify(baseTokens[differs])}`;
  const byName = new Map(model.tensors.map((t) => [t.name, t]));
  for (const b of base.tensors) {
    const t = byName.get(b.name);
    if (!t) return `has no tensor ${b.name} (the base has one)`;
    if (shape(t.dims) !== shape(b.dims)) return `${b.name} has shape ${shape(t.dims)} but the base tensor has ${shape(b.dims)}`;
  }
  const extra = model.tensors.find((t) => !base.tensors.some((b) => b.name === t.name));
  return extra && `has tensor ${extra.name}, which the base does not`;
}

/** The first way an adapter does not fit the base: architecture, a missing target, or a lora_a / lora_b size. */
async function adapterMismatch(base: GgufFile, file: GgufFile): Promise<string | undefined> {
  const problem = await adapterProblem(file);
  if (problem) return problem;
  const adapter = await readLoraAdapter(file);
  const baseArch = metaValue(base, "general.architecture");
  if (adapter.architecture !== baseArch) {
    return `architecture is ${JSON.stringify(adapter.architecture)} but the base is ${JSON.stringify(baseArch)}`;
  }
  for (const pair of adapter.pairs) {
    const target = base.tensors.find((t) => t.name === pair.target);
    if (!target) return `adapts ${pair.target}, which the base does not have`;
    if (target.dims.length !== 2) return `adapts ${pair.target}, which is a ${target.dims.length}-D tensor ${shape(target.dims)} in the base; a LoRA adapts matrices only`;
    for (const { tensor, what, size, baseDim } of pair.baseSizes) {
      if (size !== target.dims[baseDim]) return `${tensor} has ${what} ${size} but the base tensor has ${target.dims[baseDim]}`;
    }
  }
  return undefined;
}

/** Why `file` cannot be souped with `base` (undefined when it can). Adapters and full models are both accepted. */
export async function basisMismatch(base: GgufFile, file: GgufFile): Promise<string | undefined> {
  return isAdapterFile(file) ? adapterMismatch(base, file) : modelMismatch(base, file);
}

/** Reads a policy and throws a GgufError naming it when it does not fit the base. */
export async function readCompatible(base: GgufFile, path: string): Promise<GgufFile> {
  const file = await readGguf(path);
  const problem = await basisMismatch(base, file);
  if (problem) throw new GgufError(path, problem);
  return file;
}

/**
 * Checks that every policy can be souped with the base: same architecture, vocabulary and tensor shapes for full
 * models; architecture and lora_a / lora_b sizes for adapters. Reports the first mismatch, naming the policy, its
 * file, the tensor and the shapes.
 */
export async function checkBasisCompatibility(basePath: string, policies: { id: string; path: string }[]): Promise<CompatibilityResult> {
  let base: GgufFile;
  try {
    base = await readGguf(basePath);
  } catch (err) {
    return { ok: false, message: `base model: ${(err as Error).message}` };
  }
  if (isAdapterFile(base)) return { ok: false, message: `base model: ${basePath} is an adapter, not a model` };
  for (const { id, path } of policies) {
    let file: GgufFile;
    try {
      file = await readGguf(path);
    } catch (err) {
      return { ok: false, message: `policy "${id}": ${(err as Error).message}` };
    }
    const kind = isAdapterFile(file) ? "adapter" : "model";
    let problem: string | undefined;
    try {
      problem = await basisMismatch(base, file);
    } catch (err) {
      if (!(err instanceof GgufError)) throw err;
      problem = err.problem;
    }
    if (problem) return { ok: false, message: `${kind} "${id}" (${basename(path)}): ${problem}` };
  }
  return { ok: true };
}
