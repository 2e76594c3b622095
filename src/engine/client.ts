// The extension's (and CLI's) side of the engine: forks the engine process, sends typed requests,
// streams tokens back, cancels, and restarts the process after a crash, replaying the last load, unless the crash
// happened while loading: then the files are to blame, and that load waits until a different one is asked for.
import { fork, type ChildProcess } from "node:child_process";
import { statSync } from "node:fs";
import * as path from "node:path";
import {
  EngineError,
  type ClientMessage,
  type EngineErrorCode,
  type EngineMessage,
  type EngineMethod,
  type EngineMethods,
  type GenerateParams,
  type GenerateResult,
  type LoadParams,
  type StatusResult,
} from "./protocol";

export interface EngineClientOptions {
  /** The engine entry script; defaults to dist/engine.js next to this bundle (main.ts beside this file from source). */
  entry?: string;
  /** Extra Node flags for the engine process (the TypeScript entry runs through tsx). */
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
/** stderr lines kept per engine process: llama.cpp's last words before an abort. */
const STDERR_LINES = 8;
/** After dispose(), how long an engine may take to exit on SIGTERM before it is killed. */
const KILL_AFTER_MS = 3000;
/** Crashes in a row, with no request answered between them, after which the last load is no longer replayed. */
const MAX_REPLAYS = 3;

/** A load that crashed the engine: not replayed, and refused when asked again for the same files. */
interface CrashedLoad {
  key: string;
  message: string;
}

/** The files a load reads, with their sizes and times, so a replaced file is tried again. */
function loadKey(params: LoadParams): string {
  const files = [
    params.modelPath,
    ...(params.basis.kind === "pack" ? [params.basis.path, ...Object.values(params.basis.heads ?? {})] : params.basis.policies.flatMap((p) => (p.kind === "adapter" ? [p.path] : p.head ? [p.head] : []))),
  ];
  return files
    .map((f) => {
      try {
        const st = statSync(f);
        return `${f}:${st.size}:${st.mtimeMs}`;
      } catch {
        return f;
      }
    })
    .join("|");
}

/** What a load reads, for messages: the model, and the adapters or pack beside it. */
function describeLoad(params: LoadParams): string {
  const adapters = params.basis.kind === "policies" ? params.basis.policies.flatMap((p) => (p.kind === "adapter" ? [p.path] : [])) : [];
  if (params.basis.kind === "pack") return `${params.modelPath} (basis pack ${params.basis.path})`;
  return adapters.length ? `${params.modelPath} with adapter${adapters.length > 1 ? "s" : ""} ${adapters.join(", ")}` : params.modelPath;
}

export class EngineClient {
  private child: ChildProcess | null = null;
  /** The one start in flight: concurrent requests during a restart backoff share it. */
  private starting: Promise<ChildProcess> | null = null;
  /** Every process this client forked and has not seen exit; dispose() ends them all. */
  private readonly children = new Set<ChildProcess>();
  private readonly stderrTail = new Map<ChildProcess, string[]>();
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private lastLoad: LoadParams | null = null;
  /** The load running in the engine now, if any (a crash during it means the files are to blame). */
  private loadInFlight: LoadParams | null = null;
  private crashedLoad: CrashedLoad | null = null;
  private crashes = 0;
  private lastCrashAt = 0;
  private disposed = false;

  constructor(private readonly options: EngineClientOptions = {}) {}

