// Turns a PromptSpec into the token sequence each basis policy sees. The reference policy pi_0 gets the
// plain prompt; a prompted expert gets its instruction (chat) or header (FIM / raw) added, so its
// next-token distribution is pi_k. Adapter experts see the plain prompt (their difference is in weights).
import type { LlamaModel, Token } from "node-llama-cpp";
import { fimExemplar } from "../core/basis/pack";
import { formatChunks } from "../core/completion/chunks";
import { applyFimHeader } from "../core/completion/fim";
import type { PolicySpec, PromptSpec } from "./protocol";
import { EngineError } from "./protocol";

type Nlc = typeof import("node-llama-cpp");

/** FIM templates by special-token text, for models whose GGUF metadata names no FIM tokens. */
export const KNOWN_FIM_TEMPLATES: readonly [pre: string, suf: string, mid: string][] = [
  ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"],
  ["<fim_prefix>", "<fim_suffix>", "<fim_middle>"],
  ["<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"],
  ["▁<PRE>", "▁<SUF>", "▁<MID>"],
];

/** Repository-level FIM (Qwen2.5-Coder, StarCoder2): the repository-name and file-separator tokens of a family. */
const REPOSITORY_TOKENS: readonly [repo: string, file: string][] = [
  ["<|repo_name|>", "<|file_sep|>"],
  ["<repo_name>", "<file_sep>"],
];

/**
 * Markers that end a FIM middle (the families' end-of-text, file and repository markers) where they are single
 * tokens of the vocabulary. llama.cpp's end-of-generation set misses some (StarCoder2's `<file_sep>`, Code Llama's
 * `▁<EOT>`, DeepSeek-Coder's `<|EOT|>`), and since special tokens detokenize to nothing, no stop string sees them.
 */
const END_MARKERS = [
  // Qwen2.5-Coder
  "<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|im_end|>",
  // StarCoder2
  "<file_sep>", "<fim_pad>", "<repo_name>",
  // Code Llama
  "▁<EOT>", "<EOT>",
  // DeepSeek-Coder
  "<｜end▁of▁sentence｜>", "<|EOT|>",
];

export interface FimTokens {
  prefix: Token;
  suffix: Token;
  middle: Token;
}

/** The model's FIM tokens from metadata, else a known template whose markers are single special tokens. */
export function resolveFimTokens(model: LlamaModel): FimTokens | null {
  const inf = model.tokens.infill;
  if (inf.prefix != null && inf.suffix != null && inf.middle != null) {
    return { prefix: inf.prefix, suffix: inf.suffix, middle: inf.middle };
  }
  for (const tpl of KNOWN_FIM_TEMPLATES) {
    const [prefix, suffix, middle] = tpl.map((t) => specialToken(model, t));
    if (prefix !== undefined && suffix !== undefined && middle !== undefined) return { prefix, suffix, middle };
  }
  return null;
}

/** The single token `text` stands for, if the vocabulary has one (control or user-defined). */
function specialToken(model: LlamaModel, text: string): Token | undefined {
  const ids = model.tokenize(text, true);
  return ids.length === 1 ? ids[0] : undefined;
}

// SentencePiece vocabularies prefix a text with a space; text that continues other text must not get it. Code
// Llama's reference (encode_infilling) tokenizes this mark before the text and drops the mark's tokens;
// node-llama-cpp's "trimLeadingSpace" does not remove the space before a leading newline.
const CONTINUATION_MARK = "\u263a";

/** Tokens of `text` as a continuation: without SentencePiece's leading space. */
function continuationTokens(model: LlamaModel, text: string, specialTokens = false): Token[] {
  if (!text) return [];
  const mark = model.tokenize(CONTINUATION_MARK);
  const all = model.tokenize(CONTINUATION_MARK + text, specialTokens);
  return mark.length && mark.every((t, i) => all[i] === t) ? all.slice(mark.length) : model.tokenize(text, specialTokens);
}

/**
 * The model's tokenizer for one chat prompt, with continuations (the pieces of a template after the first)
 * done as above. The text right after BOS starts the document and keeps SentencePiece's space, as in the
 * families' reference tokenizations ("<s>[INST]" is BOS then "▁[").
 */
function chatTokenizer(model: LlamaModel): LlamaModel["tokenizer"] {
  const base = model.tokenizer;
  let onlyBos = false;
  let empty = true;
  const tokenize = (text: string, specialTokens?: boolean | "builtin", options?: "trimLeadingSpace") => {
    const tokens =
      typeof specialTokens === "string"
        ? base(text as "BOS", specialTokens)
        : options === "trimLeadingSpace" && !onlyBos
          ? continuationTokens(model, text, specialTokens)
          : base(text, specialTokens, onlyBos ? undefined : options);
    if (tokens.length) {
      onlyBos = empty && specialTokens === "builtin" && text === "BOS";
      empty = false;
    }
    return tokens;
  };
  return Object.assign(tokenize, { detokenize: base.detokenize, isSpecialToken: base.isSpecialToken, isEogToken: base.isEogToken }) as LlamaModel["tokenizer"];
}

/** The repository-name and file-separator tokens, when the vocabulary has both of one family. */
function resolveRepositoryTokens(model: LlamaModel): { repo: Token; file: Token } | null {
  for (const [repoText, fileText] of REPOSITORY_TOKENS) {
    const repo = specialToken(model, repoText);
    const file = specialToken(model, fileText);
    if (repo !== undefined && file !== undefined) return { repo, file };
  }
  return null;
}

