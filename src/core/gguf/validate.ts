// What llama.cpp's loader assumes of a model or a LoRA adapter, checked before the file is handed to it. The
// loader asserts many of these (GGML_ASSERT aborts the process) or reads past arrays it trusts, so a file that
// breaks them must be turned away here with a sentence. Two levels:
//  - every model: the hyper-parameters llama.cpp's common loader asserts (block count, experts, rope scaling),
//    finite numbers, a vocabulary it can build, and tensor types that can be weights;
//  - the architectures checked in full (CHECKED_ARCHITECTURES): also the dense llama / qwen2 hyper-parameters and
//    every tensor's presence, type and shape, as llama.cpp's llama and qwen2 loaders create them.
// Adapters: the metadata types llama.cpp reads without checking, a finite alpha, float tensors, finite values.
import { DECODABLE_TYPES } from "./codec";
import { GgufFile, readTensor } from "./reader";
import { GgmlType, GgufKv, GgufScalar, GgufValueType } from "./types";

/** Architectures whose hyper-parameters and tensor shapes are checked in full. */
export const CHECKED_ARCHITECTURES = ["llama", "qwen2"] as const;

// llama.cpp's LLAMA_MAX_LAYERS and LLAMA_MAX_EXPERTS.
const MAX_LAYERS = 512;
const MAX_EXPERTS = 1024;
/** Beyond these the file is corrupt rather than a large model. */
const MAX_EMBD = 1 << 17;
const MAX_CONTEXT = 1 << 24;
/** A LoRA alpha this large (alpha / rank multiplies the update) only ever comes from corruption. */
export const MAX_LORA_ALPHA = 1e4;

/** Tokenizers a generation model can use (llama.cpp's "bert" is WordPiece for encoders, "none" has no vocabulary). */
const TOKENIZERS = ["llama", "gpt2"];
// llama_rope_scaling_type_from_string: anything else is asserted against.
const ROPE_SCALING = ["none", "linear", "yarn", "longrope"];
/** Integer and double tensors cannot be weights: llama.cpp's matrix kernels have no such type. */
const NOT_WEIGHTS = new Set([GgmlType.I8, GgmlType.I16, GgmlType.I32, GgmlType.I64, GgmlType.F64]);
const VECTOR_TYPES = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16]);
/** Types LoRA converters write; llama.cpp adds B A in these. */
const LORA_TYPES = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0]);

const INTEGER_TYPES = new Set([
  GgufValueType.UINT8,
  GgufValueType.INT8,
  GgufValueType.UINT16,
  GgufValueType.INT16,
  GgufValueType.UINT32,
  GgufValueType.INT32,
  GgufValueType.UINT64,
  GgufValueType.INT64,
]);
const FLOAT_TYPES = new Set([GgufValueType.FLOAT32, GgufValueType.FLOAT64]);

const typeName = (t: GgmlType) => GgmlType[t] ?? `type ${t}`;
const show = (v: GgufScalar | GgufScalar[]) => (Array.isArray(v) ? `an array of ${v.length}` : typeof v === "string" ? JSON.stringify(v) : String(v));

class Problem extends Error {}
const fail = (message: string): never => {
  throw new Problem(message);
};

/** Typed access to one file's metadata that fails with a sentence naming the key. */
class Meta {
  constructor(readonly file: GgufFile) {}

  entry(key: string): GgufKv | undefined {
    return this.file.metadata.get(key);
  }

  /** A non-negative integer, or a per-layer array of them (llama.cpp's get_key_or_arr). */
  ints(key: string, layers: number, required: boolean): number[] | undefined {
    const e = this.entry(key);
    if (!e) return required ? fail(`${key} is missing`) : undefined;
    const items = e.type === GgufValueType.ARRAY ? e.value : [e.value];
    const itemType = e.type === GgufValueType.ARRAY ? e.itemType : e.type;
    if (!INTEGER_TYPES.has(itemType)) fail(`${key} is ${show(e.value)}, not an integer`);
    if (e.type === GgufValueType.ARRAY && items.length !== layers) fail(`${key} has ${items.length} values for ${layers} layers`);
    const values = items.map((v) => {
      if (typeof v !== "number" || v < 0 || v > 0xffffffff) fail(`${key} is ${show(v)}, out of range`);
      return v as number;
    });
    return e.type === GgufValueType.ARRAY ? values : new Array<number>(layers).fill(values[0]!);
  }

  int(key: string, required: boolean): number | undefined {
    const e = this.entry(key);
    if (e?.type === GgufValueType.ARRAY) fail(`${key} is ${show(e.value)}, expected one integer`);
    return this.ints(key, 1, required)?.[0];
  }

