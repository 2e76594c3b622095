import { createHash } from "node:crypto";
import { access, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { deriveSeed, gaussian } from "./random";
import { MIN_VOCAB_SIZE, SPECIAL_TOKENS, syntheticVocab } from "./synthetic-vocab";
import { GgufKv, kv } from "./types";
import { TensorToWrite, writeGguf } from "./writer";

// Tiny llama models with random weights that llama.cpp loads, plus LoRA adapters for them.
//
// The residual stream has a "bias channel": dimension 0 of every token embedding is BIAS_CHANNEL and no block
// writes to it (row 0 of attn_output and ffn_down is zero), so after the final RMS norm h[0] = BIAS_CHANNEL / rms > 0
// in every context. A head adapter whose lora_a is e_0 therefore adds a positive amount to chosen tokens' logits
// everywhere, which is what tests of souping need: a policy with a known, context-independent preference.

export interface SyntheticModelOptions {
  seed: number;
  nEmbd?: number;
  nLayer?: number;
  nHead?: number;
  nHeadKv?: number;
  nFf?: number;
  contextLength?: number;
  /** At least 263 (specials, 256 byte tokens, the space piece); larger sizes add filler pieces. */
  vocabSize?: number;
  weightType?: "f32" | "f16";
}

export type ResolvedModelOptions = Required<SyntheticModelOptions>;

export interface SyntheticAdapterOptions {
  seed: number;
  /** The base model the adapter is for (only its shapes matter). */
  base: SyntheticModelOptions;
  rank?: number;
  /** Defaults to rank, so that the change is scale * B A. */
  alpha?: number;
  /** "head": output.weight only; "attn_ffn": attn_q, attn_v and ffn_down of every layer. */
  target?: "head" | "attn_ffn";
  /** Head adapters only: tokens whose logits rise by strength * h[0] (about 1.5-2 logits per unit) in every context. */
  boostTokens?: number[];
  /** Boost size, or the scale of a random delta (about `strength` logits of standard deviation at the head). */
  strength?: number;
}

/** The benchmark model: about 52M parameters, 32k vocabulary, F16 (see syntheticParameterCount). */
export const BENCHMARK_MODEL: SyntheticModelOptions = {
  seed: 1,
  nEmbd: 512,
  nLayer: 6,
  nHead: 8,
  nHeadKv: 8,
  nFf: 1376,
  contextLength: 2048,
  vocabSize: 32000,
  weightType: "f16",
};

// Bump when the generated weights change, so that caches keyed by options are invalidated.
const GENERATOR_VERSION = 1;
const BIAS_CHANNEL = 2;
const HEAD_LOGIT_STD = 2.5;
const BLOCK_OUTPUT_GAIN = 0.5;

export function resolveModelOptions(opts: SyntheticModelOptions): ResolvedModelOptions {
  const r: ResolvedModelOptions = {
    seed: opts.seed,
    nEmbd: opts.nEmbd ?? 64,
    nLayer: opts.nLayer ?? 2,
    nHead: opts.nHead ?? 4,
    nHeadKv: opts.nHeadKv ?? opts.nHead ?? 4,
    nFf: opts.nFf ?? 128,
    contextLength: opts.contextLength ?? 2048,
    vocabSize: opts.vocabSize ?? MIN_VOCAB_SIZE,
    weightType: opts.weightType ?? "f32",
  };
  if (r.nEmbd % r.nHead !== 0 || r.nHead % r.nHeadKv !== 0) {
    throw new RangeError(`nEmbd (${r.nEmbd}) must be a multiple of nHead (${r.nHead}), and nHead of nHeadKv (${r.nHeadKv})`);
  }
  return r;
}

interface TensorShape {
  name: string;
  dims: number[];
}

/** Every tensor of the model, in file order, with ggml dims ([n_in, n_out] for matrices). */
function modelShapes(o: ResolvedModelOptions): TensorShape[] {
  const nKv = (o.nEmbd / o.nHead) * o.nHeadKv;
  const shapes: TensorShape[] = [{ name: "token_embd.weight", dims: [o.nEmbd, o.vocabSize] }];
  for (let l = 0; l < o.nLayer; l++) {
    const b = `blk.${l}`;
    shapes.push(
      { name: `${b}.attn_norm.weight`, dims: [o.nEmbd] },
      { name: `${b}.attn_q.weight`, dims: [o.nEmbd, o.nEmbd] },
      { name: `${b}.attn_k.weight`, dims: [o.nEmbd, nKv] },
      { name: `${b}.attn_v.weight`, dims: [o.nEmbd, nKv] },
      { name: `${b}.attn_output.weight`, dims: [o.nEmbd, o.nEmbd] },
      { name: `${b}.ffn_norm.weight`, dims: [o.nEmbd] },
      { name: `${b}.ffn_gate.weight`, dims: [o.nEmbd, o.nFf] },
      { name: `${b}.ffn_up.weight`, dims: [o.nEmbd, o.nFf] },
      { name: `${b}.ffn_down.weight`, dims: [o.nFf, o.nEmbd] },
    );
  }
  shapes.push({ name: "output_norm.weight", dims: [o.nEmbd] }, { name: "output.weight", dims: [o.nEmbd, o.vocabSize] });
  return shapes;
}

/** Parameter count of a synthetic model (all tensors). */
export function syntheticParameterCount(opts: SyntheticModelOptions): number {
  return modelShapes(resolveModelOptions(opts)).reduce((n, t) => n + t.dims.reduce((a, b) => a * b, 1), 0);
}

function modelTensorData(o: ResolvedModelOptions, { name, dims }: TensorShape): Float32Array {
  const [nIn, nOut = 1] = dims as [number, number?];
  if (dims.length === 1) return new Float32Array(nIn).fill(1);
  const seed = deriveSeed(o.seed, name);
  if (name === "token_embd.weight") {
    const w = gaussian(seed, nIn * nOut, 1);
    for (let t = 0; t < nOut; t++) w[t * nIn] = BIAS_CHANNEL;
    return w;
  }
  if (name === "output.weight") return gaussian(seed, nIn * nOut, HEAD_LOGIT_STD / Math.sqrt(nIn));
  const writesResidual = name.endsWith("attn_output.weight") || name.endsWith("ffn_down.weight");
  const w = gaussian(seed, nIn * nOut, (writesResidual ? BLOCK_OUTPUT_GAIN : 1) / Math.sqrt(nIn));
  // Output row 0 is the bias channel: keep it untouched by the blocks.
  if (writesResidual) w.fill(0, 0, nIn);
  return w;
}

function modelMetadata(o: ResolvedModelOptions, tokenizer?: readonly GgufKv[]): GgufKv[] {
  const vocab = syntheticVocab(o.vocabSize);
  const meta = [
    kv.str("general.architecture", "llama"),
    kv.str("general.name", `synthetic-llama-${o.nEmbd}x${o.nLayer}-v${o.vocabSize}-s${o.seed}`),
    kv.u32("llama.context_length", o.contextLength),
    kv.u32("llama.embedding_length", o.nEmbd),
    kv.u32("llama.block_count", o.nLayer),
    kv.u32("llama.feed_forward_length", o.nFf),
    kv.u32("llama.attention.head_count", o.nHead),
    kv.u32("llama.attention.head_count_kv", o.nHeadKv),
    kv.f32("llama.attention.layer_norm_rms_epsilon", 1e-5),
    kv.u32("llama.rope.dimension_count", o.nEmbd / o.nHead),
    kv.u32("llama.vocab_size", o.vocabSize),
    kv.str("tokenizer.ggml.model", "llama"),
    kv.strs("tokenizer.ggml.tokens", vocab.tokens),
    kv.f32s("tokenizer.ggml.scores", vocab.scores),
    kv.i32s("tokenizer.ggml.token_type", vocab.types),
    kv.u32("tokenizer.ggml.unknown_token_id", SPECIAL_TOKENS.unk),
    kv.u32("tokenizer.ggml.bos_token_id", SPECIAL_TOKENS.bos),
    kv.u32("tokenizer.ggml.eos_token_id", SPECIAL_TOKENS.eos),
    kv.u32("tokenizer.ggml.fim_pre_token_id", SPECIAL_TOKENS.fimPrefix),
    kv.u32("tokenizer.ggml.fim_suf_token_id", SPECIAL_TOKENS.fimSuffix),
    kv.u32("tokenizer.ggml.fim_mid_token_id", SPECIAL_TOKENS.fimMiddle),
    kv.bool("tokenizer.ggml.add_bos_token", true),
    kv.bool("tokenizer.ggml.add_eos_token", false),
  ];
  return tokenizer ? [...meta.filter((m) => !m.key.startsWith("tokenizer.")), ...tokenizer] : meta;
}

/**
 * Writes a deterministic random llama model; norms are F32, matrices `weightType`. `tokenizer` (tokenizer.*
 * metadata, e.g. a real vocabulary's) replaces the synthetic vocabulary; vocabSize must be its token count.
 */
export async function writeSyntheticModel(path: string, opts: SyntheticModelOptions, tokenizer?: readonly GgufKv[]): Promise<void> {
  const o = resolveModelOptions(opts);
  const tensors: TensorToWrite[] = modelShapes(o).map((shape) => ({
    ...shape,
    type: shape.dims.length === 1 ? "f32" : o.weightType,
    data: () => modelTensorData(o, shape),
  }));
  await writeGguf(path, { metadata: modelMetadata(o, tokenizer), tensors });
}

function adapterTensors(o: ResolvedModelOptions, a: SyntheticAdapterOptions): TensorToWrite[] {
  const rank = a.rank ?? 4;
  const alpha = a.alpha ?? rank;
  const strength = a.strength ?? (a.boostTokens ? 2 : 1);
  const target = a.target ?? "head";
  if (a.boostTokens && target !== "head") throw new RangeError("boostTokens needs target \"head\"");
  const targets =
    target === "head"
      ? ["output.weight"]
      : Array.from({ length: o.nLayer }, (_, l) => [`blk.${l}.attn_q.weight`, `blk.${l}.attn_v.weight`, `blk.${l}.ffn_down.weight`]).flat();
  const shapes = new Map(modelShapes(o).map((s) => [s.name, s.dims]));
  return targets.flatMap((name) => {
    const [nIn, nOut] = shapes.get(name) as [number, number];
    let loraA: Float32Array;
    let loraB: Float32Array;
    if (a.boostTokens) {
      // Every row of A is e_0 and B is strength / alpha on boosted rows: alpha / r * B A = strength on [t, 0].
      loraA = new Float32Array(rank * nIn);
      for (let k = 0; k < rank; k++) loraA[k * nIn] = 1;
      loraB = new Float32Array(nOut * rank);
      for (const t of a.boostTokens) {
        if (!Number.isInteger(t) || t < 0 || t >= nOut) throw new RangeError(`boost token ${t} is outside the vocabulary (${nOut})`);
        loraB.fill(strength / alpha, t * rank, (t + 1) * rank);
      }
    } else {
      // With these scales the delta is about `strength` (head) or half of it (blocks) per unit of rms input.
      const gain = (target === "head" ? strength : strength / 2) * (rank / alpha);
      loraA = gaussian(deriveSeed(a.seed, `${name}.lora_a`), rank * nIn, 1 / Math.sqrt(nIn));
      loraB = gaussian(deriveSeed(a.seed, `${name}.lora_b`), nOut * rank, gain / Math.sqrt(rank));
      // Keep the bias channel intact (see the top of this file).
      if (name.endsWith("ffn_down.weight")) loraB.fill(0, 0, rank);
    }
    return [
      { name: `${name}.lora_a`, dims: [nIn, rank], type: "f32", data: loraA },
      { name: `${name}.lora_b`, dims: [rank, nOut], type: "f32", data: loraB },
    ];
  });
}

/** Writes a LoRA adapter for a synthetic model (F32 tensors). */
export async function writeSyntheticAdapter(path: string, opts: SyntheticAdapterOptions): Promise<void> {
  const o = resolveModelOptions(opts.base);
  const rank = opts.rank ?? 4;
  await writeGguf(path, {
    metadata: [
      kv.str("general.type", "adapter"),
      kv.str("general.architecture", "llama"),
      kv.str("general.name", `synthetic-lora-${opts.target ?? "head"}-r${rank}-s${opts.seed}`),
      kv.str("adapter.type", "lora"),
      kv.f32("adapter.lora.alpha", opts.alpha ?? rank),
    ],
    tensors: adapterTensors(o, opts),
  });
}

async function cached(dir: string, kind: string, key: unknown, write: (path: string) => Promise<void>): Promise<string> {
  const hash = createHash("sha256").update(JSON.stringify({ v: GENERATOR_VERSION, key })).digest("hex").slice(0, 16);
  const path = join(dir, `synthetic-${kind}-${hash}.gguf`);
  try {
    await access(path);
  } catch {
    await mkdir(dir, { recursive: true });
    await write(path);
  }
  return path;
}

/** Path of a synthetic model in `dir`, generated only when missing (written atomically, safe to share). */
export function syntheticModelCache(dir: string, opts: SyntheticModelOptions): Promise<string> {
  const o = resolveModelOptions(opts);
  return cached(dir, "model", o, (p) => writeSyntheticModel(p, o));
}

/** Path of a synthetic adapter in `dir`, generated only when missing. */
export function syntheticAdapterCache(dir: string, opts: SyntheticAdapterOptions): Promise<string> {
  const key = { ...opts, base: resolveModelOptions(opts.base) };
  return cached(dir, "lora", key, (p) => writeSyntheticAdapter(p, opts));
}
