// The conversation: the chat's questions and answers with their context budget, the A/B scheduler's decision
// between one streamed answer and a pair to compare, each answer's contributions (which dimensions drove it), the
// posterior's uncertainty it is decided on, and feedback (thumbs, A/B picks) recorded with the phi of exactly the
// rated text. A model without a chat template (a base code model) is asked in code instead (see code.ts), and
// feedback on its answers rates the model's continuation, not the fence around it. Written against the Generator
// and PosteriorView interfaces; the page only sees its updates.
import { randomUUID } from "node:crypto";
import type { AttachMode, ChatEditor, ChatTurn, ChatUpdate, Contribution } from "../../shared/chat";
import type { ChatMessage, GenerateParams, PromptSpec } from "../../shared/generation";
import type { SoupMode } from "../../shared/soup";
import { planSoup } from "../soup/mode";
import type { FeedbackSink, RatedText } from "../soup/recorder";
import type { Generator, PipelineLog, PosteriorView } from "../soup/weights";
import { afterAnswer, afterComparison, decideComparison, DEFAULT_AB_SETTINGS, type DimensionUncertainty } from "./ab";
import { BASE_MODEL_NOTICE, closingFence, CODE_ANSWER_STOP, codePrompt, fence, openingFence, unfence } from "./code";
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
  /** A base code model reads the attached code as a completion reads its prefix: this many lines of it at most. */
  completions: { prefixLines: number };
}

export interface ChatSessionOptions {
  history: ChatHistory;
  generator: Generator;
  weights: PosteriorView;
  feedback: FeedbackSink;
  settings: () => ChatSessionSettings;
  /**
   * Whether the loaded model has a chat template, once its load is done: false is a base model, asked in code;
   * null (unknown, or no model) keeps the chat prompt. Without it every model is asked in chat.
   */
  chatTemplate?: () => Promise<boolean | null>;
  /** Dimension labels by policy id, as the basis pack names them. */
  labels: () => Record<string, string>;
  log: PipelineLog;
  /** Everything the page shows, in order. */
  onUpdate: (update: ChatUpdate) => void;
  /** Epoch ms (the A/B scheduler's rate limit). */
  now?: () => number;
}

/** A prompt and, for a base code model, the language its answer is shown in as code. */
interface Ask {
  prompt: PromptSpec;
  code?: { language: string };
}

/** What is remembered about an answer in this session: enough to rate it without asking the engine again. */
interface AnswerRecord extends Ask {
  /** phi in basis order; null when the engine gave none (a stopped answer, parameter mode): scored on feedback. */
  features: number[] | null;
}

interface Side extends AnswerRecord {
  answerId: string;
  /** The model's text (unfenced). */
  text: string;
  contributions: Contribution[];
}

export class ChatSession {
  private running: AbortController | undefined;
  private readonly answers = new Map<string, AnswerRecord>();
  /** The editor each question was asked from (its language and the attached code), which the history does not keep. */
  private readonly editors = new WeakMap<ChatTurn, ChatEditor>();
  /** The loaded model was a base code model at the last question: the page says so above the conversation. */
  private baseModel = false;
  private comparison: { id: string; sides: { a: Side; b: Side } } | undefined;
  private readonly now: () => number;

  constructor(private readonly o: ChatSessionOptions) {
    this.now = o.now ?? Date.now;
  }

  /** A page that was reloaded or shown: the conversation, then the notice once the engine says it is a base model. */
  async pageShown(): Promise<void> {
    this.showHistory();
    await this.isBaseModel();
  }

  /** The whole conversation again. */
  showHistory(): void {
    this.o.onUpdate({ type: "history", turns: [...this.o.history.turns], ...(this.baseModel ? { notice: BASE_MODEL_NOTICE } : {}) });
  }

  /** A question asked from `editor` (null: none open); its code is the selection or file `attach` names. */
  async send(text: string, attach: AttachMode, editor: ChatEditor | null): Promise<void> {
    if (this.running) throw new Error("An answer is still being written: stop it first.");
    const turn: ChatTurn = { role: "user", text, attach };
    if (editor) this.editors.set(turn, attach === "none" ? { ...editor, code: "" } : editor);
    await this.o.history.append(turn);
    this.comparison = undefined;
    this.showHistory();
    await this.answer(await this.ask());
  }

