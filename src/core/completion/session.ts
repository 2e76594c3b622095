// One inline completion pipeline, from a request for a document and cursor to the suggestions to show, and from
// what the user then does to a rating for the workspace's posterior: FIM window and context chunks, the
// completion cache, the debounce, one-line or multi-line, the soup plan with its rerank budget, the time budget,
// shaping, and the feedback state machine. Written against the Generator and WeightSource interfaces, so the
// editor, the benchmark and the unit tests drive the same code.
import type { GenerateResult, PromptSpec } from "../../shared/generation";
import type { SoupMode } from "../../shared/soup";
import { Episode } from "../soup/episode";
import { planSoup, RerankBudget } from "../soup/mode";
import type { FeedbackSink, RatedText } from "../soup/recorder";
import type { Generator, PipelineLog, WeightSource } from "../soup/weights";
import { CompletionCache } from "./cache";
import { ChunkRing, recentChunks } from "./chunks";
import { CompletionFeedback, type CompletionEvent, type CompletionOutcome } from "./feedback";
import { isSingleLine, shapeCompletion } from "./filter";
import { fimWindow, type Cursor, type FimWindow } from "./fim";
import { completionsEnabledFor, type CompletionSettings } from "./settings";

/** Extra context from other files is capped so the current file's own lines dominate the prompt. */
const MAX_CHUNK_CHARS = 4096;
/** Suggestions awaiting their outcome, and phi of generated texts, kept for this many of the latest. */
const MAX_PROMPTS = 64;
const MAX_FEATURES = 500;

export interface CompletionSessionSettings {
  completions: CompletionSettings;
  soupMode: SoupMode | "auto";
  /** Thompson draws when on, the posterior mean when off. */
  exploration: boolean;
  episodeCompletions: number;
  episodeMinutes: number;
}

/** A request's window and prompt; `key` names its window for the speculative request. */
interface PendingRequest {
  win: FimWindow;
  key: string;
  prompt: PromptSpec;
  singleLine: boolean;
  cursor: { lineSuffix: string; suffix: string };
  shape: { maxLines: number };
}

export interface CompletionRequest {
  lines: readonly string[];
  cursor: Cursor;
  languageId: string;
  /** Workspace-relative path of the document: its own chunks are not added as extra context. */
  file: string;
  /** The workspace's name, for models that take the repository's name. */
  repo?: string;
}

/** A suggestion to show; `id` names it when the editor reports it accepted. */
export interface CompletionItem {
  id: string;
  text: string;
}

export interface CompletionSessionOptions {
  generator: Generator;
  weights: WeightSource;
  feedback: FeedbackSink;
  settings: () => CompletionSessionSettings;
  log: PipelineLog;
  /** Epoch ms (episodes end after a time). */
  now?: () => number;
}

export class CompletionSession {
  private readonly cache = new CompletionCache();
  private readonly rerankBudget = new RerankBudget();
  private readonly ring = new ChunkRing();
  private readonly feedback = new CompletionFeedback();
  private readonly episode: Episode<Record<string, number>>;
  /** Prompts of suggestions awaiting their outcome: phi is scored against them when generation gave none. */
  private readonly prompts = new Map<string, PromptSpec>();
  private readonly features = new Map<string, number[]>();
  private nextId = 1;
  /** The feedback of the outcomes observed so far, recorded or waiting (the recorder keeps their order). */
  private recording: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  /** The suggestion after the shown one, being generated while the user reads. */
  private speculative: { key: string; abort: AbortController; done: Promise<readonly string[] | undefined> } | undefined;

  constructor(private readonly o: CompletionSessionOptions) {
    this.now = o.now ?? Date.now;
    this.episode = new Episode(
      () => {
        const s = o.settings();
        return { maxCompletions: s.episodeCompletions, maxMs: s.episodeMinutes * 60_000 };
      },
      () => o.weights.weights(o.settings().exploration),
    );
  }

