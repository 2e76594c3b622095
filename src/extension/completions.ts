// Inline completions: the VS Code side of the loop editor event -> FIM prompt -> souped generation -> ghost
// text -> what the user did with it -> a rating for the workspace's posterior. Prompt assembly, caching, shaping
// and the feedback state machine live in src/core/prompt; this file only wires them to editor events.
import * as vscode from "vscode";
import type { GenerateResult, PromptSpec } from "../engine/protocol";
import { Episode } from "../core/editor/episode";
import { completionsEnabledFor } from "../core/editor/settings";
import { CompletionCache } from "../core/prompt/cache";
import { ChunkRing, recentChunks } from "../core/prompt/chunks";
import { CompletionFeedback, type CompletionEvent, type CompletionOutcome } from "../core/prompt/feedback";
import { isSingleLine, shapeCompletion } from "../core/prompt/filter";
import { fimWindow } from "../core/prompt/fim";
import { planSoup, RerankBudget } from "../core/soup/mode";
import type { EngineController } from "./engine";
import type { Preferences } from "./preferences";
import type { SoupSettings } from "./settings";

export const ACCEPT_COMMAND = "spectralSoup.completionAccepted";
export const DISMISS_COMMAND = "spectralSoup.dismissCompletion";

/** Extra context from other files is capped so the current file's own lines dominate the prompt. */
const MAX_CHUNK_CHARS = 4096;

