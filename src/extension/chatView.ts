// The chat side panel: the extension side of webview/chat.ts. Answers come from the same souped engine and
// personalized weights as completions; thumbs become rating events and A/B picks choice events for the workspace
// posterior, with the phi the engine returned for exactly that text. History and the A/B scheduler's state live in
// ChatHistory (per workspace, survives reloads); what the panel may show or send is webview/protocol/chat.ts.
import { randomUUID } from "node:crypto";
import * as vscode from "vscode";
import { afterAnswer, afterComparison, decideComparison, DEFAULT_AB_SETTINGS, type DimensionUncertainty } from "../core/chat/ab";
import type { ChatHistory } from "../core/chat/history";
import type { AttachMode, ChatTurn, Contribution } from "../shared/chat";
import type { ChatMessage, GenerateParams, PromptSpec } from "../shared/generation";
import type { SoupMode } from "../shared/soup";
import { parseFromChat, type FromChat, type ToChat } from "../../webview/protocol/chat";
import { planSoup } from "../core/soup/mode";
import type { EngineController } from "./engine";
import type { Preferences } from "./preferences";
import type { SoupSettings } from "./settings";
import { hostPage, post } from "./webviewHost";

export const CHAT_VIEW = "spectralSoup.chat";

const SYSTEM = "You are a coding assistant inside VS Code. Answer in Markdown; put code in fenced blocks with a language tag.";
/** Characters per token, roughly, for fitting the conversation into the context without a tokenizer round trip. */
const CHARS_PER_TOKEN = 3;

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

interface PendingComparison {
  id: string;
  sides: { a: Side; b: Side };
}

