// Durable adaptation state in a folder the caller gives: per workspace, and once for the user level, an append-only
// JSON-lines event log (the truth) and a posterior snapshot (a cache: a warm start for the fit, written atomically).
// The log is never rewritten while other windows may append to it: damaged lines are copied aside and skipped.
// Response texts, when kept, live apart from the log for a limited number of days. Nothing here throws on bad
// files: what cannot be used is reported through the caller's log.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { AgingPosterior, type AgingOptions, type DetectorState } from "./aging";
import { parseFeedback, type Feedback, type SliderFeedback } from "./feedback";
import { DEFAULT_POSTERIOR, SoupPosterior, type PosteriorOptions, type PosteriorState } from "./posterior";
import { DAY_MS, TextStore } from "./texts";
import { writeFileAtomicSync } from "../files";
import { readLinesSync, type Line } from "../lines";

/** Version of log records and snapshots; a record from a newer version is kept in the log but not used. */
export const SCHEMA_VERSION = 1;
/** A record is a few hundred bytes; a line past this is damage (or an attack), skipped without being read whole. */
export const MAX_LOG_LINE = 1 << 20;

/** The basis the features were computed with: features of different bases are never mixed. */
export interface BasisRef {
  id: string;
  version: string;
  dims: number;
}

export interface LogRecord {
  v: number;
  /** Milliseconds since the epoch. */
  t: number;
  basis: { id: string; version: string };
  /** Workspace key, in the user-level log only. */
  ws?: string;
  event: Feedback;
  /** sha256 of each response's text (one for a rating, winner then loser for a choice). */
  hashes?: string[];
  /** Texts written into the log by earlier versions; new texts go to the text store. */
  texts?: string[];
}

interface Snapshot {
  schema: number;
  basis: BasisRef;
  state: PosteriorState;
  /** An aging level's change detector (the state is then the fit of the current taste). */
  detector?: DetectorState;
  /** The workspace's estimate, the editor's weights (the posterior mean, not the fit's mode): for readers, not read. */
  mean?: number[];
}

export interface StoreOptions {
  basis: BasisRef;
  /** Stable key of the workspace (e.g. its URI); hashed into a folder name. */
  workspace: string;
  /** Reports what was set aside or rebuilt; the store keeps going either way. */
  log?: (message: string) => void;
  posterior?: Omit<PosteriorOptions, "dims" | "prior">;
  /**
   * How the workspace's evidence ages (a slow memory and a change detector); absent, it never ages. The user level
   * never ages: it pools every workspace.
   */
  aging?: Pick<AgingOptions, "memoryPerWeight" | "fastForgetting" | "changeThreshold">;
  /** Days response texts are kept (0: never written); features and hashes are always kept. */
  keepTextsDays?: number;
  /** How often texts past the limit are removed while the store is open (besides on open and on a change). */
  retentionEveryMs?: number;
  /** Width of the user-level prior for a workspace (workspaces differ from the user's average taste). */
  tau?: number;
  /** Write snapshots every this many events (and on close). */
  snapshotEvery?: number;
  now?: () => number;
}

const sameBasis = (a: { id: string; version: string }, b: { id: string; version: string }) =>
  a.id === b.id && a.version === b.version;

const errorCode = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** Parses one log line; throws with the reason when it is not a record. */
function parseRecord(text: string): LogRecord {
  const record = JSON.parse(text) as LogRecord;
  if (typeof record !== "object" || record === null || typeof record.v !== "number") throw new Error("no version");
  if (typeof record.basis?.id !== "string" || typeof record.basis?.version !== "string") throw new Error("no basis");
  return record;
}

/**
 * One log file: its usable events for a basis. Damaged lines stay where they are (rewriting would race with other
 * windows appending); the first time they are seen they are copied to a `.corrupt-<time>` file and reported, and
 * `<log>.damaged` remembers up to which byte that was done so they are not reported again.
 */
class EventLog {
  private sinceSnapshot = 0;
  /** Times of records that carry texts inline (written by earlier versions), as of the last read. */
  private inlineTexts: number[] = [];

  constructor(
    readonly file: string,
    private readonly options: StoreOptions,
  ) {}

