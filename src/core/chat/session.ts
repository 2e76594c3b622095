// The conversation: the chat's questions and answers with their context budget, the A/B scheduler's decision
// between one streamed answer and a pair to compare, each answer's contributions (which dimensions drove it), the
// posterior's uncertainty it is decided on, and feedback (thumbs, A/B picks) recorded with the phi of exactly the
// rated text. Written against the Generator and PosteriorView interfaces; the page only sees its updates.
import { randomUUID } from "node:crypto";
import type { AttachMode, ChatTurn, ChatUpdate, Contribution } from "../../shared/chat";
import type { ChatMessage, GenerateParams, PromptSpec } from "../../shared/generation";
import type { SoupMode } from "../../shared/soup";
import { planSoup } from "../soup/mode";
import type { FeedbackSink, RatedText } from "../soup/recorder";
import type { Generator, PipelineLog, PosteriorView } from "../soup/weights";
import { afterAnswer, afterComparison, decideComparison, DEFAULT_AB_SETTINGS, type DimensionUncertainty } from "./ab";
import type { ChatHistory } from "./history";

export const SYSTEM_PROMPT = "You are a coding assistant inside VS Code. Answer in Markdown; put code in fenced blocks with a language tag.";
/** Characters per token, roughly, for fitting the conversation into the context without a tokenizer round trip. */
export const CHARS_PER_TOKEN = 3;
const NO_MODEL = "No model is loaded: run “Spectral Soup: Set Up Model” first.";

export interface ChatSettings {
  maxTokens: number;
  /** A/B comparisons: offered only on an uncertain, relevant dimension, and never more often than this allows. */
  comparisons: boolean;
  comparisonMinAnswers: number;
  comparisonMinMinutes: number;
}

export interface ChatSessionSettings {
  chat: ChatSettings;
  soupMode: SoupMode | "auto";
  exploration: boolean;
  load: { contextSize: number };
}

export interface ChatSessionOptions {
  history: ChatHistory;
  generator: Generator;
  weights: PosteriorView;
  feedback: FeedbackSink;
  settings: () => ChatSessionSettings;
  /** Dimension labels by policy id, as the basis pack names them. */
  labels: () => Record<string, string>;
  log: PipelineLog;
  /** Everything the page shows, in order. */
  onUpdate: (update: ChatUpdate) => void;
  /** Epoch ms (the A/B scheduler's rate limit). */
  now?: () => number;
}

/** What is remembered about an answer in this session: enough to rate it without asking the engine again. */
interface AnswerRecord {
  prompt: PromptSpec;
  /** phi in basis order; null when the engine gave none (a stopped answer, parameter mode): scored on feedback. */
  features: number[] | null;
}

interface Side extends AnswerRecord {
  answerId: string;
  text: string;
  contributions: Contribution[];
}

export class ChatSession {
  private running: AbortController | undefined;
  private readonly answers = new Map<string, AnswerRecord>();
  /** User turns' full text as sent (with the attached selection or file), which the history does not keep. */
  private readonly sent = new WeakMap<ChatTurn, string>();
  private comparison: { id: string; sides: { a: Side; b: Side } } | undefined;
  private readonly now: () => number;