export class PromptBuilder {
  private readonly fim: FimTokens | null;
  private readonly repository: { repo: Token; file: Token } | null;
  /** Tokens that end a completion besides llama.cpp's end-of-generation tokens. */
  readonly stopTokens: ReadonlySet<Token>;
  private chatWrapper: ReturnType<Nlc["resolveChatWrapper"]> | null = null;

  constructor(
    private readonly nlc: Nlc,
    private readonly model: LlamaModel,
    private readonly modelPath: string,
  ) {
    this.fim = resolveFimTokens(model);
    this.repository = resolveRepositoryTokens(model);
    this.stopTokens = new Set(END_MARKERS.map((t) => specialToken(model, t)).filter((t) => t !== undefined));
  }

  get hasFim(): boolean {
    return this.fim !== null;
  }

  /** Whether the GGUF carries a chat template; without one the model is a base model (resolveChatWrapper guesses). */
  get hasChatTemplate(): boolean {
    return typeof this.model.fileInfo.metadata.tokenizer?.chat_template === "string";
  }

  /** Tokens of `prompt` as seen by `policy` (undefined: the reference policy pi_0). */
  tokens(prompt: PromptSpec, policy?: PolicySpec): Token[] {
    const seen = policyPrompt(prompt, policy);
    switch (seen.kind) {
      case "raw":
        return this.withBos(this.model.tokenize(seen.text));
      case "fim": {
        if (!this.fim) throw noFim(this.modelPath);
        let prefix = seen.prefix;
        const context = seen.context ?? [];
        if (context.length && !this.repository) prefix = formatChunks(context, seen.language ?? "") + prefix;
        return this.withBos([
          ...(context.length ? this.repositoryContext(seen) : []),
          this.fim.prefix,
          ...this.model.tokenize(prefix),
          this.fim.suffix,
          // The suffix continues the text: no SentencePiece leading space (Code Llama's documented format).
          ...continuationTokens(this.model, seen.suffix),
          this.fim.middle,
          ...continuationTokens(this.model, seen.middle ?? ""),
        ]);
      }
      case "chat": {
        this.chatWrapper ??= this.nlc.resolveChatWrapper(this.model);
        const messages = seen.messages.map((m) =>
          m.role === "assistant"
            ? { type: "model" as const, response: [m.content] }
            : { type: m.role, text: m.content },
        );
        messages.push({ type: "model", response: [] });
        const state = this.chatWrapper.generateContextState({ chatHistory: messages });
        const tokens = state.contextText.tokenize(chatTokenizer(this.model));
        // node-llama-cpp's wrappers open with BOS even where the model says not to add one (Qwen's ChatML).
        const bos = this.model.tokens.bos;
        return !this.model.tokens.shouldPrependBosToken && bos != null && tokens[0] === bos ? tokens.slice(1) : tokens;
      }
    }
  }

  /**
   * Other files in the repository-level format of Qwen2.5-Coder and StarCoder2:
   * `<repo_name>REPO\n<file_sep>PATH\nTEXT\n ... <file_sep>PATH\n` before the FIM prompt of the current file.
   */
  private repositoryContext(prompt: Extract<PromptSpec, { kind: "fim" }>): Token[] {
    if (!this.repository) return [];
    const { repo, file } = this.repository;
    const text = (t: string) => continuationTokens(this.model, t);
    const out: Token[] = prompt.repo ? [repo, ...text(`${prompt.repo}\n`)] : [];
    for (const c of prompt.context ?? []) out.push(file, ...text(`${c.file}\n${c.text}${c.text.endsWith("\n") ? "" : "\n"}`));
    if (prompt.file) out.push(file, ...text(`${prompt.file}\n`));
    return out;
  }

  private withBos(tokens: Token[]): Token[] {
    const bos = this.model.tokens.bos;
    return this.model.tokens.shouldPrependBosToken && bos != null ? [bos, ...tokens] : tokens;
  }
}

/**
 * The prompt as `policy` sees it: a prompted expert's exemplar or header goes before the code of FIM and raw
 * prompts (see styledCode) and its instruction joins the system message of chat prompts; pi_0 and adapter experts
 * see the prompt unchanged.
 */
export function policyPrompt(prompt: PromptSpec, policy?: PolicySpec): PromptSpec {
  if (policy?.kind !== "prompted") return prompt;
  switch (prompt.kind) {
    case "raw":
      return { ...prompt, text: styledCode(prompt.text, policy, prompt.language) };
    case "fim":
      return { ...prompt, prefix: styledCode(prompt.prefix, policy, prompt.language) };
    case "chat": {
      const messages = [...prompt.messages];
      const sys = messages.findIndex((m) => m.role === "system");
      if (sys >= 0) messages[sys] = { role: "system", content: `${messages[sys].content}\n${policy.chat}` };
      else messages.unshift({ role: "system", content: policy.chat });
      return { kind: "chat", messages };
    }
  }
}

/**
 * Code as a prompted expert sees it: its exemplar before it (code earlier in the same file, which a base model
 * continues in its style), or its header in the language's comment syntax where the pack gives no exemplars.
 */
function styledCode(code: string, policy: Extract<PolicySpec, { kind: "prompted" }>, language: string | undefined): string {
  const exemplar = fimExemplar(policy.exemplars, language);
  if (exemplar !== undefined) return exemplar ? `${exemplar}\n\n${code}` : code;
  return language ? applyFimHeader(code, policy.fim, language) : `${policy.fim}\n${code}`;
}

export function noFim(model: string): EngineError {
  return new EngineError(
    "bad-request",
    `${model}: this model has no fill-in-the-middle tokens (none in its GGUF metadata and no known FIM template); use a code model with FIM support for completions`,
  );
}