  /** Valid records of this basis, in log order. Writes nothing but the set-aside copy of new damage. */
  read(): LogRecord[] {
    const { basis, log = () => {} } = this.options;
    let lines: Line[];
    try {
      const fd = fs.openSync(this.file, "r");
      try {
        const stat = fs.fstatSync(fd);
        if (!stat.isFile()) throw Object.assign(new Error("not a regular file"), { code: "not a regular file" });
        lines = readLinesSync(fd, MAX_LOG_LINE);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") log(`${this.file}: cannot read the feedback log (${errorCode(e)}); continuing without its events`);
      return [];
    }
    // A line without its newline is a write still in flight in another window, or one a crash tore: skipped, not
    // reported; the next append puts a newline after it, and a torn one is then reported as damage.
    if (lines.at(-1)?.partial) lines.pop();
    // A marker past the end belongs to a log since replaced.
    const end = lines.at(-1)?.end ?? 0;
    const reported = this.reportedUpTo() <= end ? this.reportedUpTo() : 0;
    const damaged: string[] = [];
    const usable: LogRecord[] = [];
    this.inlineTexts = [];
    let future = 0;
    for (const line of lines) {
      if ("text" in line && line.text === "") continue;
      const record = "text" in line ? this.parse(line.text) : undefined;
      if (record && record.v > SCHEMA_VERSION) {
        future++;
        continue;
      }
      if (!record) {
        // Damage reported on an earlier open is skipped quietly.
        if (line.offset >= reported) damaged.push("text" in line ? line.text : `(a line of ${line.tooLong} bytes, over the ${MAX_LOG_LINE}-byte limit)`);
        continue;
      }
      if (Array.isArray(record.texts)) this.inlineTexts.push(record.t);
      if (sameBasis(record.basis, basis)) usable.push(record);
    }
    if (future) log(`${this.file}: ${future} record(s) from a newer schema than ${SCHEMA_VERSION} kept but not used`);
    if (damaged.length) this.setAside(damaged, end);
    return usable;
  }

  /**
   * Appends a record on a line of its own: when the file does not end with a newline (a write torn by a crash),
   * one goes first, so the torn line stays one damaged line instead of swallowing this record.
   */
  append(record: LogRecord): boolean {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const fd = fs.openSync(this.file, "a+");
    try {
      const size = fs.fstatSync(fd).size;
      const last = Buffer.alloc(1);
      const fresh = size === 0 || (fs.readSync(fd, last, 0, 1, size - 1) === 1 && last[0] === 10);
      fs.writeSync(fd, (fresh ? "" : "\n") + JSON.stringify(record) + "\n");
    } finally {
      fs.closeSync(fd);
    }
    this.sinceSnapshot++;
    return this.sinceSnapshot >= (this.options.snapshotEvery ?? 20);
  }

  /**
   * Removes texts that earlier versions wrote into records at or before `cutoff` (all: Infinity). The one rewrite
   * of the log: a copy is made, anything appended meanwhile is carried over, and the length is checked again right
   * before the copy replaces the log. Returns how many records lost their texts.
   */
  stripInlineTexts(cutoff: number): number {
    if (!this.inlineTexts.some((t) => !(t > cutoff))) return 0;
    const fd = fs.openSync(this.file, "r");
    const tmp = `${this.file}.${process.pid}.strip.tmp`;
    let stripped = 0;
    try {
      const lines = readLinesSync(fd, MAX_LOG_LINE);
      let copied = lines.at(-1)?.end ?? 0;
      const out = lines.map((line) => {
        if (!("text" in line)) return null; // over-long: left out, as every reader skips it
        try {
          const record = parseRecord(line.text);
          if (!Array.isArray(record.texts) || record.t > cutoff) return line.text + (line.partial ? "" : "\n");
          delete record.texts;
          stripped++;
          return JSON.stringify(record) + "\n";
        } catch {
          return line.text + (line.partial ? "" : "\n");
        }
      });
      fs.writeFileSync(tmp, out.filter((l) => l !== null).join(""));
      for (let size = fs.statSync(this.file).size; size > copied; size = fs.statSync(this.file).size) {
        const more = Buffer.alloc(size - copied);
        fs.readSync(fd, more, 0, more.length, copied);
        fs.appendFileSync(tmp, more);
        copied = size;
      }
      fs.renameSync(tmp, this.file);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    } finally {
      fs.closeSync(fd);
    }
    this.inlineTexts = this.inlineTexts.filter((t) => t > cutoff);
    return stripped;
  }

  snapshotWritten(): void {
    this.sinceSnapshot = 0;
  }

  /** A record, or undefined; a line holding a torn record glued to a whole one gives the whole one. */
  private parse(text: string): LogRecord | undefined {
    const { basis } = this.options;
    const attempt = (t: string) => {
      const record = parseRecord(t);
      if (record.v <= SCHEMA_VERSION && sameBasis(record.basis, basis)) record.event = parseFeedback(record.event, basis.dims);
      return record;
    };
    try {
      return attempt(text);
    } catch {
      const glued = text.lastIndexOf('{"v":');
      if (glued <= 0) return undefined;
      try {
        return attempt(text.slice(glued));
      } catch {
        return undefined;
      }
    }
  }

  private get markerFile(): string {
    return `${this.file}.damaged`;
  }

  private reportedUpTo(): number {
    try {
      const n = Number(fs.readFileSync(this.markerFile, "utf8"));
      return Number.isSafeInteger(n) && n > 0 ? n : 0;
    } catch {
      return 0;
    }
  }

  private setAside(damaged: string[], upTo: number): void {
    const log = this.options.log ?? (() => {});
    const aside = `${this.file}.corrupt-${this.options.now?.() ?? Date.now()}`;
    try {
      fs.appendFileSync(aside, damaged.join("\n") + "\n");
      writeFileAtomicSync(this.markerFile, String(upTo));
      log(`${this.file}: ${damaged.length} damaged line(s) set aside in ${aside} and skipped; the log is left as it is`);
    } catch (e) {
      log(`${this.file}: ${damaged.length} damaged line(s) skipped; cannot set them aside (${errorCode(e)})`);
    }
  }
}

/** The posterior of one level (user or workspace): its log, its snapshot, and the fit. */
class Level {
  readonly log: EventLog;
  readonly snapshotFile: string;
  /** The estimate: the posterior itself, or an aging one's fit of the current taste. */
  posterior: SoupPosterior;
  private aging: AgingPosterior | undefined;