  /** Another answer to the last question, with a fresh weight draw when exploring. */
  async regenerate(): Promise<void> {
    if (this.running) throw new Error("An answer is still being written: stop it first.");
    const turns = this.o.history.turns;
    const last = turns.map((t) => t.role).lastIndexOf("user");
    if (last < 0) throw new Error("Nothing to regenerate yet: ask a question first.");
    await this.answer(await this.ask(turns.slice(0, last + 1)));
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
    const known = this.answers.get(answerId) ?? { ...this.askAs(turns.slice(0, i), turn.code), features: this.savedFeatures(turn.features) };
    const done = await this.o.feedback.record({ type: "rating", up, surface: "chat", signal: "thumb", response: rated(known, turn.code ? unfence(turn.text) : turn.text) });
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
    this.answers.set(winner.answerId, { prompt: winner.prompt, features: winner.features, ...(winner.code ? { code: winner.code } : {}) });
    await this.o.history.append({ role: "assistant", answerId: winner.answerId, text: shown(winner), contributions: winner.contributions, ...(winner.code ? { code: winner.code } : {}), ...this.byId(winner.features) });
    this.o.log.info(`chat: A/B pick ${pick} ${done === "waiting" ? "kept until the engine can score it" : "recorded as a choice"}`);
    this.showHistory();
  }