  /** The suggestions for this cursor, best first; undefined when there is nothing to show or it was cancelled. */
  async complete(request: CompletionRequest, signal: AbortSignal): Promise<CompletionItem[] | undefined> {
    const s = this.o.settings();
    if (!completionsEnabledFor(s.completions, request.languageId)) return undefined;
    const req = this.request(request, s);
    const { win } = req;
    let texts = this.cache.lookup(win.prefix, win.suffix);
    const ahead = this.speculative;
    // A cache hit (typing through the shown suggestion) leaves the speculative request running.
    if (!texts && ahead) {
      this.speculative = undefined;
      // The suggestion after the one just shown was being computed: wait for it rather than ask again.
      if (ahead.key === req.key) texts = await ahead.done;
      else ahead.abort.abort();
    }
    if (!texts) {
      if (!(await delay(s.completions.debounceMs, signal))) return undefined;
      texts = await this.fetch(req, s, signal);
      if (!texts) return undefined;
    }
    if (signal.aborted) return undefined;
    const shaped = [...new Set(texts.map((t) => shapeCompletion(t, req.cursor, req.shape)).filter((t) => t !== undefined))];
    if (!shaped.length) return undefined;

    const items = shaped.map((text) => {
      const id = `c${this.nextId++}`;
      this.prompts.set(id, req.prompt);
      return { id, text };
    });
    trimMap(this.prompts, MAX_PROMPTS);
    // The first item is the one the editor shows; cycling to another is not observable through its stable API.
    this.observe({ type: "shown", id: items[0]!.id, text: items[0]!.text, features: this.features.get(items[0]!.text) ?? null });
    if (s.completions.prefetch) this.prefetchAfter(request, win, items[0]!.text, s);
    return items;
  }

  /** The editor accepted suggestion `id` (Tab): counts only while it is the one shown. */
  accepted(id: string): void {
    if (this.feedback.shown?.id === id) this.observe({ type: "accepted" });
  }

  /** What the user did while a suggestion was shown (typed, dismissed, took part of it). */
  observe(event: CompletionEvent): void {
    const outcome = this.feedback.handle(event);
    if (outcome) void this.record(outcome);
  }

  /** Adds the lines around `line` of a file the user worked in or looks at to the context of later prompts. */
  addContext(file: string, lines: readonly string[], line: number): void {
    this.ring.addFromDocument(file, lines, line);
  }

  /** The weights changed under the episode (sliders, reset, another basis): the next request draws again. */
  weightsChanged(): void {
    this.episode.end();
  }

  /** Settles when the feedback of the outcomes observed so far is recorded (tests and the benchmark wait here). */
  settled(): Promise<void> {
    return this.recording;
  }

  /** The window, prompt and shaping of a completion request. */
  private request(request: CompletionRequest, s: CompletionSessionSettings): PendingRequest {
    const win = fimWindow(request.lines, request.cursor, s.completions);
    const multiline = s.completions.multiline;
    const singleLine = multiline === "never" || (multiline === "auto" && isSingleLine(win.lineSuffix));
    // The engine writes the other files in the model's repository format, or as comments where it has none.
    const context = recentChunks(
      this.ring.chunks.filter((c) => c.file !== request.file),
      MAX_CHUNK_CHARS,
    );
    // The cursor line goes after the FIM middle token (as llama.vscode sends it): a keystroke then evaluates only
    // that line again, not the whole suffix, which every typed character would otherwise move.
    const prompt: PromptSpec = {
      kind: "fim",
      prefix: win.above,
      middle: win.linePrefix,
      suffix: win.suffix,
      language: request.languageId,
      ...(context.length ? { context, file: request.file, ...(request.repo ? { repo: request.repo } : {}) } : {}),
    };
    return {
      win,
      key: `${win.prefix}\u0000${win.suffix}`,
      prompt,
      singleLine,
      cursor: { lineSuffix: multiline === "always" ? "" : win.lineSuffix, suffix: win.suffix },
      shape: { maxLines: singleLine ? 1 : 16 },
    };
  }

  /** Generates the completions of a request and caches them (raw: a later cursor may keep more lines of them). */
  private async fetch(req: PendingRequest, s: CompletionSessionSettings, signal: AbortSignal, speculative = false): Promise<readonly string[] | undefined> {
    const result = await this.generate(req.prompt, s, req.singleLine, signal, speculative);
    if (!result) return undefined;
    const candidates = result.candidates ?? [{ text: result.text, features: result.features }];
    const texts = candidates.map((c) => c.text);
    this.cache.set(req.win.prefix, req.win.suffix, texts);
    for (const c of candidates) if (c.features) this.features.set(c.text, this.o.weights.vector(c.features));
    trimMap(this.features, MAX_FEATURES);
    return texts;
  }

