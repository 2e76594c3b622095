// What the user did with an inline completion, as a rating for the posterior. A small state machine the
// editor adapter drives with what it observes; it holds one shown suggestion at a time and reports an
// outcome when that suggestion's fate is known:
//   accepted in full (Tab, or typed through to the end)  -> accepted,  up
//   part taken (word/line accept or typed through), then left -> partial, up
//   left untouched (Escape, cursor moved, replaced)        -> dismissed, down
//   user typed something else before taking any of it     -> typedOver, down
import { DEFAULT_CONFIDENCE, type RatingFeedback, type RatingSignal } from "../adapt/feedback";

export type CompletionSignal = Extract<RatingSignal, "accepted" | "partial" | "dismissed" | "typedOver">;

export type CompletionEvent =
  /** A suggestion became visible. `features` are phi of `text` (null when the engine did not compute them). */
  | { type: "shown"; id: string; text: string; features: number[] | null }
  /** The rest of the shown suggestion was accepted (Tab). */
  | { type: "accepted" }
  /** Word or line accept: `length` more characters of the suggestion were taken. */
  | { type: "partiallyAccepted"; length: number }
  /**
   * The user inserted `text` at the cursor while the suggestion was shown, replacing the `replaced` characters
   * before it (0 or absent: a plain insertion).
   */
  | { type: "typed"; text: string; replaced?: number }
  /** Escape, the cursor moved away, the editor changed. */
  | { type: "dismissed" };

export interface CompletionOutcome {
  id: string;
  /** The suggestion as first shown: what `features` describe. */
  text: string;
  /** Share of the suggestion's characters the user took. */
  acceptedFraction: number;
  /** For the posterior; with null features, score `text` with the engine first. */
  rating: Omit<RatingFeedback, "features"> & { features: number[] | null; signal: CompletionSignal; confidence: number };
}

interface Pending {
  id: string;
  text: string;
  features: number[] | null;
  /** Characters of `text` already taken by partial accepts or typing through. */
  taken: number;
}

export class CompletionFeedback {
  private pending: Pending | undefined;
  private readonly confidence: Record<CompletionSignal, number>;

  constructor(confidence: Partial<Record<CompletionSignal, number>> = {}) {
    this.confidence = {
      accepted: DEFAULT_CONFIDENCE.accepted,
      partial: DEFAULT_CONFIDENCE.partial,
      dismissed: DEFAULT_CONFIDENCE.dismissed,
      typedOver: DEFAULT_CONFIDENCE.typedOver,
      ...confidence,
    };
  }

  /** The suggestion awaiting its outcome, if any. */
  get shown(): { id: string; remaining: string } | undefined {
    return this.pending && { id: this.pending.id, remaining: this.pending.text.slice(this.pending.taken) };
  }

  /** Feeds one editor event; returns the outcome it settled, if any. */
  handle(event: CompletionEvent): CompletionOutcome | undefined {
    const p = this.pending;
    if (event.type === "shown") {
      // The same suggestion again, or the cache serving its rest after typing through: still one episode.
      if (p && (event.id === p.id || event.text === p.text.slice(p.taken))) return undefined;
      this.pending = { id: event.id, text: event.text, features: event.features, taken: 0 };
      return p && this.settle(p, p.taken > 0 ? "partial" : "dismissed");
    }
    if (!p) return undefined;
    switch (event.type) {
      case "accepted":
        p.taken = p.text.length;
        return this.settle(p, "accepted");
      case "partiallyAccepted":
        p.taken = Math.min(p.text.length, p.taken + Math.max(0, event.length));
        return p.taken === p.text.length ? this.settle(p, "accepted") : undefined;
      case "typed": {
        // VS Code accepts a suggestion typed partly through (its Tab indents first) by writing the taken part again
        // with the rest: what is new is the text after the part it replaced.
        const replaced = event.replaced ?? 0;
        const again = replaced > 0 && replaced <= p.taken && event.text.startsWith(p.text.slice(p.taken - replaced, p.taken));
        const text = again ? event.text.slice(replaced) : event.text;
        if (!p.text.startsWith(text, p.taken)) return this.settle(p, p.taken > 0 ? "partial" : "typedOver");
        p.taken += text.length;
        return p.taken === p.text.length ? this.settle(p, "accepted") : undefined;
      }
      case "dismissed":
        return this.settle(p, p.taken > 0 ? "partial" : "dismissed");
    }
  }

  private settle(p: Pending, signal: CompletionSignal): CompletionOutcome {
    if (this.pending === p) this.pending = undefined;
    return {
      id: p.id,
      text: p.text,
      acceptedFraction: p.text.length ? p.taken / p.text.length : 0,
      rating: {
        type: "rating",
        up: signal === "accepted" || signal === "partial",
        signal,
        confidence: this.confidence[signal],
        surface: "completion",
        features: p.features,
      },
    };
  }
}