  float(key: string, required: boolean): number | undefined {
    const e = this.entry(key);
    if (!e) return required ? fail(`${key} is missing`) : undefined;
    if (e.type === GgufValueType.ARRAY || !(FLOAT_TYPES.has(e.type) || INTEGER_TYPES.has(e.type))) fail(`${key} is ${show(e.value)}, not a number`);
    const v = Number(e.value);
    if (!Number.isFinite(v)) fail(`${key} is ${show(e.value)}, not a finite number`);
    return v;
  }

  str(key: string, required: boolean): string | undefined {
    const e = this.entry(key);
    if (!e) return required ? fail(`${key} is missing`) : undefined;
    if (e.type !== GgufValueType.STRING) fail(`${key} is ${show(e.value)}, not a string`);
    return e.value as string;
  }
}

const inRange = (key: string, v: number | undefined, lo: number, hi: number) => {
  if (v !== undefined && (v < lo || v > hi)) fail(`${key} is ${v}, outside ${lo} to ${hi}`);
};

/** Checks the vocabulary llama.cpp builds; returns its size. */
function checkVocabulary(m: Meta): number {
  const model = m.str("tokenizer.ggml.model", true)!;
  if (!TOKENIZERS.includes(model)) fail(`tokenizer.ggml.model is ${JSON.stringify(model)}; a generation model needs one of ${TOKENIZERS.join(", ")}`);
  const tokens = m.entry("tokenizer.ggml.tokens");
  if (!tokens) fail("tokenizer.ggml.tokens is missing");
  if (tokens!.type !== GgufValueType.ARRAY || tokens!.itemType !== GgufValueType.STRING) fail("tokenizer.ggml.tokens is not an array of strings");
  const list = tokens!.value as string[];
  if (list.length === 0) fail("tokenizer.ggml.tokens is empty");
  // llama.cpp maps text -> id and asserts that the map is as large as the list; it renames empty tokens first.
  const seen = new Set<string>();
  let empty = 0;
  for (const [i, t] of list.entries()) {
    if (t === "") empty++;
    else if (seen.has(t)) fail(`tokenizer.ggml.tokens has ${JSON.stringify(t)} twice (the second at ${i})`);
    seen.add(t);
  }
  if (empty > list.length / 2) fail(`tokenizer.ggml.tokens has ${empty} empty tokens of ${list.length}`);
  for (const [key, itemTypes] of [
    ["tokenizer.ggml.scores", [GgufValueType.FLOAT32, GgufValueType.INT32]],
    ["tokenizer.ggml.token_type", [GgufValueType.INT32]],
  ] as const) {
    const e = m.entry(key);
    if (!e) continue;
    if (e.type !== GgufValueType.ARRAY || !(itemTypes as readonly GgufValueType[]).includes(e.itemType)) fail(`${key} is not an array of ${itemTypes.map((t) => GgufValueType[t]).join(" or ")}`);
    const values = e.value as number[];
    if (values.length !== list.length) fail(`${key} has ${values.length} entries for ${list.length} tokens`);
    if (values.some((v) => !Number.isFinite(v))) fail(`${key} holds a value that is not a finite number`);
  }
  const merges = m.entry("tokenizer.ggml.merges");
  if (merges && (merges.type !== GgufValueType.ARRAY || merges.itemType !== GgufValueType.STRING)) fail("tokenizer.ggml.merges is not an array of strings");
  return list.length;
}

/** What llama.cpp's common hyper-parameter loader asserts, for every architecture. */
function checkCommon(m: Meta, arch: string): { nLayer: number } {
  const p = (k: string) => `${arch}.${k}`;
  const nLayer = m.int(p("block_count"), true)!;
  inRange(p("block_count"), nLayer, 1, MAX_LAYERS);
  inRange(p("context_length"), m.int(p("context_length"), true), 1, MAX_CONTEXT);
  inRange(p("embedding_length"), m.int(p("embedding_length"), true), 1, MAX_EMBD);
  const nExpert = m.int(p("expert_count"), false) ?? 0;
  inRange(p("expert_count"), nExpert, 0, MAX_EXPERTS);
  const used = Math.max(0, ...(m.ints(p("expert_used_count"), nLayer, false) ?? [0]));
  const groups = m.int(p("expert_group_count"), false) ?? 0;
  if (used > nExpert) fail(`${p("expert_used_count")} is ${used}, more than ${p("expert_count")} (${nExpert})`);
  if (nExpert > 0 && used === 0) fail(`${p("expert_count")} is ${nExpert} but ${p("expert_used_count")} is 0`);
  if (nExpert > 0 ? groups >= nExpert : groups !== 0) fail(`${p("expert_group_count")} is ${groups} for ${nExpert} experts`);
  const nextn = m.int(p("nextn_predict_layers"), false) ?? 0;
  if (nextn > nLayer) fail(`${p("nextn_predict_layers")} is ${nextn}, more than the ${nLayer} blocks`);
  const scaling = m.str(p("rope.scaling.type"), false);
  if (scaling !== undefined && !ROPE_SCALING.includes(scaling)) fail(`${p("rope.scaling.type")} is ${JSON.stringify(scaling)} (known: ${ROPE_SCALING.join(", ")})`);
  // Every number under the architecture's prefix feeds the graph: a NaN or an infinity there poisons every logit.
  for (const e of m.file.metadata.values()) {
    if (!e.key.startsWith(`${arch}.`)) continue;
    const values = e.type === GgufValueType.ARRAY ? e.value : [e.value];
    if (values.some((v) => typeof v === "number" && !Number.isFinite(v))) fail(`${e.key} is ${show(e.value)}, not finite`);
  }
  return { nLayer };
}