  /** `weighs`: the level whose mean the editor's weights are, written into its snapshot (only a prior otherwise). */
  constructor(
    folder: string,
    private readonly options: StoreOptions,
    private readonly weighs: boolean,
  ) {
    this.log = new EventLog(path.join(folder, "events.jsonl"), options);
    this.snapshotFile = path.join(folder, "snapshot.json");
    this.posterior = new SoupPosterior({ ...options.posterior, dims: options.basis.dims });
  }

  observe(event: Feedback): void {
    if (this.aging) this.aging.observe(event);
    else this.posterior.observe(event);
  }

  /**
   * Replays the log into a fresh posterior. A snapshot only warm-starts the fit: the fit always runs to the MAP of
   * the log, so a snapshot written by another window, older or newer than the log, or damaged in a well-formed
   * way changes nothing but the time it takes. An aging posterior takes the snapshot's detector state instead (a
   * refit per event otherwise), or replays only the newest events one by one.
   */
  replay(records: readonly LogRecord[], posterior: SoupPosterior | AgingPosterior): void {
    const snapshot = this.readSnapshot();
    const events = records.map((r) => r.event);
    if (posterior instanceof AgingPosterior) {
      if (!posterior.resume(events, snapshot?.detector) && snapshot?.detector) {
        this.options.log?.(`${this.snapshotFile}: the change detector's state does not fit the log; replaying its newest events`);
      }
      this.aging = posterior;
      this.posterior = posterior.slow;
      return;
    }
    posterior.observeAll(events, snapshot?.state);
    if (snapshot) posterior.fit();
    this.posterior = posterior;
  }