export class CompletionProvider implements vscode.InlineCompletionItemProvider, vscode.Disposable {
  private readonly cache = new CompletionCache();
  private readonly rerankBudget = new RerankBudget();
  private readonly ring = new ChunkRing();
  private readonly feedback = new CompletionFeedback();
  private readonly episode: Episode<Record<string, number>>;
  /** Prompts of suggestions awaiting their outcome: phi is scored against them when generation gave none. */
  private readonly prompts = new Map<string, PromptSpec>();
  private readonly features = new Map<string, number[]>();
  private nextId = 1;
  private lastEditor = vscode.window.activeTextEditor;
  private drawnFrom: { preferences: Preferences | null; revision: number } = { preferences: null, revision: 0 };
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly engine: EngineController,
    private readonly preferences: () => Preferences,
    private readonly settings: () => SoupSettings,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.episode = new Episode(
      () => {
        const s = this.settings();
        return { maxCompletions: s.episodeCompletions, maxMs: s.episodeMinutes * 60_000 };
      },
      () => this.preferences().weights(this.settings().exploration),
    );
    this.disposables.push(
      vscode.commands.registerCommand(ACCEPT_COMMAND, (id: string) => this.acceptedCommand(id)),
      vscode.commands.registerCommand(DISMISS_COMMAND, () => this.dismissCommand()),
      vscode.workspace.onDidChangeTextDocument((e) => this.onDocumentChange(e)),
      vscode.window.onDidChangeActiveTextEditor((e) => this.onEditorChange(e)),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (e.kind === vscode.TextEditorSelectionChangeKind.Mouse) this.observe({ type: "dismissed" });
      }),
    );
  }

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    _context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const s = this.settings();
    if (!completionsEnabledFor(s.completions, document.languageId)) return undefined;
    const lines = document.getText().split(/\r?\n/);
    const win = fimWindow(lines, position, s.completions);
    const multiline = s.completions.multiline;
    const singleLine = multiline === "never" || (multiline === "auto" && isSingleLine(win.lineSuffix));
    const cursor = { lineSuffix: multiline === "always" ? "" : win.lineSuffix, suffix: win.suffix };
    const shape = { maxLines: singleLine ? 1 : 16 };
    const file = vscode.workspace.asRelativePath(document.uri);
    const context = recentChunks(
      this.ring.chunks.filter((c) => c.file !== file),
      MAX_CHUNK_CHARS,
    );
    const prompt: PromptSpec = {
      kind: "fim",
      prefix: win.prefix,
      suffix: win.suffix,
      language: document.languageId,
      ...(context.length ? { context, file, repo: vscode.workspace.name } : {}),
    };

    let texts = this.cache.lookup(win.prefix, win.suffix);
    if (!texts) {
      if (!(await delay(s.completions.debounceMs, token))) return undefined;
      const result = await this.generate(prompt, s, singleLine, token);
      if (!result) return undefined;
      const candidates = result.candidates ?? [{ text: result.text, features: result.features }];
      texts = candidates.map((c) => c.text);
      // Cache raw texts, not shaped ones: the same generation shaped for a later cursor may keep more lines.
      this.cache.set(win.prefix, win.suffix, texts);
      for (const c of candidates) if (c.features) this.features.set(c.text, this.preferences().vector(c.features));
      trimMap(this.features, 500);
    }
    if (token.isCancellationRequested) return undefined;
    const shaped = [...new Set(texts.map((t) => shapeCompletion(t, cursor, shape)).filter((t) => t !== undefined))];
    if (!shaped.length) return undefined;

    const items = shaped.map((text) => {
      const id = `c${this.nextId++}`;
      this.prompts.set(id, prompt);
      const item = new vscode.InlineCompletionItem(text, new vscode.Range(position, position));
      item.command = { title: "Accepted", command: ACCEPT_COMMAND, arguments: [id] };
      return { id, text, item };
    });
    trimMap(this.prompts, 64);
    // The first item is the one VS Code shows; cycling to another is not observable through the stable API.
    this.observe({ type: "shown", id: items[0].id, text: items[0].text, features: this.features.get(items[0].text) ?? null });
    return items.map((i) => i.item);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  private async generate(
    prompt: PromptSpec,
    s: SoupSettings,
    singleLine: boolean,
    token: vscode.CancellationToken,
  ): Promise<GenerateResult | null> {
    const abort = new AbortController();
    const cancel = token.onCancellationRequested(() => abort.abort());
    // llama.vscode's t_max_predict_ms: a suggestion that comes later than this is no longer wanted.
    let overBudget = false;
    const budget = setTimeout(() => {
      overBudget = true;
      abort.abort();
    }, s.completions.timeBudgetMs);
    const plan = planSoup(s.soupMode, "completion", this.engine.policies, this.weights(), this.rerankBudget.fits(s.completions.timeBudgetMs));
    const { mode, weights } = plan;
    const started = performance.now();
    try {
      const result = await this.engine.generate(
        {
          prompt,
          mode,
          weights,
          maxTokens: s.completions.maxTokens,
          temperature: mode === "rerank" ? 0.8 : 0.2,
          candidates: s.completions.candidates,
          // Only the first line will be shown: do not pay for more.
          ...(singleLine ? { stop: ["\n"] } : {}),
        },
        { signal: abort.signal },
      );
      if (mode === "rerank") this.rerankBudget.observe(performance.now() - started);
      return result;
    } catch (e) {
      if (overBudget && mode === "rerank") {
        this.rerankBudget.observe(s.completions.timeBudgetMs);
        this.log.info(`reranking under the prompted experts missed the ${s.completions.timeBudgetMs} ms budget: completions soup the adapters only until it fits (distill the basis into head adapters for full personalization at plain speed)`);
      }
      if (overBudget) this.log.info(`completion dropped: not done within ${s.completions.timeBudgetMs} ms (spectralSoup.completions.timeBudgetMs)`);
      else if (!abort.signal.aborted) this.log.warn(`completion failed: ${(e as Error).message}`);
      return null;
    } finally {
      clearTimeout(budget);
      cancel.dispose();
    }
  }

  /** The episode's weights; a draw made before the preferences were swapped, moved or reset is not reused. */
  private weights(): Record<string, number> {
    const p = this.preferences();
    if (p !== this.drawnFrom.preferences || p.revision !== this.drawnFrom.revision) {
      this.episode.end();
      this.drawnFrom = { preferences: p, revision: p.revision };
    }
    return this.episode.current(Date.now());
  }

  private acceptedCommand(id: string): void {
    if (this.feedback.shown?.id === id) this.observe({ type: "accepted" });
  }

  private async dismissCommand(): Promise<void> {
    this.observe({ type: "dismissed" });
    await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
  }

  private onDocumentChange(e: vscode.TextDocumentChangeEvent): void {
    const editor = vscode.window.activeTextEditor;
    if (!editor || e.document !== editor.document || e.contentChanges.length === 0) return;
    // Text the user typed, pasted or accepted at the cursor: feedback decides whether it follows the suggestion.
    for (const change of e.contentChanges) this.observe({ type: "typed", text: change.text });
  }

  /**
   * The ring of context chunks is refreshed when the user leaves an editor (where they worked) and enters one
   * (what they look at), not on every keystroke: a chunk costs a copy of the document's lines.
   */
  private onEditorChange(editor: vscode.TextEditor | undefined): void {
    this.observe({ type: "dismissed" });
    if (this.lastEditor) this.addChunk(this.lastEditor);
    this.lastEditor = editor;
    if (editor) this.addChunk(editor);
  }

  private addChunk(editor: vscode.TextEditor): void {
    const doc = editor.document;
    if (doc.isClosed || doc.uri.scheme === "output") return;
    this.ring.addFromDocument(vscode.workspace.asRelativePath(doc.uri), doc.getText().split(/\r?\n/), editor.selection.active.line);
  }

  private observe(event: CompletionEvent): void {
    const outcome = this.feedback.handle(event);
    if (outcome) void this.record(outcome);
  }

  private async record(outcome: CompletionOutcome): Promise<void> {
    const prompt = this.prompts.get(outcome.id);
    this.prompts.delete(outcome.id);
    try {
      let features = outcome.rating.features;
      if (!features) {
        // Parameter mode and cache hits give no phi: score the suggestion now, only because it got feedback.
        if (!prompt) return;
        const scored = await this.engine.score({ prompt, response: outcome.text });
        if (!scored) return;
        features = this.preferences().vector(scored.features);
      }
      await this.preferences().record({ ...outcome.rating, features }, outcome.text);
      this.log.info(`feedback: ${outcome.rating.signal} (${Math.round(outcome.acceptedFraction * 100)}% taken)`);
    } catch (e) {
      this.log.warn(`cannot record feedback: ${(e as Error).message}`);
    }
  }
}

/** Waits `ms` unless the request is cancelled first; true when the wait completed. */
function delay(ms: number, token: vscode.CancellationToken): Promise<boolean> {
  if (token.isCancellationRequested) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sub.dispose();
      resolve(true);
    }, ms);
    const sub = token.onCancellationRequested(() => {
      clearTimeout(timer);
      sub.dispose();
      resolve(false);
    });
  });
}

/** Drops the oldest entries (Maps iterate in insertion order) beyond `max`. */
function trimMap<K, V>(map: Map<K, V>, max: number): void {
  for (const k of map.keys()) {
    if (map.size <= max) break;
    map.delete(k);
  }
}
