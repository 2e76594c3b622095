// Feedback on a text becomes a posterior update: phi of each rated text (known from generation, else scored now),
// then the weights' durable record. When nothing can score it (no model loaded, the engine restarting, every server
// of a pool down) the feedback waits in a file beside the preferences and is scored, in order, once the engine
// answers again: a person's feedback is never dropped because the engine was away.
//
// Waiting feedback      event                                  next
// ---------------------------------------------------------------------------------------------------------
// none                  record, scored                         recorded
// none                  record, scoring fails                  waiting (file written, retry timer armed)
// waiting               record                                 appended behind the others (order kept), retry
// waiting               retry, an item scores                  recorded, removed from the file
// waiting               retry, an item fails, engine up        that item's failures + 1; dropped at MAX_FAILURES
// waiting               retry, an item fails, engine away      the round stops; it and the rest wait unchanged
import * as fs from "node:fs";
import * as path from "node:path";
import type { RatingSignal, Surface } from "../adapt/feedback";
import { RATING_SIGNALS, SURFACES } from "../adapt/feedback";
import type { PromptSpec } from "../../shared/generation";
import { finite, isObj, type Obj } from "../../shared/check";
import { writeFileAtomicSync } from "../files";
import type { Generator, PipelineLog, WeightSource } from "./weights";

/** A text the person reacted to: with phi when generation gave it, else with the prompt it answered, to score it. */
export type RatedText = { text: string; features: number[]; prompt?: PromptSpec } | { text: string; prompt: PromptSpec; features?: undefined };

export type TextFeedback =
  | { type: "rating"; up: boolean; surface: Surface; signal?: RatingSignal; confidence?: number; response: RatedText }
  | { type: "choice"; confidence?: number; winner: RatedText; loser: RatedText };

/** What the completion and chat pipelines hand their feedback to. */
export interface FeedbackSink {
  /** Resolves once the feedback is recorded ("recorded") or safely waiting on disk ("waiting"). */
  record(feedback: TextFeedback): Promise<"recorded" | "waiting">;
}

interface Waiting {
  /** Epoch ms the feedback was given. */
  t: number;
  feedback: TextFeedback;
  /** Retries that failed on this item while the engine was up: a text the engine rejects, not an absent engine. */
  failures: number;
}

/** An item the engine rejects this often while it is up is dropped (with a warning) so it cannot block the rest. */
export const MAX_FAILURES = 3;
/** Feedback kept while the engine is away; the oldest goes first past this (a week of heavy use). */
export const MAX_WAITING = 2000;
const FILE_VERSION = 1;

export interface FeedbackRecorderOptions {
  generator: Generator;
  weights: WeightSource;
  log: PipelineLog;
  /** Whether the engine is up now: a text it fails to score then counts toward dropping that text. */
  engineUp: () => boolean;
  /** Where waiting feedback is kept (JSON, replaced atomically). */
  file: string;
  /** How often waiting feedback is tried again while the engine is away (ms); 0: only when retry() is called. */
  retryMs?: number;
  now?: () => number;
}

export class FeedbackRecorder implements FeedbackSink {
  private waiting: Waiting[];
  /** Every read and write of the waiting list runs here, one after the other. */
  private chain: Promise<unknown> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;

  constructor(private readonly o: FeedbackRecorderOptions) {
    this.waiting = readWaiting(o.file, o.log);
    if (this.waiting.length) {
      o.log.info(`${this.waiting.length} feedback event(s) from an earlier session wait to be scored (${o.file})`);
      this.arm();
    }
  }

  /** How many feedback events wait for the engine. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  record(feedback: TextFeedback): Promise<"recorded" | "waiting"> {
    return this.serial(async () => {
      if (this.waiting.length === 0 && (await this.tryRecord(feedback))) return "recorded";
      this.waiting.push({ t: this.now(), feedback, failures: 0 });
      if (this.waiting.length > MAX_WAITING) {
        const dropped = this.waiting.splice(0, this.waiting.length - MAX_WAITING);
        this.o.log.warn(`${dropped.length} oldest unscored feedback event(s) dropped: more than ${MAX_WAITING} waited for the engine`);
      }
      if (this.waiting.length > 1) await this.retryNow();
      this.save();
      if (this.waiting.length) {
        this.o.log.warn(`feedback kept until the engine can score it (${this.waiting.length} waiting in ${this.o.file})`);
        this.arm();
        return "waiting";
      }
      return "recorded";
    });
  }

  /** Scores and records what waits, oldest first (call when the engine is back; a timer also calls it). */
  retry(): Promise<void> {
    return this.serial(() => this.retryNow());
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
  }

  private async retryNow(): Promise<void> {
    const before = this.waiting.length;
    const kept: Waiting[] = [];
    let scored = 0;
    for (const [i, item] of this.waiting.entries()) {
      if (await this.tryWaiting(item)) {
        scored++;
        continue;
      }
      if (!this.o.engineUp()) {
        // The engine is away: the rest would fail the same way (each after a timeout, perhaps), so they wait as they are.
        kept.push(item, ...this.waiting.slice(i + 1));
        break;
      }
      const failures = item.failures + 1;
      if (failures < MAX_FAILURES) kept.push({ ...item, failures });
      else this.o.log.warn(`feedback from ${new Date(item.t).toISOString()} dropped: the engine, up, could not score it ${failures} times`);
    }
    const changed = scored > 0 || kept.some((item, i) => item !== this.waiting[i]);
    this.waiting = kept;
    if (changed) this.save();
    if (scored) this.o.log.info(`${scored} of ${before} waiting feedback event(s) scored and recorded; ${kept.length} still waiting`);
  }

  private async tryWaiting(item: Waiting): Promise<boolean> {
    try {
      return await this.tryRecord(item.feedback);
    } catch (e) {
      this.o.log.warn(`cannot record waiting feedback: ${(e as Error).message}`);
      return false;
    }
  }