  /** A plausible snapshot of this schema and basis, or undefined (set aside when damaged). */
  private readSnapshot(): Snapshot | undefined {
    const { basis, log = () => {} } = this.options;
    let text: string;
    try {
      text = fs.readFileSync(this.snapshotFile, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") log(`${this.snapshotFile}: cannot read (${errorCode(e)}); rebuilding from the log`);
      return undefined;
    }
    try {
      const snap = JSON.parse(text) as Snapshot;
      if (snap.schema !== SCHEMA_VERSION) {
        log(`${this.snapshotFile}: schema ${snap.schema} (now ${SCHEMA_VERSION}); rebuilding from the log`);
        return undefined;
      }
      if (!sameBasis(snap.basis, basis) || snap.basis.dims !== basis.dims) {
        log(`${this.snapshotFile}: basis changed (${snap.basis.id}@${snap.basis.version} -> ${basis.id}@${basis.version}); posterior reset to the slider prior`);
        return undefined;
      }
      const { theta, hessian } = snap.state ?? {};
      if (!Array.isArray(theta) || !Array.isArray(hessian)) throw new Error("no state");
      const n = theta.length;
      const box = this.options.posterior?.box ?? DEFAULT_POSTERIOR.box;
      const absurd =
        !theta.every((x) => typeof x === "number" && Number.isFinite(x)) ||
        theta.slice(0, basis.dims).some((w) => w < box[0] || w > box[1]) ||
        hessian.length !== n * n ||
        theta.some((_, i) => !(hessian[i * n + i] > 0));
      if (absurd) {
        log(`${this.snapshotFile}: weights outside the box or a Hessian that is not positive; ignored, refitting from the log`);
        return undefined;
      }
      return snap;
    } catch {
      const aside = `${this.snapshotFile}.corrupt-${this.options.now?.() ?? Date.now()}`;
      try {
        fs.renameSync(this.snapshotFile, aside);
        log(`${this.snapshotFile}: damaged snapshot set aside in ${aside}; rebuilding from the log`);
      } catch (e) {
        log(`${this.snapshotFile}: damaged snapshot ignored (cannot set it aside: ${errorCode(e)}); rebuilding from the log`);
      }
      return undefined;
    }
  }

  /** Writes the snapshot; a failure (read-only folder, full disk) is reported: the log still has everything. */
  writeSnapshot(): void {
    const snap: Snapshot = {
      schema: SCHEMA_VERSION,
      basis: this.options.basis,
      state: this.posterior.state(),
      ...(this.aging ? { detector: this.aging.detectorState() } : {}),
      ...(this.weighs ? { mean: this.posterior.mean() } : {}),
    };
    try {
      fs.mkdirSync(path.dirname(this.snapshotFile), { recursive: true });
      writeFileAtomicSync(this.snapshotFile, JSON.stringify(snap));
    } catch (e) {
      this.options.log?.(`${this.snapshotFile}: cannot write the snapshot (${errorCode(e)}); the log keeps every event`);
    }
    this.log.snapshotWritten();
  }
}

/**
 * A workspace's posterior and the user-level posterior it starts from. The user level sees every workspace's
 * ratings and choices (sliders are per workspace); a workspace's prior is the user level fitted on the *other*
 * workspaces' events, widened by tau, so its own feedback is never counted twice.
 */
export class AdaptStore {
  private readonly user: Level;
  private readonly workspace: Level;
  private readonly texts: TextStore;
  private readonly key: string;
  private keepTextsDays: number;
  private timer: ReturnType<typeof setInterval> | undefined;

  private constructor(
    dir: string,
    private readonly options: StoreOptions,
  ) {
    this.key = createHash("sha256").update(options.workspace).digest("hex").slice(0, 16);
    this.user = new Level(path.join(dir, "user"), options, false);
    this.workspace = new Level(path.join(dir, "workspaces", this.key), options, true);
    this.texts = new TextStore(path.join(dir, "workspaces", this.key, "texts"));
    this.keepTextsDays = options.keepTextsDays ?? 0;
  }

  /**
   * Opens (or creates) the state under dir and removes texts past the retention limit. Never throws: damaged or
   * unreadable files are set aside or skipped and reported through options.log, and the posterior is what the
   * readable events give.
   */
  static open(dir: string, options: StoreOptions): AdaptStore {
    const store = new AdaptStore(dir, options);
    try {
      store.load();
    } catch (e) {
      options.log?.(`${dir}: cannot replay the feedback logs (${(e as Error).message}); starting from the prior`);
    }
    store.applyRetention();
    store.timer = setInterval(() => store.applyRetention(), options.retentionEveryMs ?? 3_600_000);
    store.timer.unref?.();
    return store;
  }

