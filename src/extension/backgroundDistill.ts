// Background distillation in the editor: when a model is set and the basis has prompted experts, distills them into
// head adapters on the workspace's code without being asked, so that personalized completions run at plain-model
// speed (chat keeps the prompted experts). The decisions are the pure schedule of src/core/basis/background.ts; this
// class feeds it the editor's events (requests in flight, typing, settings) and carries out its actions: a basis job
// process at the lowest CPU priority, paused while the person types or a request runs, its state saved under the
// extension's global storage per model + pack + workspace key, so that a restart continues where it stopped.
import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import * as path from "node:path";
import * as vscode from "vscode";
import { BACKGROUND_DISTILL, initialSchedule, stepSchedule, type DistillTarget, type ScheduleAction, type ScheduleEvent, type ScheduleState } from "../core/basis/background";
import { WORKSPACE_CORPUS } from "../core/basis/corpus";
import { readDistillRecord, writeDistillRecord, type DistillRecord } from "../core/basis/distillRecord";
import { distillInProcess } from "../engine/basisJobClient";
import { distillFraction } from "../engine/basisJobProtocol";
import { EngineError } from "../engine/protocol";
import { folderKey } from "./basisJobs";
import type { Session } from "./session";

export class BackgroundDistill implements vscode.Disposable {
  private state: ScheduleState;
  private readonly emitter = new vscode.EventEmitter<ScheduleState>();
  /** Fires after every change of the schedule (the status bar paints it). */
  readonly onDidChange = this.emitter.event;
  private readonly subscriptions: vscode.Disposable[];
  private job: { cancel: AbortController; control?: (m: "pause" | "resume") => void; paused: boolean } | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  /** The current key's folder and what the job distills, set with the target. */
  private current: { key: string; dir: string; folder: string; packPath: string; modelPath: string; prompted: string[] } | undefined;
  /** Events are handled one at a time, in order (reading the saved record is asynchronous). */
  private queue: Promise<void> = Promise.resolve();
  private lastSaved = 0;

