// The extension's (and CLI's) side of the engine: forks the engine process, sends typed requests,
// streams tokens back, cancels, and restarts the process after a crash, replaying the last load.
import { fork, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import {
  EngineError,
  type ClientMessage,
  type EngineMessage,
  type EngineMethod,
  type EngineMethods,
  type GenerateParams,
  type GenerateResult,
  type LoadParams,
  type StatusResult,
} from "./protocol";

export interface EngineClientOptions {
  /** The engine entry script; defaults to dist/engine.js next to this bundle. */
  entry?: string;
  /** Extra Node flags for the engine process (tests run the TypeScript entry through tsx). */
  execArgv?: string[];
  onLog?: (level: "info" | "warn" | "error", message: string) => void;
  /** Called when the process exits unexpectedly. */
  onCrash?: (reason: string) => void;
}

export interface RequestOptions {
  signal?: AbortSignal;
  onToken?: (text: string) => void;
  onProgress?: (stage: "model" | "basis", fraction: number) => void;
}

interface Pending {
  method: EngineMethod;
  resolve: (r: unknown) => void;
  reject: (e: Error) => void;
  options: RequestOptions;
}

const MAX_BACKOFF_MS = 8000;

export class EngineClient {
  private child: ChildProcess | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private lastLoad: LoadParams | null = null;
  private crashes = 0;
  private lastCrashAt = 0;
  private disposed = false;

  constructor(private readonly options: EngineClientOptions = {}) {}

  /** Loads (or reloads) the model and basis; remembered so a restarted engine loads it again. */
  async load(params: LoadParams, options: RequestOptions = {}): Promise<StatusResult> {
    this.lastLoad = params;
    return this.request("load", params, options);
  }

  generate(params: GenerateParams, options: RequestOptions = {}): Promise<GenerateResult> {
    return this.request("generate", params, options);
  }

  score(params: EngineMethods["score"]["params"], options: RequestOptions = {}) {
    return this.request("score", params, options);
  }

  next(params: EngineMethods["next"]["params"], options: RequestOptions = {}) {
    return this.request("next", params, options);
  }

  status(): Promise<StatusResult> {
    return this.request("status", {}, {});
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** The engine's process id (tests kill it to check crash recovery). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  dispose(): void {
    this.disposed = true;
    this.failAll(new EngineError("cancelled", "engine client disposed"));
    this.child?.kill();
    this.child = null;
  }

  private async request<M extends EngineMethod>(
    method: M,
    params: EngineMethods[M]["params"],
    options: RequestOptions,
  ): Promise<EngineMethods[M]["result"]> {
    if (this.disposed) throw new EngineError("cancelled", "engine client disposed");
    if (options.signal?.aborted) throw new EngineError("cancelled", `${method} cancelled`);
    const child = await this.ensureProcess(method);
    const id = this.nextId++;
    return new Promise<EngineMethods[M]["result"]>((resolve, reject) => {
      const onAbort = () => this.send({ type: "cancel", id });
      options.signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => options.signal?.removeEventListener("abort", onAbort);
      this.pending.set(id, {
        method,
        options,
        resolve: (r) => {
          done();
          resolve(r as EngineMethods[M]["result"]);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      child.send({ type: "request", id, method, params } as ClientMessage);
    });
  }

  private send(message: ClientMessage): void {
    this.child?.send(message);
  }

  /** Starts the engine if it is not running; after a crash, waits a backoff and replays the last load. */
  private async ensureProcess(method: EngineMethod): Promise<ChildProcess> {
    if (this.child) return this.child;
    if (this.crashes > 0) {
      const backoff = Math.min(MAX_BACKOFF_MS, 250 * 2 ** (this.crashes - 1));
      const wait = this.lastCrashAt + backoff - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const entry = this.options.entry ?? path.join(__dirname, "engine.js");
    const child = fork(entry, [], {
      execArgv: this.options.execArgv ?? [],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "advanced",
    });
    this.child = child;
    child.stdout?.on("data", (d: Buffer) => this.log("info", d.toString().trimEnd()));
    child.stderr?.on("data", (d: Buffer) => this.log("warn", d.toString().trimEnd()));
    child.on("message", (m) => this.onMessage(m as EngineMessage));
    child.on("exit", (code, signal) => this.onExit(child, code, signal));
    if (this.lastLoad && method !== "load") {
      // The new process has nothing loaded: replay the last load before the caller's request.
      const id = this.nextId++;
      const replay = new Promise<unknown>((resolve, reject) =>
        this.pending.set(id, { method: "load", resolve, reject, options: {} }),
      );
      child.send({ type: "request", id, method: "load", params: this.lastLoad } as ClientMessage);
      await replay;
    }
    return child;
  }

  private onMessage(m: EngineMessage): void {
    if (m.type === "log") {
      this.log(m.level, m.message);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    switch (m.type) {
      case "token":
        p.options.onToken?.(m.text);
        break;
      case "progress":
        p.options.onProgress?.(m.stage, m.fraction);
        break;
      case "result":
        this.pending.delete(m.id);
        this.crashes = 0;
        p.resolve(m.result);
        break;
      case "error":
        this.pending.delete(m.id);
        p.reject(new EngineError(m.code, m.message));
        break;
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = null;
    if (this.disposed) return;
    this.crashes++;
    this.lastCrashAt = Date.now();
    const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
    const reason = `the engine process ${how}; it restarts on the next request`;
    this.options.onCrash?.(reason);
    this.log("error", reason);
    this.failAll(new EngineError("engine-crashed", reason));
  }

  private failAll(error: EngineError): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(new EngineError(error.code, `${p.method} failed: ${error.message}`));
  }

  private log(level: "info" | "warn" | "error", message: string): void {
    if (message) this.options.onLog?.(level, message);
  }
}