  constructor(private readonly o: ChatSessionOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The whole conversation again (a page that was reloaded or shown). */
  showHistory(): void {
    this.o.onUpdate({ type: "history", turns: [...this.o.history.turns] });
  }

  /** A question; `attachment` is the selection or file it was asked about, as a fenced block ("" for none). */
  async send(text: string, attach: AttachMode, attachment: string): Promise<void> {
    if (this.running) throw new Error("An answer is still being written: stop it first.");
    const turn: ChatTurn = { role: "user", text, attach };
    this.sent.set(turn, attachment ? `${text}\n\n${attachment}` : text);
    await this.o.history.append(turn);
    this.comparison = undefined;
    this.showHistory();
    await this.answer(this.prompt());
  }

  /** Another answer to the last question, with a fresh weight draw when exploring. */
  async regenerate(): Promise<void> {
    if (this.running) throw new Error("An answer is still being written: stop it first.");
    const turns = this.o.history.turns;
    const last = turns.map((t) => t.role).lastIndexOf("user");
    if (last < 0) throw new Error("Nothing to regenerate yet: ask a question first.");
    await this.answer(this.prompt(turns.slice(0, last + 1)));
  }

  /** Stops the answer or the A/B pair being written. */
  stop(): void {
    this.running?.abort();
  }

  async clear(): Promise<void> {
    this.running?.abort();
    this.comparison = undefined;
    await this.o.history.clear();
    this.showHistory();
  }

  async rate(answerId: string, up: boolean): Promise<void> {
    const turns = this.o.history.turns;
    const i = turns.findIndex((t) => t.role === "assistant" && t.answerId === answerId);
    const turn = turns[i];
    if (!turn || turn.role !== "assistant") throw new Error("That answer is no longer in the history.");
    // After a reload the session's phi is gone: the prompt is rebuilt from the history before the answer.
    const known = this.answers.get(answerId) ?? { prompt: this.prompt(turns.slice(0, i)), features: null };
    const done = await this.o.feedback.record({ type: "rating", up, surface: "chat", signal: "thumb", response: rated(known, turn.text) });
    await this.o.history.rate(answerId, up);
    this.o.log.info(`chat: thumb ${up ? "up" : "down"} ${done === "waiting" ? "kept until the engine can score it" : "recorded"}`);
  }

  async choose(comparisonId: string, pick: "a" | "b"): Promise<void> {
    const c = this.comparison;
    if (!c || c.id !== comparisonId) throw new Error("That comparison is no longer open.");
    this.comparison = undefined;
    const winner = c.sides[pick];
    const loser = c.sides[pick === "a" ? "b" : "a"];
    const done = await this.o.feedback.record({ type: "choice", winner: rated(winner, winner.text), loser: rated(loser, loser.text) });
    this.answers.set(winner.answerId, { prompt: winner.prompt, features: winner.features });
    await this.o.history.append({ role: "assistant", answerId: winner.answerId, text: winner.text, contributions: winner.contributions });
    this.o.log.info(`chat: A/B pick ${pick} ${done === "waiting" ? "kept until the engine can score it" : "recorded as a choice"}`);
    this.showHistory();
  }

  /** Either one streamed answer or, when the scheduler says the posterior should be asked, an A/B pair. */
  private async answer(prompt: PromptSpec): Promise<void> {
    const s = this.o.settings();
    const decision = decideComparison(
      this.uncertainties(),
      this.o.history.ab,
      { ...DEFAULT_AB_SETTINGS, enabled: s.chat.comparisons, minAnswersBetween: s.chat.comparisonMinAnswers, minMinutesBetween: s.chat.comparisonMinMinutes },
      this.now(),
    );
    this.o.log.info(`chat: ${decision.offer ? "A/B comparison" : "answer"} (${decision.reason})`);
    const abort = new AbortController();
    this.running = abort;
    try {
      if (decision.offer) await this.compare(prompt, decision.dimension, abort.signal);
      else await this.stream(prompt, this.o.weights.weights(s.exploration), abort.signal);
    } finally {
      this.running = undefined;
    }
  }

  private async stream(prompt: PromptSpec, weights: Record<string, number>, signal: AbortSignal): Promise<void> {
    const answerId = randomUUID();
    this.o.onUpdate({ type: "answerStart", answerId });
    let text = "";
    let features: number[] | null = null;
    let stopped = false;
    try {
      const result = await this.o.generator.generate(this.params(prompt, weights), {
        signal,
        onToken: (t) => {
          text += t;
          this.o.onUpdate({ type: "answerDelta", answerId, text: t });
        },
      });
      if (!result) throw new Error(NO_MODEL);
      text = result.text;
      features = result.features ? this.o.weights.vector(result.features) : null;
    } catch (e) {
      if (!signal.aborted) {
        this.o.onUpdate({ type: "answerEnd", answerId, contributions: [], stopped: true });
        throw e;
      }
      stopped = true;
    }
    const contributions = this.contributions(features, weights);
    this.answers.set(answerId, { prompt, features });
    this.o.onUpdate({ type: "answerEnd", answerId, contributions, stopped });
    await this.o.history.append({ role: "assistant", answerId, text, contributions });
    await this.o.history.setAb(afterAnswer(this.o.history.ab));
  }

  /** Two answers from two Thompson draws, shown side by side; the pick becomes a choice event. */
  private async compare(prompt: PromptSpec, dimension: string, signal: AbortSignal): Promise<void> {
    this.o.onUpdate({ type: "busy", busy: true });
    try {
      const side = async (): Promise<Side> => {
        const weights = this.o.weights.weights(true);
        const r = await this.o.generator.generate(this.params(prompt, weights), { signal });
        if (!r) throw new Error(NO_MODEL);
        const features = r.features ? this.o.weights.vector(r.features) : null;
        return { answerId: randomUUID(), text: r.text, prompt, features, contributions: this.contributions(features, weights) };
      };
      // One after the other: the engine serializes requests anyway, and the second can reuse the prompt cache.
      const a = await side();
      const b = await side();
      this.comparison = { id: randomUUID(), sides: { a, b } };
      // Offered counts, picked or not: the rate limit is about the user's attention.
      await this.o.history.setAb(afterComparison(this.now()));
      this.o.onUpdate({
        type: "comparison",
        comparisonId: this.comparison.id,
        dimension: this.o.labels()[dimension] ?? dimension,
        a: { answerId: a.answerId, text: a.text },
        b: { answerId: b.answerId, text: b.text },
      });
    } catch (e) {
      if (!signal.aborted) throw e;
    } finally {
      this.o.onUpdate({ type: "busy", busy: false });
    }
  }

  /** The conversation as chat messages, newest last, as much as fits the context next to the answer. */
  private prompt(turns: readonly ChatTurn[] = this.o.history.turns): PromptSpec {
    const s = this.o.settings();
    let budget = (s.load.contextSize - s.chat.maxTokens) * CHARS_PER_TOKEN - SYSTEM_PROMPT.length;
    const messages: ChatMessage[] = [];
    for (let i = turns.length - 1; i >= 0; i--) {
      const t = turns[i]!;
      const content = t.role === "user" ? (this.sent.get(t) ?? t.text) : t.text;
      // The newest question is always sent, even if the engine has to truncate it.
      if (messages.length && content.length > budget) break;
      budget -= content.length;
      messages.unshift({ role: t.role, content });
    }
    return { kind: "chat", messages: [{ role: "system", content: SYSTEM_PROMPT }, ...messages] };
  }

  private params(prompt: PromptSpec, weights: Record<string, number>): GenerateParams {
    const s = this.o.settings();
    // Chat streams one answer, so rerank (several whole candidates first) is for completions only; parameter mode
    // computes phi only when asked, and the chat always wants it for the contribution hint.
    const chosen = planSoup(s.soupMode, "chat", this.o.generator.policies, weights).mode;
    const mode: SoupMode = chosen === "rerank" ? "explicit" : chosen;
    return { prompt, mode, weights, maxTokens: s.chat.maxTokens, temperature: 0.3, ...(mode === "parameter" ? { withFeatures: true } : {}) };
  }

  /** w_k phi_k for the weights the answer was generated with: the hint of which dimensions drove it. */
  private contributions(features: number[] | null, weights: Record<string, number>): Contribution[] {
    if (!features) return [];
    const labels = this.o.labels();
    return this.o.weights.policyIds.map((id, k) => ({ id, label: labels[id] ?? id, value: (weights[id] ?? 0) * features[k]! }));
  }

  /** Relevance: |mean| or |phi| of the latest answer, whichever says more about how much the dimension moves answers. */
  private uncertainties(): DimensionUncertainty[] {
    const w = this.o.weights;
    const mean = w.mean();
    const std = w.std();
    const last = [...this.o.history.turns].reverse().find((t) => t.role === "assistant");
    const phi = last?.role === "assistant" ? this.answers.get(last.answerId)?.features : undefined;
    return w.policyIds.map((id, k) => ({
      id,
      std: std[id]!,
      relevance: Math.max(Math.abs(mean[id]!), Math.abs(phi?.[k] ?? 0)),
      locked: w.isLocked(id),
    }));
  }
}

/** An answer as feedback sees it: its phi when generation gave one, else its prompt, to be scored. */
function rated(a: AnswerRecord, text: string): RatedText {
  return a.features ? { text, features: a.features } : { text, prompt: a.prompt };
}