interface Expected {
  name: string;
  dims: number[];
  required: boolean;
}

/** The dense llama / qwen2 hyper-parameters and the tensors llama.cpp creates from them. */
function expectedLlamaTensors(m: Meta, arch: (typeof CHECKED_ARCHITECTURES)[number], nLayer: number, nVocab: number): Expected[] {
  const p = (k: string) => `${arch}.${k}`;
  const nEmbd = m.int(p("embedding_length"), true)!;
  const nExpert = m.int(p("expert_count"), false) ?? 0;
  if (nExpert > 0) fail(`${p("expert_count")} is ${nExpert}: mixture-of-experts models are not supported (dense llama and qwen2 only)`);
  const nHead = m.ints(p("attention.head_count"), nLayer, true)!;
  const nHeadKv = m.ints(p("attention.head_count_kv"), nLayer, false) ?? nHead;
  const nFf = m.ints(p("feed_forward_length"), nLayer, true)!;
  const headK = m.int(p("attention.key_length"), false);
  const headV = m.int(p("attention.value_length"), false);
  const eps = m.float(p("attention.layer_norm_rms_epsilon"), true)!;
  if (!(eps > 0 && eps < 1)) fail(`${p("attention.layer_norm_rms_epsilon")} is ${eps}; it must be between 0 and 1`);
  const freqBase = m.float(p("rope.freq_base"), false);
  if (freqBase !== undefined && !(freqBase > 0)) fail(`${p("rope.freq_base")} is ${freqBase}; it must be positive`);
  const ropeScale = m.float(p("rope.scaling.factor"), false);
  if (ropeScale !== undefined && ropeScale < 0) fail(`${p("rope.scaling.factor")} is ${ropeScale}; it must not be negative`);
  const tensors: Expected[] = [
    { name: "token_embd.weight", dims: [nEmbd, nVocab], required: true },
    { name: "output_norm.weight", dims: [nEmbd], required: true },
    { name: "output.weight", dims: [nEmbd, nVocab], required: false },
  ];
  const nRot = m.int(p("rope.dimension_count"), false);
  for (let i = 0; i < nLayer; i++) {
    const heads = nHead[i]!;
    const kvHeads = nHeadKv[i]!;
    const ff = nFf[i]!;
    const layer = nLayer > 1 ? ` (block ${i})` : "";
    if (heads < 1 || heads > nEmbd) fail(`${p("attention.head_count")} is ${heads}${layer}; it must be 1 to ${p("embedding_length")} (${nEmbd})`);
    if (kvHeads < 1 || heads % kvHeads !== 0) fail(`${p("attention.head_count_kv")} is ${kvHeads}${layer}; it must divide ${p("attention.head_count")} (${heads})`);
    if (ff < 1 || ff > 64 * nEmbd) fail(`${p("feed_forward_length")} is ${ff}${layer}; it must be 1 to ${64 * nEmbd}`);
    if (headK === undefined && nEmbd % heads !== 0) fail(`${p("embedding_length")} (${nEmbd}) is not a multiple of ${p("attention.head_count")} (${heads})`);
    const dk = headK ?? nEmbd / heads;
    const dv = headV ?? nEmbd / heads;
    // The graph asserts one head size for keys, values and the rotation.
    if (dk < 1 || dv !== dk) fail(`attention key length ${dk} and value length ${dv} must be equal and positive`);
    if (nRot !== undefined && nRot !== dk) fail(`${p("rope.dimension_count")} is ${nRot}; it must be the head size ${dk}`);
    const nQ = arch === "qwen2" ? nEmbd : dk * heads;
    const b = `blk.${i}`;
    tensors.push(
      { name: `${b}.attn_norm.weight`, dims: [nEmbd], required: true },
      { name: `${b}.attn_q.weight`, dims: [nEmbd, nQ], required: true },
      { name: `${b}.attn_k.weight`, dims: [nEmbd, dk * kvHeads], required: true },
      { name: `${b}.attn_v.weight`, dims: [nEmbd, dv * kvHeads], required: true },
      { name: `${b}.attn_q.bias`, dims: [nQ], required: false },
      { name: `${b}.attn_k.bias`, dims: [dk * kvHeads], required: false },
      { name: `${b}.attn_v.bias`, dims: [dv * kvHeads], required: false },
      { name: `${b}.attn_output.weight`, dims: [nQ, nEmbd], required: true },
      { name: `${b}.attn_output.bias`, dims: [nEmbd], required: false },
      { name: `${b}.ffn_norm.weight`, dims: [nEmbd], required: true },
      { name: `${b}.ffn_gate.weight`, dims: [nEmbd, ff], required: true },
      { name: `${b}.ffn_down.weight`, dims: [ff, nEmbd], required: true },
      { name: `${b}.ffn_up.weight`, dims: [nEmbd, ff], required: true },
    );
  }
  return tensors;
}

