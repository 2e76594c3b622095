// Incremental detokenization for streaming: emits text as tokens arrive, holding back what could still
// become a stop string or an incomplete UTF-8 character, and cuts the text at the first stop string.
// The tokens are detokenized after the prompt's last tokens: SentencePiece vocabularies drop the leading space
// of the first piece of a text, which is right at the start of a document and wrong for a continuation.
import type { LlamaModel, Token } from "node-llama-cpp";

export class OutputText {
  readonly tokens: Token[] = [];
  private text = "";
  private emitted = 0;
  private readonly holdBack: number;

  constructor(
    private readonly model: LlamaModel,
    private readonly stops: readonly string[],
    private readonly onText?: (delta: string) => void,
    /** The prompt the tokens continue (node-llama-cpp reads only its last few tokens). */
    private readonly context: readonly Token[] = [],
    /** Tokens that end the text (not added to it). */
    private readonly stopTokens: ReadonlySet<Token> = new Set(),
  ) {
    this.holdBack = Math.max(0, ...stops.map((s) => s.length - 1));
  }

  /** Adds a generated token; returns true when a stop token or stop string was reached. */
  push(token: Token): boolean {
    if (this.stopTokens.has(token)) return true;
    this.tokens.push(token);
    const full = this.model.detokenize(this.tokens, false, this.context);
    const from = Math.max(0, this.emitted - this.holdBack);
    let cut = -1;
    for (const s of this.stops) {
      const i = s ? full.indexOf(s, from) : -1;
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.text = full.slice(0, cut);
      this.flush(this.text.length);
      return true;
    }
    this.text = full;
    let safe = full.length - this.holdBack;
    if (full.endsWith("\uFFFD")) safe = Math.min(safe, full.length - 1);
    this.flush(safe);
    return false;
  }

  /** The final text; streams whatever was held back. */
  finish(): string {
    this.flush(this.text.length);
    return this.text;
  }

  private flush(upTo: number): void {
    if (upTo > this.emitted) {
      this.onText?.(this.text.slice(this.emitted, upTo));
      this.emitted = upTo;
    }
  }
}
