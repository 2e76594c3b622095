// Test models that carry a real vocabulary: llama.cpp's vocabulary files (tokenizer metadata only, from its
// tokenizer tests) with small random llama weights, and the tokenizer test vectors that come with them.
import { createHash } from "node:crypto";
import { existsSync, promises as fs } from "node:fs";
import * as path from "node:path";
import { metaValue, readGguf } from "../../src/core/gguf/reader";
import { writeSyntheticModel, type SyntheticModelOptions } from "../../src/core/gguf/synthetic";
import { GgufValueType, kv, type GgufKv } from "../../src/core/gguf/types";
import { MODEL_CACHE, SHARED_MODELS } from "./engine";

export const VOCAB_DIR = path.join(SHARED_MODELS, "vocab");
export const vocabFile = (name: string) => path.join(VOCAB_DIR, `ggml-vocab-${name}.gguf`);
export const hasVocab = (name: string) => existsSync(vocabFile(name));

const CONTROL = 3;

/** The shapes of every vocabulary test model (tiny: the vocabulary dominates its size). */
export const VOCAB_MODEL: SyntheticModelOptions = { seed: 3, nEmbd: 32, nLayer: 1, nHead: 2, nFf: 64, contextLength: 1024, weightType: "f16" };

/** The synthetic-model options of `spec`'s test model (for adapters made for it). */
export async function vocabModelOptions(spec: VocabModelSpec): Promise<SyntheticModelOptions> {
  const tokens = metaValue(await readGguf(vocabFile(spec.vocab)), "tokenizer.ggml.tokens") as string[];
  return { ...VOCAB_MODEL, vocabSize: tokens.length + (spec.addSpecial?.length ?? 0) };
}

export interface VocabModelSpec {
  /** The vocabulary file's name: ggml-vocab-NAME.gguf. */
  vocab: string;
  /** Tokens appended as control tokens (a family's special tokens missing from the base vocabulary). */
  addSpecial?: string[];
  /** Metadata set on top of the vocabulary's (e.g. add_bos_token, a chat template). */
  set?: GgufKv[];
}

/** Path of a model with `spec`'s vocabulary and random weights, written once into the test model cache. */
export async function vocabModel(spec: VocabModelSpec): Promise<string> {
  const source = vocabFile(spec.vocab);
  const key = createHash("sha256").update(JSON.stringify({ v: 1, spec, size: (await fs.stat(source)).size })).digest("hex").slice(0, 16);
  const out = path.join(MODEL_CACHE, `vocab-${spec.vocab}-${key}.gguf`);
  if (existsSync(out)) return out;
  const file = await readGguf(source);
  const tokenizer = [...file.metadata.values()].filter((m) => m.key.startsWith("tokenizer."));
  const extra = spec.addSpecial ?? [];
  const appended = tokenizer.map((m): GgufKv => {
    if (m.type !== GgufValueType.ARRAY || !extra.length) return m;
    if (m.key === "tokenizer.ggml.tokens") return { ...m, value: [...m.value, ...extra] };
    if (m.key === "tokenizer.ggml.token_type") return { ...m, value: [...m.value, ...extra.map(() => CONTROL)] };
    if (m.key === "tokenizer.ggml.scores") return { ...m, value: [...m.value, ...extra.map(() => 0)] };
    return m;
  });
  const overrides = new Set((spec.set ?? []).map((m) => m.key));
  const metadata = [...appended.filter((m) => !overrides.has(m.key)), ...(spec.set ?? [])];
  if (!metadata.some((m) => m.key === "tokenizer.ggml.token_type")) {
    throw new Error(`${source}: no tokenizer.ggml.token_type, so the special tokens cannot be typed`);
  }
  await fs.mkdir(MODEL_CACHE, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  await writeSyntheticModel(tmp, await vocabModelOptions(spec), metadata);
  await fs.rename(tmp, out);
  return out;
}

/** llama.cpp's tokenizer test vectors for a vocabulary: texts and the token ids its tokenizer gives (no BOS). */
export async function tokenizerVectors(name: string): Promise<{ text: string; ids: number[] }[]> {
  const inp = await fs.readFile(`${vocabFile(name)}.inp`, "utf8");
  const out = await fs.readFile(`${vocabFile(name)}.out`, "utf8");
  const texts = inp.split("\n__ggml_vocab_test__\n").slice(0, -1);
  const ids = out.split("\n").slice(0, texts.length).map((l) => l.trim().split(/\s+/).filter(Boolean).map(Number));
  if (ids.length !== texts.length) throw new Error(`${vocabFile(name)}: ${texts.length} texts but ${ids.length} token lines`);
  return texts.map((text, i) => ({ text, ids: ids[i]! }));
}

export const QWEN_CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// Code Llama - Instruct's template (LLaMA 2's [INST] format), as in its tokenizer_config.json.
export const LLAMA2_TEMPLATE =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

/** The families checked, each as its vocabulary plus the special tokens and metadata a real file of it has. */
export const FAMILIES = {
  "deepseek-coder": { vocab: "deepseek-coder" },
  starcoder2: { vocab: "starcoder" },
  // Qwen2.5-Coder's specials on GPT-2's byte-level BPE (Qwen's own vocabulary is not among the test files).
  "qwen2.5-coder": {
    vocab: "gpt-2",
    addSpecial: ["<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<|im_start|>", "<|im_end|>"],
    set: [kv.bool("tokenizer.ggml.add_bos_token", false), kv.str("tokenizer.chat_template", QWEN_CHATML_TEMPLATE)],
  },
  // Code Llama's infill tokens (ids 32007-32010 in the real vocabulary) on LLaMA's SentencePiece vocabulary.
  codellama: { vocab: "llama-spm", addSpecial: ["▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"], set: [kv.str("tokenizer.chat_template", LLAMA2_TEMPLATE)] },
} satisfies Record<string, VocabModelSpec>;