const shape = (dims: readonly number[]) => `[${dims.join(", ")}]`;

/** Tensor types that can be weights: vectors in float types, no integer matrices. */
function checkTensorTypes(file: GgufFile): void {
  for (const t of file.tensors) {
    if (NOT_WEIGHTS.has(t.type)) fail(`tensor ${t.name} is ${typeName(t.type)}, which cannot be a weight`);
    if (t.dims.length === 1 && !VECTOR_TYPES.has(t.type)) fail(`tensor ${t.name} is a vector in ${typeName(t.type)}; vectors must be F32, F16 or BF16`);
    if (t.dims.some((d) => d === 0)) fail(`tensor ${t.name} has shape ${shape(t.dims)}, with no elements`);
  }
}

/** Why llama.cpp could not load `file` safely as a model, or undefined when it can. */
export function modelProblem(file: GgufFile): string | undefined {
  try {
    const m = new Meta(file);
    const arch = m.str("general.architecture", true)!;
    if (arch === "") fail("general.architecture is empty");
    for (const key of ["general.type", "general.name"]) m.str(key, false);
    const nVocab = checkVocabulary(m);
    if (file.tensors.length === 0) fail("it has no tensors");
    const { nLayer } = checkCommon(m, arch);
    checkTensorTypes(file);
    if (!(CHECKED_ARCHITECTURES as readonly string[]).includes(arch)) return undefined;
    const byName = new Map(file.tensors.map((t) => [t.name, t]));
    for (const e of expectedLlamaTensors(m, arch as (typeof CHECKED_ARCHITECTURES)[number], nLayer, nVocab)) {
      const t = byName.get(e.name);
      if (!t) {
        if (e.required) fail(`tensor ${e.name} is missing`);
        continue;
      }
      if (shape(t.dims) !== shape(e.dims)) fail(`tensor ${e.name} has shape ${shape(t.dims)}, expected ${shape(e.dims)} from the hyper-parameters`);
    }
    return undefined;
  } catch (e) {
    if (e instanceof Problem) return e.message;
    throw e;
  }
}

/** Why llama.cpp could not load `file` safely as a LoRA adapter (metadata, tensor types and values). */
export async function adapterProblem(file: GgufFile): Promise<string | undefined> {
  try {
    const m = new Meta(file);
    // llama.cpp reads these with gguf_get_val_str / gguf_get_val_f32, which assert the type.
    for (const key of ["general.type", "general.architecture", "adapter.type"]) m.str(key, false);
    const alpha = m.entry("adapter.lora.alpha");
    if (alpha) {
      if (alpha.type !== GgufValueType.FLOAT32) fail(`adapter.lora.alpha is ${show(alpha.value)}, not a FLOAT32`);
      const a = alpha.value as number;
      if (!Number.isFinite(a) || a < 0 || a > MAX_LORA_ALPHA) fail(`adapter.lora.alpha is ${a}; it must be a finite number from 0 to ${MAX_LORA_ALPHA}`);
    }
    for (const t of file.tensors) {
      if (!LORA_TYPES.has(t.type)) fail(`tensor ${t.name} is ${typeName(t.type)}; LoRA tensors must be ${[...LORA_TYPES].map(typeName).join(", ")}`);
      if (t.dims.some((d) => d === 0)) fail(`tensor ${t.name} has shape ${shape(t.dims)}, with no elements`);
    }
    for (const t of file.tensors) {
      if (!DECODABLE_TYPES.has(t.type)) continue;
      const values = await readTensor(file, t.name);
      const bad = values.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) fail(`tensor ${t.name} holds ${values[bad]} at index ${bad}`);
    }
    return undefined;
  } catch (e) {
    if (e instanceof Problem) return e.message;
    throw e;
  }
}