  /**
   * Loads (or reloads) the model and basis; remembered so a restarted engine loads it again. A load that crashed
   * the engine is refused with the crash's message until one of its files changes.
   */
  async load(params: LoadParams, options: RequestOptions = {}): Promise<StatusResult> {
    const key = loadKey(params);
    if (this.crashedLoad?.key === key) throw new EngineError("bad-model", this.crashedLoad.message);
    this.crashedLoad = null;
    this.lastLoad = null;
    const status = await this.request("load", params, options);
    this.lastLoad = params;
    return status;
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

  /** Processes started and not yet exited (more than one only while a disposed one is still exiting). */
  get liveProcesses(): number {
    return this.children.size;
  }

  dispose(): void {
    this.disposed = true;
    this.failAll(new EngineError("cancelled", "engine client disposed"));
    for (const child of this.children) {
      child.kill();
      // An engine stuck in native code ignores SIGTERM.
      setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"), KILL_AFTER_MS).unref();
    }
    this.child = null;
  }

  private async request<M extends EngineMethod>(
    method: M,
    params: EngineMethods[M]["params"],
    options: RequestOptions,
  ): Promise<EngineMethods[M]["result"]> {
    if (this.disposed) throw new EngineError("cancelled", "engine client disposed");
    if (options.signal?.aborted) throw new EngineError("cancelled", `${method} cancelled`);
    if (method !== "load" && method !== "status" && this.crashedLoad) throw new EngineError("not-loaded", this.crashedLoad.message);
    const child = await this.ensureProcess(method);
    if (this.disposed) throw new EngineError("cancelled", "engine client disposed");
    const id = this.nextId++;
    return new Promise<EngineMethods[M]["result"]>((resolve, reject) => {
      const onAbort = () => this.send(child, { type: "cancel", id });
      options.signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => {
        options.signal?.removeEventListener("abort", onAbort);
        if (method === "load") this.loadInFlight = null;
      };
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
      if (method === "load") this.loadInFlight = params as LoadParams;
      // What llama.cpp says from here on is about this request.
      if (method !== "status") this.stderrTail.get(child)?.splice(0);
      this.send(child, { type: "request", id, method, params } as ClientMessage, id);
    });
  }

  /** Sends unless the channel has closed; a request that cannot be sent fails instead of throwing out of a callback. */
  private send(child: ChildProcess, message: ClientMessage, id?: number): void {
    const failed = (e: Error) => {
      const p = id === undefined ? undefined : this.pending.get(id);
      if (!p) return;
      this.pending.delete(id!);
      p.reject(new EngineError("engine-crashed", `${p.method} failed: the engine process is gone (${e.message})`));
    };
    if (!child.connected) {
      failed(new Error("channel closed"));
      return;
    }
    try {
      child.send(message, (e) => e && failed(e));
    } catch (e) {
      failed(e as Error);
    }
  }

  /** The running engine, or the one being started (one start at a time, whoever asks). */
  private ensureProcess(method: EngineMethod): Promise<ChildProcess> {
    if (this.child) return Promise.resolve(this.child);
    this.starting ??= this.start(method).finally(() => (this.starting = null));
    return this.starting;
  }

  /** Starts the engine; after a crash, waits a backoff and replays the last load that succeeded. */
  private async start(method: EngineMethod): Promise<ChildProcess> {
    if (this.crashes > 0) {
      const backoff = Math.min(MAX_BACKOFF_MS, 250 * 2 ** (this.crashes - 1));
      const wait = this.lastCrashAt + backoff - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    if (this.disposed) throw new EngineError("cancelled", "engine client disposed");
    // Run from source (tsx: tests, `node --import tsx src/cli/main.ts`), the entry is the TypeScript one.
    const fromSource = __filename.endsWith(".ts");
    const entry = this.options.entry ?? path.join(__dirname, fromSource ? "main.ts" : "engine.js");
    const child = fork(entry, [], {
      execArgv: this.options.execArgv ?? (fromSource && !this.options.entry ? ["--import", "tsx"] : []),
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "advanced",
    });
    this.child = child;
    this.children.add(child);
    const tail: string[] = [];
    this.stderrTail.set(child, tail);
    child.stdout?.on("data", (d: Buffer) => this.log("info", d.toString().trimEnd()));
    child.stderr?.on("data", (d: Buffer) => {
      const text = d.toString().trimEnd();
      tail.push(...text.split("\n").filter((l) => l.trim() !== ""));
      tail.splice(0, Math.max(0, tail.length - STDERR_LINES));
      this.log("warn", text);
    });
    child.on("message", (m) => this.onMessage(m as EngineMessage));
    child.on("error", (e) => this.log("error", `engine process: ${e.message}`));
    child.on("exit", (code, signal) => this.onExit(child, code, signal));
    if (this.lastLoad && method !== "load") {
      // The new process has nothing loaded: replay the last load before the caller's request.
      const replay = this.lastLoad;
      const id = this.nextId++;
      const done = new Promise<unknown>((resolve, reject) =>
        this.pending.set(id, { method: "load", resolve, reject, options: {} }),
      ).finally(() => (this.loadInFlight = null));
      this.loadInFlight = replay;
      this.send(child, { type: "request", id, method: "load", params: replay } as ClientMessage, id);
      await done;
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
    this.children.delete(child);
    const tail = this.stderrTail.get(child) ?? [];
    this.stderrTail.delete(child);
    if (this.child !== child) return;
    this.child = null;
    if (this.disposed) return;
    this.crashes++;
    this.lastCrashAt = Date.now();
    const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
    const said = tail.length ? `: llama.cpp said: ${tail.join(" / ")}` : "";
    let reason: string;
    let errorCode: EngineErrorCode = "engine-crashed";
    const crashed = this.loadInFlight;
    this.loadInFlight = null;
    if (crashed) {
      // The files are the likely cause: replaying this load would crash again, so it waits for a different one.
      reason = `the engine crashed while loading ${describeLoad(crashed)} (${signal ?? `exit code ${code}`})${said}; choose another model or fix the file`;
      this.crashedLoad = { key: loadKey(crashed), message: reason };
      this.lastLoad = null;
      errorCode = "bad-model";
    } else if (this.lastLoad && this.crashes >= MAX_REPLAYS) {
      reason = `the engine crashed ${this.crashes} times in a row serving ${describeLoad(this.lastLoad)} (${signal ?? `exit code ${code}`})${said}; it is not loaded again until a new load is asked for`;
      this.crashedLoad = { key: loadKey(this.lastLoad), message: reason };
      this.lastLoad = null;
      errorCode = "bad-model";
    } else {
      reason = `the engine process ${how}${said}; it restarts on the next request`;
    }
    this.options.onCrash?.(reason);
    this.log("error", reason);
    this.failAll(new EngineError(errorCode, reason));
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
