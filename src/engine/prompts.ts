// Turns a PromptSpec into the token sequence each basis policy sees. The reference policy pi_0 gets the
// plain prompt; a prompted expert gets its instruction (chat) or header (FIM / raw) added, so its
// next-token distribution is pi_k. Adapter experts see the plain prompt (their difference is in weights).
import type { LlamaModel, Token } from "node-llama-cpp";
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
    const ids = tpl.map((t) => model.tokenize(t, true));
    if (ids.every((x) => x.length === 1)) return { prefix: ids[0][0], suffix: ids[1][0], middle: ids[2][0] };
  }
  return null;
}

export class PromptBuilder {
  private readonly fim: FimTokens | null;
  private chatWrapper: ReturnType<Nlc["resolveChatWrapper"]> | null = null;

  constructor(
    private readonly nlc: Nlc,
    private readonly model: LlamaModel,
    private readonly modelPath: string,
  ) {
    this.fim = resolveFimTokens(model);
  }

  get hasFim(): boolean {
    return this.fim !== null;
  }

  /** Tokens of `prompt` as seen by `policy` (undefined: the reference policy pi_0). */
  tokens(prompt: PromptSpec, policy?: PolicySpec): Token[] {
    const seen = policyPrompt(prompt, policy);
    switch (seen.kind) {
      case "raw":
        return this.withBos(this.model.tokenize(seen.text));
      case "fim": {
        if (!this.fim) throw noFim(this.modelPath);
        return this.withBos([
          this.fim.prefix,
          ...this.model.tokenize(seen.prefix),
          this.fim.suffix,
          ...this.model.tokenize(seen.suffix),
          this.fim.middle,
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
        return state.contextText.tokenize(this.model.tokenizer);
      }
    }
  }

  private withBos(tokens: Token[]): Token[] {
    const bos = this.model.tokens.bos;
    return this.model.tokens.shouldPrependBosToken && bos != null ? [bos, ...tokens] : tokens;
  }
}

/**
 * The prompt as `policy` sees it: a prompted expert's header goes before the code of FIM and raw prompts (in the
 * language's comment syntax when known) and its instruction joins the system message of chat prompts; pi_0 and
 * adapter experts see the prompt unchanged.
 */
export function policyPrompt(prompt: PromptSpec, policy?: PolicySpec): PromptSpec {
  if (policy?.kind !== "prompted") return prompt;
  switch (prompt.kind) {
    case "raw":
      return { kind: "raw", text: `${policy.fim}\n${prompt.text}` };
    case "fim":
      return {
        ...prompt,
        prefix: prompt.language ? applyFimHeader(prompt.prefix, policy.fim, prompt.language) : `${policy.fim}\n${prompt.prefix}`,
      };
    case "chat": {
      const messages = [...prompt.messages];
      const sys = messages.findIndex((m) => m.role === "system");
      if (sys >= 0) messages[sys] = { role: "system", content: `${messages[sys].content}\n${policy.chat}` };
      else messages.unshift({ role: "system", content: policy.chat });
      return { kind: "chat", messages };
    }
  }
}

export function noFim(model: string): EngineError {
  return new EngineError(
    "bad-request",
    `${model}: this model has no fill-in-the-middle tokens (none in its GGUF metadata and no known FIM template); use a code model with FIM support for completions`,
  );
}