  constructor(private readonly session: Session) {
    this.state = initialSchedule(session.settings.backgroundDistillation);
    this.subscriptions = [
      session.engine.onDidRequest((delta) => this.feed({ type: "request", delta })),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.contentChanges.length && (e.document.uri.scheme === "file" || e.document.uri.scheme === "untitled")) this.feed({ type: "typed" });
      }),
      session.onDidChange((change) => {
        if (change.settings || change.basis) this.refresh();
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh()),
    ];
  }

  get schedule(): ScheduleState {
    return this.state;
  }

  /** Works out the target again (model, basis, folder, setting) and feeds it, with its saved record. */
  refresh(): Promise<void> {
    return this.enqueue(async () => {
      const enabled = this.session.settings.backgroundDistillation;
      const target = await this.target();
      const saved = target.key !== null ? await this.readRecord() : undefined;
      if (enabled !== this.state.enabled) this.apply({ type: "enabled", enabled, saved });
      this.apply({ type: "target", target, saved });
    });
  }

  /** Holds the job paused, as a request in flight does, until the returned disposable is disposed. */
  hold(): vscode.Disposable {
    this.feed({ type: "request", delta: 1 });
    return new vscode.Disposable(() => this.feed({ type: "request", delta: -1 }));
  }

  /** The person's stop command: the job ends, what it collected is kept, and it stays stopped until resumed. */
  stop(): void {
    const { phase, reason } = this.state;
    if (phase === "idle" || phase === "ready" || phase === "stopped") {
      const why = phase === "ready" ? "it is done" : phase === "stopped" ? "it is already stopped" : `there is nothing to distill (${reason})`;
      void vscode.window.showInformationMessage(`Spectral Soup: no background distillation to stop: ${why}.`);
    }
    this.feed({ type: "stop" });
  }

  resume(): void {
    const { phase, reason } = this.state;
    if (phase !== "stopped" && phase !== "failed") {
      const why = phase === "idle" ? `there is nothing to distill (${reason})` : phase === "ready" ? "it is done" : "it is not stopped";
      void vscode.window.showInformationMessage(`Spectral Soup: no background distillation to resume: ${why}.`);
    }
    this.feed({ type: "resume" });
  }

  dispose(): void {
    clearTimeout(this.wakeTimer);
    this.job?.cancel.abort();
    for (const s of this.subscriptions) s.dispose();
    this.emitter.dispose();
  }

  private feed(event: ScheduleEvent): void {
    void this.enqueue(async () => this.apply(event));
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(task).catch((e: unknown) => this.session.log.error(`background distillation: ${e instanceof Error ? e.message : String(e)}`));
    return this.queue;
  }

  private apply(event: ScheduleEvent): void {
    const before = this.state;
    const { state, actions } = stepSchedule(this.state, event, Date.now());
    this.state = state;
    for (const a of actions) this.act(a);
    if (state.phase !== before.phase || state.fraction !== before.fraction || state.key !== before.key || state.reason !== before.reason) {
      if (state.phase !== before.phase) this.session.log.info(`background distillation: ${before.phase} -> ${state.phase}${state.reason ? ` (${state.reason})` : ""}`);
      this.emitter.fire(state);
    }
  }

  private act(a: ScheduleAction): void {
    switch (a.type) {
      case "start":
        this.start();
        return;
      case "pause":
      case "continue":
        if (this.job) {
          this.job.paused = a.type === "pause";
          this.job.control?.(a.type === "pause" ? "pause" : "resume");
        }
        return;
      case "cancel":
        this.job?.cancel.abort();
        this.job = undefined;
        return;
      case "use-heads":
        void this.useSavedHeads();
        return;
      case "drop-heads":
        this.session.useHeads(undefined);
        return;
      case "wake":
        clearTimeout(this.wakeTimer);
        this.wakeTimer = setTimeout(() => this.feed({ type: "tick" }), Math.max(0, a.at - Date.now()) + 50);
        return;
      case "save":
        void this.saveRecord(a.status);
        return;
    }
  }

  /** What there is to distill now, and its key: the model file, the pack's prompted experts, the folder. */
  private async target(): Promise<DistillTarget> {
    const load = this.session.settings.load;
    const { pack, path: packPath } = this.session.basis;
    const folder = vscode.workspace.workspaceFolders?.[0];
    const prompted = pack.policies.filter((p) => p.kind === "prompted");
    this.current = undefined;
    if (load.server.urls.length) return { key: null, reason: "completions come from a llama-server pool" };
    if (!load.modelPath) return { key: null, reason: "no model is set" };
    if (!prompted.length) return { key: null, reason: "the basis has no prompted experts" };
    if (!folder) return { key: null, reason: "no folder is open" };
    let model;
    try {
      model = await stat(load.modelPath);
    } catch (e) {
      return { key: null, reason: `${load.modelPath}: cannot read the model (${(e as NodeJS.ErrnoException).code ?? String(e)})` };
    }
    const key = createHash("sha256")
      .update(JSON.stringify({ model: [load.modelPath, model.size, model.mtimeMs], pack: [pack.id, pack.version, prompted], folder: folder.uri.toString(), settings: BACKGROUND_DISTILL }))
      .digest("hex")
      .slice(0, 16);
    const dir = path.join(this.session.context.globalStorageUri.fsPath, "distilled", folderKey(folder), `background-${key}`);
    this.current = { key, dir, folder: folder.uri.fsPath, packPath, modelPath: load.modelPath, prompted: prompted.map((p) => p.id) };
    return { key };
  }

  private recordFile(): string | undefined {
    return this.current && path.join(this.current.dir, "progress.json");
  }

  /** The saved record of the current key; one that cannot be used is set aside (named in the log) and the job starts over. */
  private async readRecord(): Promise<DistillRecord | undefined> {
    const file = this.recordFile();
    if (!file || !this.current) return undefined;
    try {
      const { record, setAside } = await readDistillRecord(file, this.current.key);
      if (setAside) this.session.log.warn(`background distillation: ${setAside.problem}; set aside as ${setAside.to}, starting over (the windows already collected are kept)`);
      return record;
    } catch (e) {
      this.session.log.warn(`background distillation: cannot read or set aside ${file} (${(e as Error).message}); starting over`);
      return undefined;
    }
  }

  private async saveRecord(status: DistillRecord["status"], heads: Record<string, string> = {}, experts = 0): Promise<void> {
    const file = this.recordFile();
    if (!file || !this.state.key) return;
    const record: DistillRecord = { key: this.state.key, status, fraction: this.state.fraction, heads, experts, updated: new Date().toISOString() };
    try {
      await writeDistillRecord(file, record);
    } catch (e) {
      this.session.log.warn(`background distillation: cannot save progress to ${file}: ${(e as Error).message}`);
    }
  }

  private async useSavedHeads(): Promise<void> {
    const record = await this.readRecord();
    if (record?.status === "ready") this.session.useHeads(record.heads);
  }

  /** Starts the job for the current key in a process of its own; its outcome comes back as schedule events. */
  private start(): void {
    const c = this.current;
    const key = this.state.key;
    if (!c || !key) return;
    const cancel = new AbortController();
    const job: NonNullable<BackgroundDistill["job"]> = { cancel, paused: false };
    this.job = job;
    const load = this.session.settings.load;
    this.session.log.info(`background distillation of ${c.prompted.length} prompted experts of ${c.packPath} on ${c.folder} into ${c.dir}`);
    const options = {
      modelPath: c.modelPath,
      packPath: c.packPath,
      corpus: c.folder,
      corpusFilter: WORKSPACE_CORPUS,
      outDir: path.join(c.dir, "heads"),
      // Its own cache: the manual command samples other windows under the same file names.
      cacheDir: path.join(c.dir, "cache"),
      only: c.prompted,
      ...BACKGROUND_DISTILL,
      ...(load.threads > 0 ? { threads: load.threads } : {}),
      gpu: load.gpu,
    };
    distillInProcess(options, {
      entry: path.join(this.session.context.extensionPath, "dist", "basisJobs.js"),
      signal: cancel.signal,
      lowPriority: true,
      onControl: (control) => {
        job.control = control;
        if (job.paused) control("pause");
      },
      onLog: (level, message) => this.session.log[level](`background distillation: ${message}`),
      onProgress: (p) => {
        if (this.job !== job) return;
        this.feed({ type: "progress", fraction: distillFraction(p), etaSeconds: p.etaSeconds });
        // The record says how far it got; the windows themselves are saved by the job as it goes.
        if (Date.now() - this.lastSaved > 10_000) {
          this.lastSaved = Date.now();
          void this.enqueue(() => (this.state.key === key ? this.saveRecord("partial") : Promise.resolve()));
        }
      },
    }).then(
      (report) => {
        if (this.job !== job) return;
        this.job = undefined;
        // A head that does not bring the base closer to its expert on held-out positions would only mislead: that
        // expert keeps its prompt.
        const useful = report.experts.filter((e) => e.adapter.kl < e.reference.kl);
        const heads = Object.fromEntries(useful.map((e) => [e.id, e.file]));
        for (const e of report.experts) {
          this.session.log.info(
            `background distillation: ${e.id}: held-out KL to the expert ${e.reference.kl.toExponential(2)} (base) -> ${e.adapter.kl.toExponential(2)} (head), ` +
              `top-1 ${(100 * e.adapter.top1).toFixed(0)}%${useful.includes(e) ? "" : "; not used, the expert keeps its prompt"}`,
          );
        }
        void this.enqueue(async () => {
          if (this.state.key !== key) return;
          await this.saveRecord("ready", heads, report.experts.length);
          this.apply({ type: "finished", heads: useful.length, experts: report.experts.length });
        });
      },
      (e: unknown) => {
        if (this.job !== job) return;
        this.job = undefined;
        if (e instanceof EngineError && e.code === "cancelled") return;
        const message = e instanceof Error ? e.message : String(e);
        this.session.log.error(`background distillation failed: ${message}`);
        this.feed({ type: "failed", message });
      },
    );
  }
}