  /** The workspace posterior: what the soup should use. */
  get posterior(): SoupPosterior {
    return this.workspace.posterior;
  }

  /** The user-level posterior (all workspaces). */
  get userPosterior(): SoupPosterior {
    return this.user.posterior;
  }

  /** The folder of this workspace's level (log, snapshot, texts): what a reset removes. */
  get workspaceFolder(): string {
    return path.dirname(this.workspace.snapshotFile);
  }

  /**
   * Logs an event (then updates both levels). Texts are hashed into the record; the texts themselves are kept
   * for the workspace only, and only while the retention setting allows.
   */
  record(event: Feedback, texts?: string[]): void {
    const parsed = parseFeedback(event, this.options.basis.dims);
    const t = this.now();
    const hashes = texts?.map((text) => createHash("sha256").update(text).digest("hex"));
    const record: LogRecord = {
      v: SCHEMA_VERSION,
      t,
      basis: { id: this.options.basis.id, version: this.options.basis.version },
      event: parsed,
      ...(hashes ? { hashes } : {}),
    };
    // Log first: a crash after the append loses nothing, the snapshot is rebuilt from the log.
    const workspaceDue = this.workspace.log.append(record);
    this.workspace.observe(parsed);
    if (parsed.type !== "slider") {
      const userDue = this.user.log.append({ ...record, ws: this.key });
      this.user.observe(parsed);
      if (userDue) this.user.writeSnapshot();
    }
    if (workspaceDue) this.workspace.writeSnapshot();
    if (texts && hashes && this.keepTextsDays > 0) {
      try {
        this.texts.add(t, hashes, texts);
      } catch (e) {
        this.options.log?.(`${this.texts.folder}: cannot keep the response text (${errorCode(e)})`);
      }
    }
  }

  /** Applies a slider to the workspace in memory only: settings are the sliders' truth, so they are not logged. */
  applySlider(event: SliderFeedback): void {
    this.workspace.observe(event);
  }

  /** A new retention limit, applied now (0 removes every kept text and keeps no new ones). */
  setKeepTextsDays(days: number): void {
    this.keepTextsDays = days;
    this.applyRetention();
  }

  /** Removes texts past the limit; also runs on open and every options.retentionEveryMs while open. */
  applyRetention(): void {
    const cutoff = this.now() - this.keepTextsDays * DAY_MS;
    try {
      this.texts.prune(this.now(), this.keepTextsDays);
      // Earlier versions wrote texts into the logs, the user level's included: those go the same way (the user's all).
      const inLogs = this.workspace.log.stripInlineTexts(this.keepTextsDays > 0 ? cutoff : Infinity) + this.user.log.stripInlineTexts(Infinity);
      if (inLogs) this.options.log?.(`${this.workspaceFolder}: texts removed from ${inLogs} older log record(s); features and hashes kept`);
    } catch (e) {
      this.options.log?.(`${this.texts.folder}: cannot remove texts older than ${this.keepTextsDays} day(s) (${errorCode(e)})`);
    }
  }

  /** Writes both snapshots now (call on shutdown). */
  flush(): void {
    this.user.writeSnapshot();
    this.workspace.writeSnapshot();
  }

  /** Stops the periodic retention; the store stays usable. */
  dispose(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private load(): void {
    const { basis, posterior, tau } = this.options;
    const userRecords = this.user.log.read();
    this.user.replay(userRecords, new SoupPosterior({ ...posterior, dims: basis.dims }));
    const others = userRecords.filter((r) => r.ws !== this.key);
    let base = this.user.posterior;
    if (others.length !== userRecords.length) {
      base = new SoupPosterior({ ...posterior, dims: basis.dims });
      base.observeAll(others.map((r) => r.event));
    }
    const records = this.workspace.log.read();
    // With no other workspace to learn from, the prior is the plain slider prior.
    const prior = others.length ? base.asPrior(tau) : undefined;
    const options = { ...posterior, dims: basis.dims, ...(prior ? { prior } : {}) };
    this.workspace.replay(records, this.options.aging ? new AgingPosterior({ ...options, ...this.options.aging }) : new SoupPosterior(options));
  }
}