  /**
   * llama.vscode's speculative completion: while the user reads a suggestion at the end of a line, the one that
   * would follow its acceptance is generated and cached, so Tab then shows the next one at once. A request the
   * cache cannot serve aborts it unless it asks for that very window.
   */
  private prefetchAfter(request: CompletionRequest, win: FimWindow, shown: string, s: CompletionSessionSettings): void {
    if (win.lineSuffix.trim()) return;
    const line = Math.min(Math.max(request.cursor.line, 0), Math.max(request.lines.length - 1, 0));
    const inserted = (win.linePrefix + shown).split("\n");
    const lines = [...request.lines.slice(0, line), ...inserted.slice(0, -1), inserted.at(-1)! + win.lineSuffix, ...request.lines.slice(line + 1)];
    const next = this.request({ ...request, lines, cursor: { line: line + inserted.length - 1, character: inserted.at(-1)!.length } }, s);
    if (this.speculative?.key === next.key || this.cache.lookup(next.win.prefix, next.win.suffix)) return;
    this.speculative?.abort.abort();
    const abort = new AbortController();
    const done = this.fetch(next, s, abort.signal, true);
    this.speculative = { key: next.key, abort, done };
  }

  private async generate(prompt: PromptSpec, s: CompletionSessionSettings, singleLine: boolean, signal: AbortSignal, speculative: boolean): Promise<GenerateResult | null> {
    const abort = new AbortController();
    const cancel = () => abort.abort();
    signal.addEventListener("abort", cancel, { once: true });
    // llama.vscode's t_max_predict_ms: a suggestion that comes later than this is no longer wanted.
    const budgetMs = s.completions.timeBudgetMs;
    let overBudget = false;
    const budget = setTimeout(() => {
      overBudget = true;
      abort.abort();
    }, budgetMs);
    // A speculative request does not count toward the episode: it may never be shown.
    const { mode, weights } = planSoup(s.soupMode, "completion", this.o.generator.policies, this.episode.current(this.now(), !speculative), this.rerankBudget.fits(budgetMs));
    const started = performance.now();
    try {
      const result = await this.o.generator.generate(
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
        this.rerankBudget.observe(budgetMs);
        this.o.log.info(`reranking under the prompted experts missed the ${budgetMs} ms budget: completions soup the adapters only until it fits (distill the basis into head adapters for full personalization at plain speed)`);
      }
      if (overBudget) this.o.log.info(`completion dropped: not done within ${budgetMs} ms (spectralSoup.completions.timeBudgetMs)`);
      else if (!abort.signal.aborted) this.o.log.warn(`completion failed: ${(e as Error).message}`);
      return null;
    } finally {
      clearTimeout(budget);
      signal.removeEventListener("abort", cancel);
    }
  }

  private record(outcome: CompletionOutcome): Promise<void> {
    const prompt = this.prompts.get(outcome.id);
    this.prompts.delete(outcome.id);
    const { features, ...rating } = outcome.rating;
    // Parameter mode and cache hits give no phi: the recorder scores the suggestion, only because it got feedback.
    const response: RatedText | undefined = features ? { text: outcome.text, features } : prompt && { text: outcome.text, prompt };
    if (!response) return this.recording;
    const recorded = this.o.feedback.record({ ...rating, response }).then(
      (done) => this.o.log.info(`feedback: ${rating.signal} (${Math.round(outcome.acceptedFraction * 100)}% taken)${done === "waiting" ? ", waiting to be scored" : ""}`),
      (e: unknown) => this.o.log.warn(`cannot record feedback: ${(e as Error).message}`),
    );
    this.recording = this.recording.then(() => recorded);
    return this.recording;
  }
}

/** Waits `ms` unless the request is cancelled first; true when the wait completed. */
function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Drops the oldest entries (Maps iterate in insertion order) beyond `max`. */
function trimMap<K, V>(map: Map<K, V>, max: number): void {
  for (const k of map.keys()) {
    if (map.size <= max) break;
    map.delete(k);
  }
}