  /** Either one streamed answer or, when the scheduler says the posterior should be asked, an A/B pair. */
  private async answer(ask: Ask): Promise<void> {
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
      if (decision.offer) await this.compare(ask, decision.dimension, abort.signal);
      else await this.stream(ask, this.o.weights.weights(s.exploration), abort.signal);
    } finally {
      this.running = undefined;
    }
  }

  private async stream(ask: Ask, weights: Record<string, number>, signal: AbortSignal): Promise<void> {
    const answerId = randomUUID();
    this.o.onUpdate({ type: "answerStart", answerId });
    // A code answer streams inside a fence opened now; should the finished code need a longer fence, the page
    // is shown the history (with the right one) once the answer is kept.
    const open = ask.code ? openingFence("", ask.code.language) : "";
    if (open) this.o.onUpdate({ type: "answerDelta", answerId, text: `${open}\n` });
    let text = "";
    let features: number[] | null = null;
    let stopped = false;
    try {
      const result = await this.o.generator.generate(this.params(ask, weights), {
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
    const record: AnswerRecord = { ...ask, features };
    this.answers.set(answerId, record);
    if (open) this.o.onUpdate({ type: "answerDelta", answerId, text: `\n${closingFence(open)}` });
    this.o.onUpdate({ type: "answerEnd", answerId, contributions, stopped });
    const answer = shown({ ...record, text });
    await this.o.history.append({ role: "assistant", answerId, text: answer, contributions, ...(ask.code ? { code: ask.code } : {}), ...this.byId(features) });
    await this.o.history.setAb(afterAnswer(this.o.history.ab));
    if (open && !answer.startsWith(`${open}\n`)) this.showHistory();
  }

  /** Two answers from two Thompson draws, shown side by side; the pick becomes a choice event. */
  private async compare(ask: Ask, dimension: string, signal: AbortSignal): Promise<void> {
    this.o.onUpdate({ type: "busy", busy: true });
    try {
      const side = async (): Promise<Side> => {
        const weights = this.o.weights.weights(true);
        const r = await this.o.generator.generate(this.params(ask, weights), { signal });
        if (!r) throw new Error(NO_MODEL);
        const features = r.features ? this.o.weights.vector(r.features) : null;
        return { ...ask, answerId: randomUUID(), text: r.text, features, contributions: this.contributions(features, weights) };
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
        a: { answerId: a.answerId, text: shown(a) },
        b: { answerId: b.answerId, text: shown(b) },
      });
    } catch (e) {
      if (!signal.aborted) throw e;
    } finally {
      this.o.onUpdate({ type: "busy", busy: false });
    }
  }

  /** Whether the loaded model has no chat template; the page is shown the history again when that changes. */
  private async isBaseModel(): Promise<boolean> {
    const baseModel = (await this.o.chatTemplate?.()) === false;
    if (baseModel !== this.baseModel) {
      this.baseModel = baseModel;
      this.showHistory();
    }
    return baseModel;
  }

  /**
   * The prompt for the conversation up to its newest question, in the way the loaded model is asked: chat messages,
   * or code for a base code model (the page is told when that changes).
   */
  private async ask(turns: readonly ChatTurn[] = this.o.history.turns): Promise<Ask> {
    const baseModel = await this.isBaseModel();
    const last = lastQuestion(turns);
    return this.askAs(turns, baseModel ? { language: (last && this.editors.get(last)?.language) ?? "" } : undefined);
  }

  /** The prompt for `turns` as chat, or as code in `code.language`. */
  private askAs(turns: readonly ChatTurn[], code: { language: string } | undefined): Ask {
    return code ? { prompt: this.codePrompt(turns, code.language), code } : { prompt: this.chatPrompt(turns) };
  }

  /**
   * The newest question and its attached code, for a base code model: it continues one file, so the earlier
   * conversation is not sent.
   */
  private codePrompt(turns: readonly ChatTurn[], language: string): PromptSpec {
    const s = this.o.settings();
    const question = lastQuestion(turns);
    const code = (question && this.editors.get(question)?.code) ?? "";
    return codePrompt(question?.text ?? "", language, code, { chars: (s.load.contextSize - s.chat.maxTokens) * CHARS_PER_TOKEN, lines: s.completions.prefixLines });
  }

  /** The conversation as chat messages, newest last, as much as fits the context next to the answer. */
  private chatPrompt(turns: readonly ChatTurn[]): PromptSpec {
    const s = this.o.settings();
    let budget = (s.load.contextSize - s.chat.maxTokens) * CHARS_PER_TOKEN - SYSTEM_PROMPT.length;
    const messages: ChatMessage[] = [];
    for (let i = turns.length - 1; i >= 0; i--) {
      const t = turns[i]!;
      const content = t.role === "user" ? asked(t, this.editors.get(t)) : t.text;
      // The newest question is always sent, even if the engine has to truncate it.
      if (messages.length && content.length > budget) break;
      budget -= content.length;
      messages.unshift({ role: t.role, content });
    }
    return { kind: "chat", messages: [{ role: "system", content: SYSTEM_PROMPT }, ...messages] };
  }

  private params(ask: Ask, weights: Record<string, number>): GenerateParams {
    const s = this.o.settings();
    // Chat streams one answer, so rerank (several whole candidates first) is for completions only; parameter mode
    // computes phi only when asked, and the chat always wants it for the contribution hint.
    const chosen = planSoup(s.soupMode, "chat", this.o.generator.policies, weights).mode;
    const mode: SoupMode = chosen === "rerank" ? "explicit" : chosen;
    return {
      prompt: ask.prompt,
      mode,
      weights,
      maxTokens: s.chat.maxTokens,
      temperature: 0.3,
      ...(ask.code ? { stop: [CODE_ANSWER_STOP] } : {}),
      ...(mode === "parameter" ? { withFeatures: true } : {}),
    };
  }

  /** phi by policy id, as the history keeps it (nothing when the engine gave none). */
  private byId(features: number[] | null): { features?: Record<string, number> } {
    return features ? { features: Object.fromEntries(this.o.weights.policyIds.map((id, k) => [id, features[k]!])) } : {};
  }

  /** A saved phi, when it was made under the current basis' policies (else the text is scored again). */
  private savedFeatures(saved: Record<string, number> | undefined): number[] | null {
    const ids = this.o.weights.policyIds;
    return saved && ids.length > 0 && ids.every((id) => id in saved) && Object.keys(saved).length === ids.length ? this.o.weights.vector(saved) : null;
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

/** A question as a chat model is sent it: with the attached selection or file as a fenced block, named. */
function asked(turn: Extract<ChatTurn, { role: "user" }>, editor: ChatEditor | undefined): string {
  if (!editor?.code) return turn.text;
  const marks = editor.code.includes("```") ? "~~~~" : "```";
  return `${turn.text}\n\n${turn.attach === "file" ? "File" : "Selection from"} ${editor.file}:\n${marks}${editor.language}\n${editor.code}\n${marks}`;
}

/** The newest question in `turns`. */
function lastQuestion(turns: readonly ChatTurn[]): ChatTurn | undefined {
  return [...turns].reverse().find((t) => t.role === "user");
}

/** An answer as the page shows it and the history keeps it: a code answer in its fence. */
function shown(a: { text: string; code?: { language: string } }): string {
  return a.code ? fence(a.text, a.code.language) : a.text;
}

/** An answer as feedback sees it: its phi when generation gave one, else its prompt, to be scored. */
function rated(a: AnswerRecord, text: string): RatedText {
  return a.features ? { text, features: a.features } : { text, prompt: a.prompt };
}
