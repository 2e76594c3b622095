// Durable adaptation state in a folder the caller gives: per workspace, and once for the user level, an append-only
// JSON-lines event log (the truth) and a posterior snapshot (a cache of the fit, written atomically). Damaged lines
// or snapshots are set aside and the state is rebuilt from what is valid; nothing here throws on bad files.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseFeedback, type Feedback } from "./feedback";
import { SoupPosterior, type PosteriorOptions, type PosteriorState } from "./posterior";
import { writeFileAtomicSync } from "../files";

/** Version of log records and snapshots; a record from a newer version is kept in the log but not used. */
export const SCHEMA_VERSION = 1;

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
  /** The texts themselves, only when the caller's retention setting allows. */
  texts?: string[];
}

interface Snapshot {
  schema: number;
  basis: BasisRef;
  state: PosteriorState;
}

export interface StoreOptions {
  basis: BasisRef;
  /** Stable key of the workspace (e.g. its URI); hashed into a folder name. */
  workspace: string;
  /** Reports what was set aside or rebuilt; the store keeps going either way. */
  log?: (message: string) => void;
  posterior?: Omit<PosteriorOptions, "dims" | "prior">;
  /** Keep response texts in the log (features and hashes are always kept). */
  keepText?: boolean;
  /** Width of the user-level prior for a workspace (workspaces differ from the user's average taste). */
  tau?: number;
  /** Write snapshots every this many events (and on close). */
  snapshotEvery?: number;
  now?: () => number;
}

const sameBasis = (a: { id: string; version: string }, b: { id: string; version: string }) =>
  a.id === b.id && a.version === b.version;

/** One log file: its usable events for a basis, with damaged lines set aside in a `.corrupt-<time>` file. */
class EventLog {
  private sinceSnapshot = 0;

  constructor(
    readonly file: string,
    private readonly options: StoreOptions,
  ) {}

  /** Valid records of this basis; rewrites the file without damaged lines (they go to a .corrupt file). */
  read(): LogRecord[] {
    const { basis, log = () => {} } = this.options;
    let text: string;
    try {
      text = fs.readFileSync(this.file, "utf8");
    } catch {
      return [];
    }
    const lines = text.split("\n");
    const kept: string[] = [];
    const damaged: string[] = [];
    const usable: LogRecord[] = [];
    let future = 0;
    lines.forEach((line, i) => {
      if (line === "") return;
      // A last line without its newline is the record a crash interrupted.
      const complete = i < lines.length - 1;
      let record: LogRecord;
      try {
        if (!complete) throw new Error("half-written");
        record = JSON.parse(line) as LogRecord;
        if (typeof record !== "object" || record === null || typeof record.v !== "number") throw new Error("no version");
        if (typeof record.basis?.id !== "string" || typeof record.basis?.version !== "string") throw new Error("no basis");
        if (record.v > SCHEMA_VERSION) {
          future++;
          kept.push(line);
          return;
        }
        if (sameBasis(record.basis, basis)) record.event = parseFeedback(record.event, basis.dims);
      } catch {
        damaged.push(line);
        return;
      }
      kept.push(line);
      if (sameBasis(record.basis, basis)) usable.push(record);
    });
    if (future) log(`${this.file}: ${future} record(s) from a newer schema than ${SCHEMA_VERSION} kept but not used`);
    if (damaged.length) {
      const aside = `${this.file}.corrupt-${this.options.now?.() ?? Date.now()}`;
      fs.writeFileSync(aside, damaged.join("\n") + "\n");
      writeFileAtomicSync(this.file, kept.map((l) => l + "\n").join(""));
      log(`${this.file}: ${damaged.length} damaged line(s) set aside in ${aside}; ${kept.length} kept`);
    }
    return usable;
  }

  append(record: LogRecord): boolean {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.appendFileSync(this.file, JSON.stringify(record) + "\n");
    this.sinceSnapshot++;
    return this.sinceSnapshot >= (this.options.snapshotEvery ?? 20);
  }

  snapshotWritten(): void {
    this.sinceSnapshot = 0;
  }
}

/** The posterior of one level (user or workspace): its log, its snapshot, and the fit. */
class Level {
  readonly log: EventLog;
  readonly snapshotFile: string;
  posterior: SoupPosterior;