export class ChatView implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private running: AbortController | undefined;
  private readonly answers = new Map<string, AnswerRecord>();
  /** User turns' full text as sent (with the attached selection or file), which the history does not keep. */
  private readonly sent = new WeakMap<ChatTurn, string>();
  private comparison: PendingComparison | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly deps: {
      extensionUri: vscode.Uri;
      history: ChatHistory;
      engine: EngineController;
      preferences: () => Preferences;
      settings: () => SoupSettings;
      labels: () => Promise<Record<string, string>>;
      log: vscode.LogOutputChannel;
    },
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const page = { extensionUri: this.deps.extensionUri, name: "chat" as const, title: "Spectral Soup chat", log: this.deps.log, parse: parseFromChat };
    this.disposables.push(
      ...hostPage(view, page, (msg) => this.handle(msg), () => {
        this.view = undefined;
      }),
    );
  }

  /** Clears the conversation (the view's title bar button). */
  async clear(): Promise<void> {
    this.running?.abort();
    this.comparison = undefined;
    await this.deps.history.clear();
    this.postHistory();
  }

  dispose(): void {
    this.running?.abort();
    for (const d of this.disposables) d.dispose();
  }

  private async handle(msg: FromChat): Promise<void> {
    switch (msg.type) {
      case "ready":
        this.postHistory();
        return;
      case "send":
        return this.send(msg.text, msg.attach);
      case "stop":
        this.running?.abort();
        return;
      case "regenerate":
        return this.regenerate();
      case "clear":
        return this.clear();
      case "rate":
        return this.rate(msg.answerId, msg.up);
      case "choose":
        return this.choose(msg.comparisonId, msg.pick);
      case "copy":
        await vscode.env.clipboard.writeText(msg.code);
        return;
      case "insert":
      case "replace":
        return this.edit(msg.code, msg.type);
    }
  }

  private async send(text: string, attach: AttachMode): Promise<void> {
    if (this.running) throw new Error("An answer is still being written: stop it first.");
    const attachment = attach === "none" ? "" : this.attachment(attach);
    const turn: ChatTurn = { role: "user", text, attach };
    this.sent.set(turn, attachment ? `${text}\n\n${attachment}` : text);
    await this.deps.history.append(turn);
    this.comparison = undefined;
    this.postHistory();
    await this.answer(this.prompt());
  }

  /** Another answer to the last question, with a fresh weight draw when exploring. */
  private async regenerate(): Promise<void> {
    if (this.running) throw new Error("An answer is still being written: stop it first.");
    const turns = this.deps.history.turns;
    const last = turns.map((t) => t.role).lastIndexOf("user");
    if (last < 0) throw new Error("Nothing to regenerate yet: ask a question first.");
    await this.answer(this.prompt(turns.slice(0, last + 1)));
  }

  /** Either one streamed answer or, when the scheduler says the posterior should be asked, an A/B pair. */
  private async answer(prompt: PromptSpec): Promise<void> {
    const s = this.deps.settings();
    const prefs = this.deps.preferences();
    const decision = decideComparison(this.uncertainties(prefs), this.deps.history.ab, {
      ...DEFAULT_AB_SETTINGS,
      enabled: s.chat.comparisons,
      minAnswersBetween: s.chat.comparisonMinAnswers,
      minMinutesBetween: s.chat.comparisonMinMinutes,
    }, Date.now());
    this.deps.log.info(`chat: ${decision.offer ? "A/B comparison" : "answer"} (${decision.reason})`);
    const abort = new AbortController();
    this.running = abort;
    try {
      if (decision.offer) await this.compare(prompt, decision.dimension, abort.signal);
      else await this.stream(prompt, prefs.weights(s.exploration), abort.signal);
    } finally {
      this.running = undefined;
    }
  }

  private async stream(prompt: PromptSpec, weights: Record<string, number>, signal: AbortSignal): Promise<void> {
    const view = this.view?.webview;
    const answerId = randomUUID();
    if (view) void post<ToChat>(view, { type: "answerStart", answerId });
    let text = "";
    let features: number[] | null = null;
    let stopped = false;
    try {
      const result = await this.deps.engine.generate(this.params(prompt, weights), {
        signal,
        onToken: (t) => {
          text += t;
          if (this.view) void post<ToChat>(this.view.webview, { type: "answerDelta", answerId, text: t });
        },
      });
      if (!result) throw new Error("No model is loaded: run “Spectral Soup: Set Up Model” first.");
      text = result.text;
      features = result.features ? this.deps.preferences().vector(result.features) : null;
    } catch (e) {
      if (!signal.aborted) {
        if (this.view) void post<ToChat>(this.view.webview, { type: "answerEnd", answerId, contributions: [], stopped: true });
        throw e;
      }
      stopped = true;
    }
    const contributions = await this.contributions(features, weights);
    this.answers.set(answerId, { prompt, features });
    if (this.view) void post<ToChat>(this.view.webview, { type: "answerEnd", answerId, contributions, stopped });
    await this.deps.history.append({ role: "assistant", answerId, text, contributions });
    await this.deps.history.setAb(afterAnswer(this.deps.history.ab));
  }

  /** Two answers from two Thompson draws, shown side by side; the pick becomes a choice event. */
  private async compare(prompt: PromptSpec, dimension: string, signal: AbortSignal): Promise<void> {
    if (this.view) void post<ToChat>(this.view.webview, { type: "busy", busy: true });
    try {
      const side = async (): Promise<Side> => {
        const weights = this.deps.preferences().weights(true);
        const r = await this.deps.engine.generate(this.params(prompt, weights), { signal });
        if (!r) throw new Error("No model is loaded: run “Spectral Soup: Set Up Model” first.");
        const features = r.features ? this.deps.preferences().vector(r.features) : null;
        return { answerId: randomUUID(), text: r.text, prompt, features, contributions: await this.contributions(features, weights) };
      };
      // One after the other: the engine serializes requests anyway, and the second can reuse the prompt cache.
      const a = await side();
      const b = await side();
      this.comparison = { id: randomUUID(), sides: { a, b } };
      // Offered counts, picked or not: the rate limit is about the user's attention.
      await this.deps.history.setAb(afterComparison(Date.now()));
      const label = (await this.deps.labels())[dimension] ?? dimension;
      if (this.view) {
        void post<ToChat>(this.view.webview, {
          type: "comparison",
          comparisonId: this.comparison.id,
          dimension: label,
          a: { answerId: a.answerId, text: a.text },
          b: { answerId: b.answerId, text: b.text },
        });
      }
    } catch (e) {
      if (!signal.aborted) throw e;
    } finally {
      if (this.view) void post<ToChat>(this.view.webview, { type: "busy", busy: false });
    }
  }

  private async choose(comparisonId: string, pick: "a" | "b"): Promise<void> {
    const c = this.comparison;
    if (!c || c.id !== comparisonId) throw new Error("That comparison is no longer open.");
    this.comparison = undefined;
    const winner = c.sides[pick];
    const loser = c.sides[pick === "a" ? "b" : "a"];
    const [w, l] = await Promise.all([this.features(winner), this.features(loser)]);
    await this.deps.preferences().record({ type: "choice", winner: w, loser: l }, winner.text);
    this.answers.set(winner.answerId, { prompt: winner.prompt, features: w });
    await this.deps.history.append({ role: "assistant", answerId: winner.answerId, text: winner.text, contributions: winner.contributions });
    this.deps.log.info(`chat: A/B pick ${pick} recorded as a choice`);
    this.postHistory();
  }

  private async rate(answerId: string, up: boolean): Promise<void> {
    const turns = this.deps.history.turns;
    const i = turns.findIndex((t) => t.role === "assistant" && t.answerId === answerId);
    const turn = turns[i];
    if (!turn || turn.role !== "assistant") throw new Error("That answer is no longer in the history.");
    // After a reload the session's phi is gone: the prompt is rebuilt from the history before the answer.
    const known = this.answers.get(answerId) ?? { prompt: this.prompt(turns.slice(0, i)), features: null };
    const features = await this.features({ ...known, text: turn.text });
    this.answers.set(answerId, { ...known, features });
    await this.deps.preferences().record({ type: "rating", features, up, surface: "chat", signal: "thumb" }, turn.text);
    await this.deps.history.rate(answerId, up);
    this.deps.log.info(`chat: thumb ${up ? "up" : "down"} recorded`);
  }

  /** phi of an answer: the one generation returned, else scored now, only because the answer got feedback. */
  private async features(a: AnswerRecord & { text: string }): Promise<number[]> {
    if (a.features) return a.features;
    const scored = await this.deps.engine.score({ prompt: a.prompt, response: a.text });
    if (!scored) throw new Error("No model is loaded to score this answer; feedback was not recorded.");
    return this.deps.preferences().vector(scored.features);
  }

  private async edit(code: string, how: "insert" | "replace"): Promise<void> {
    // A view in the side bar does not take the active editor away, so this is the editor the user worked in.
    const editor = vscode.window.activeTextEditor;
    if (!editor) throw new Error(`Open an editor to ${how} the code into.`);
    await editor.edit((b) => {
      for (const sel of editor.selections) {
        if (how === "replace") b.replace(sel, code);
        else b.insert(sel.active, code);
      }
    });
  }

  /** The selection or file of the active editor as a fenced block, named so the model knows what it is. */
  private attachment(mode: Exclude<AttachMode, "none">): string {
    const editor = vscode.window.activeTextEditor;
    if (!editor) throw new Error(`No editor is open to attach its ${mode}.`);
    const doc = editor.document;
    const text = mode === "file" ? doc.getText() : doc.getText(editor.selection);
    if (!text.trim()) throw new Error("The selection is empty: select some code to attach, or attach the file.");
    const fence = text.includes("```") ? "~~~~" : "```";
    return `${mode === "file" ? "File" : "Selection from"} ${vscode.workspace.asRelativePath(doc.uri)}:\n${fence}${doc.languageId}\n${text}\n${fence}`;
  }

  /** The conversation as chat messages, newest last, as much as fits the context next to the answer. */
  private prompt(turns: readonly ChatTurn[] = this.deps.history.turns): PromptSpec {
    const s = this.deps.settings();
    let budget = (s.load.contextSize - s.chat.maxTokens) * CHARS_PER_TOKEN - SYSTEM.length;
    const messages: ChatMessage[] = [];
    for (let i = turns.length - 1; i >= 0; i--) {
      const t = turns[i]!;
      const content = t.role === "user" ? (this.sent.get(t) ?? t.text) : t.text;
      // The newest question is always sent, even if the engine has to truncate it.
      if (messages.length && content.length > budget) break;
      budget -= content.length;
      messages.unshift({ role: t.role, content });
    }
    return { kind: "chat", messages: [{ role: "system", content: SYSTEM }, ...messages] };
  }

  private params(prompt: PromptSpec, weights: Record<string, number>): GenerateParams {
    const s = this.deps.settings();
    // Chat streams one answer, so rerank (several whole candidates first) is for completions only; parameter mode
    // computes phi only when asked, and the chat always wants it for the contribution hint.
    const chosen = planSoup(s.soupMode, "chat", this.deps.engine.policies, weights).mode;
    const mode: SoupMode = chosen === "rerank" ? "explicit" : chosen;
    return { prompt, mode, weights, maxTokens: s.chat.maxTokens, temperature: 0.3, ...(mode === "parameter" ? { withFeatures: true } : {}) };
  }

  /** w_k phi_k for the weights the answer was generated with: the hint of which dimensions drove it. */
  private async contributions(features: number[] | null, weights: Record<string, number>): Promise<Contribution[]> {
    if (!features) return [];
    const labels = await this.deps.labels();
    const ids = this.deps.preferences().policyIds;
    return ids.map((id, k) => ({ id, label: labels[id] ?? id, value: (weights[id] ?? 0) * features[k]! }));
  }

  /** Relevance: |mean| or |phi| of the latest answer, whichever says more about how much the dimension moves answers. */
  private uncertainties(prefs: Preferences): DimensionUncertainty[] {
    const mean = prefs.mean();
    const std = prefs.std();
    const lastId = [...this.deps.history.turns].reverse().find((t) => t.role === "assistant");
    const phi = lastId?.role === "assistant" ? this.answers.get(lastId.answerId)?.features : undefined;
    return prefs.policyIds.map((id, k) => ({
      id,
      std: std[id]!,
      relevance: Math.max(Math.abs(mean[id]!), Math.abs(phi?.[k] ?? 0)),
      locked: prefs.isLocked(id),
    }));
  }

  private postHistory(): void {
    if (this.view) void post<ToChat>(this.view.webview, { type: "history", turns: [...this.deps.history.turns] });
  }
}