  /** phi of every text, then the weights' record; false (nothing recorded) when a text cannot be scored now. */
  private async tryRecord(f: TextFeedback): Promise<boolean> {
    const texts = f.type === "rating" ? [f.response] : [f.winner, f.loser];
    const phi: number[][] = [];
    for (const t of texts) {
      const features = t.features ?? (await this.score(t));
      if (!features) return false;
      phi.push(features);
    }
    if (f.type === "rating") {
      const { response: _, ...rating } = f;
      await this.o.weights.record({ ...rating, features: phi[0]! }, f.response.text);
    } else {
      await this.o.weights.record({ type: "choice", winner: phi[0]!, loser: phi[1]!, ...(f.confidence === undefined ? {} : { confidence: f.confidence }) }, f.winner.text);
    }
    return true;
  }

  private async score(t: RatedText & { prompt: PromptSpec }): Promise<number[] | null> {
    try {
      const scored = await this.o.generator.score({ prompt: t.prompt, response: t.text });
      return scored ? this.o.weights.vector(scored.features) : null;
    } catch (e) {
      this.o.log.info(`cannot score feedback now: ${(e as Error).message}`);
      return null;
    }
  }

  private save(): void {
    try {
      if (this.waiting.length === 0) fs.rmSync(this.o.file, { force: true });
      else {
        fs.mkdirSync(path.dirname(this.o.file), { recursive: true });
        writeFileAtomicSync(this.o.file, JSON.stringify({ v: FILE_VERSION, waiting: this.waiting }));
      }
    } catch (e) {
      // The feedback is still held in memory and tried again; only a restart before then would lose it.
      this.o.log.warn(`${this.o.file}: cannot keep waiting feedback on disk (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }

  private arm(): void {
    const ms = this.o.retryMs ?? 30_000;
    if (!ms || this.timer || this.disposed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.retry().then(() => {
        if (this.waiting.length) this.arm();
      });
    }, ms);
    this.timer.unref?.();
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }
}

/** The waiting list in `file`; a damaged file is set aside (named in the log) and the list starts empty. */
function readWaiting(file: string, log: PipelineLog): Waiting[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") log.warn(`${file}: cannot read waiting feedback (${(e as NodeJS.ErrnoException).code})`);
    return [];
  }
  const items: Waiting[] = [];
  let problem: string | undefined;
  try {
    const data = JSON.parse(text) as unknown;
    if (!isObj(data) || data.v !== FILE_VERSION || !Array.isArray(data.waiting)) problem = `not a version ${FILE_VERSION} waiting-feedback file`;
    else {
      data.waiting.forEach((raw, i) => {
        const why = waitingProblem(raw);
        if (why) problem ??= `waiting[${i}] ${why}`;
        else items.push(raw as Waiting);
      });
    }
  } catch (e) {
    problem = `not valid JSON (${(e as Error).message})`;
  }
  if (problem) {
    const aside = `${file}.corrupt-${Date.now()}`;
    try {
      fs.copyFileSync(file, aside);
      log.warn(`${file}: ${problem}; copied to ${aside}, ${items.length} readable event(s) kept`);
    } catch (e) {
      log.warn(`${file}: ${problem}; ${items.length} readable event(s) kept (cannot copy it aside: ${(e as NodeJS.ErrnoException).code})`);
    }
  }
  return items;
}

const MAX_TEXT = 1 << 20;

function textProblem(v: unknown): string | undefined {
  return typeof v === "string" && v.length <= MAX_TEXT ? undefined : `must be a string of at most ${MAX_TEXT} characters`;
}

function promptProblem(p: unknown): string | undefined {
  if (!isObj(p)) return "must be an object";
  switch (p.kind) {
    case "raw":
      return textProblem(p.text) ?? (p.language === undefined || typeof p.language === "string" ? undefined : "language must be a string");
    case "fim":
      return textProblem(p.prefix) ?? textProblem(p.suffix) ?? (p.context === undefined || Array.isArray(p.context) ? undefined : "context must be a list");
    case "chat":
      return Array.isArray(p.messages) && p.messages.every((m) => isObj(m) && typeof m.role === "string" && !textProblem(m.content)) ? undefined : "messages must be a list of {role, content}";
    default:
      return "kind must be raw, fim or chat";
  }
}

function ratedProblem(r: unknown): string | undefined {
  if (!isObj(r)) return "must be an object";
  if (textProblem(r.text)) return "text must be a string";
  if (r.features !== undefined) return Array.isArray(r.features) && r.features.every(finite) ? undefined : "features must be finite numbers";
  const p = promptProblem(r.prompt);
  return p && `prompt ${p}`;
}

function waitingProblem(raw: unknown): string | undefined {
  if (!isObj(raw) || !finite(raw.t) || !finite(raw.failures)) return "must be {t, feedback, failures}";
  const f: Obj | undefined = isObj(raw.feedback) ? raw.feedback : undefined;
  if (!f) return "feedback must be an object";
  if (f.confidence !== undefined && !(finite(f.confidence) && f.confidence >= 0)) return "confidence must be a number >= 0";
  if (f.type === "rating") {
    if (typeof f.up !== "boolean" || !SURFACES.includes(f.surface as Surface)) return "rating must have up and a surface";
    if (f.signal !== undefined && !RATING_SIGNALS.includes(f.signal as RatingSignal)) return "rating.signal is unknown";
    const r = ratedProblem(f.response);
    return r && `response ${r}`;
  }
  if (f.type === "choice") {
    const w = ratedProblem(f.winner) ?? ratedProblem(f.loser);
    return w && `choice ${w}`;
  }
  return "feedback.type must be rating or choice";
}