  constructor(
    folder: string,
    private readonly options: StoreOptions,
  ) {
    this.log = new EventLog(path.join(folder, "events.jsonl"), options);
    this.snapshotFile = path.join(folder, "snapshot.json");
    this.posterior = new SoupPosterior({ ...options.posterior, dims: options.basis.dims });
  }

  /** A snapshot that belongs to this schema and basis, or undefined (set aside when damaged). */
  readSnapshot(): PosteriorState | undefined {
    const { basis, log = () => {} } = this.options;
    let text: string;
    try {
      text = fs.readFileSync(this.snapshotFile, "utf8");
    } catch {
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
      if (!Array.isArray(snap.state?.theta) || !Array.isArray(snap.state?.hessian)) throw new Error("no state");
      return snap.state;
    } catch {
      const aside = `${this.snapshotFile}.corrupt-${this.options.now?.() ?? Date.now()}`;
      fs.renameSync(this.snapshotFile, aside);
      log(`${this.snapshotFile}: damaged snapshot set aside in ${aside}; rebuilding from the log`);
      return undefined;
    }
  }

  writeSnapshot(): void {
    const snap: Snapshot = { schema: SCHEMA_VERSION, basis: this.options.basis, state: this.posterior.state() };
    fs.mkdirSync(path.dirname(this.snapshotFile), { recursive: true });
    writeFileAtomicSync(this.snapshotFile, JSON.stringify(snap));
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
  private readonly key: string;

  private constructor(
    dir: string,
    private readonly options: StoreOptions,
  ) {
    this.key = createHash("sha256").update(options.workspace).digest("hex").slice(0, 16);
    this.user = new Level(path.join(dir, "user"), options);
    this.workspace = new Level(path.join(dir, "workspaces", this.key), options);
  }

  /** Opens (or creates) the state under dir; damaged files are set aside and reported through options.log. */
  static open(dir: string, options: StoreOptions): AdaptStore {
    const store = new AdaptStore(dir, options);
    store.load();
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

  /** Logs an event (then updates both levels); texts are hashed, and kept only if options.keepText. */
  record(event: Feedback, texts?: string[]): void {
    const parsed = parseFeedback(event, this.options.basis.dims);
    const record: LogRecord = {
      v: SCHEMA_VERSION,
      t: this.options.now?.() ?? Date.now(),
      basis: { id: this.options.basis.id, version: this.options.basis.version },
      event: parsed,
      ...(texts ? { hashes: texts.map((t) => createHash("sha256").update(t).digest("hex")) } : {}),
      ...(texts && this.options.keepText ? { texts } : {}),
    };
    // Log first: a crash after the append loses nothing, the snapshot is rebuilt from the log.
    const workspaceDue = this.workspace.log.append(record);
    this.workspace.posterior.observe(parsed);
    if (parsed.type !== "slider") {
      const userDue = this.user.log.append({ ...record, ws: this.key });
      this.user.posterior.observe(parsed);
      if (userDue) this.user.writeSnapshot();
    }
    if (workspaceDue) this.workspace.writeSnapshot();
  }

  /** Writes both snapshots now (call on shutdown). */
  flush(): void {
    this.user.writeSnapshot();
    this.workspace.writeSnapshot();
  }

  private load(): void {
    const { basis, posterior, tau } = this.options;
    const userRecords = this.user.log.read();
    this.user.posterior.observeAll(
      userRecords.map((r) => r.event),
      this.user.readSnapshot(),
    );
    const others = userRecords.filter((r) => r.ws !== this.key);
    let base = this.user.posterior;
    if (others.length !== userRecords.length) {
      base = new SoupPosterior({ ...posterior, dims: basis.dims });
      base.observeAll(others.map((r) => r.event));
    }
    const records = this.workspace.log.read();
    // With no other workspace to learn from, the prior is the plain slider prior.
    const prior = others.length ? base.asPrior(tau) : undefined;
    this.workspace.posterior = new SoupPosterior({ ...posterior, dims: basis.dims, ...(prior ? { prior } : {}) });
    this.workspace.posterior.observeAll(
      records.map((r) => r.event),
      this.workspace.readSnapshot(),
    );
  }
}
