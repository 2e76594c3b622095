// The parent side of a basis job process (basisJobProcess.ts): forks it for one job, relays progress and log lines,
// cancels through the AbortSignal, and resolves with the job's typed result. No vscode here, so the integration
// tests drive the same code path the extension does.
import { fork } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import type { BasisDiagnosis } from "../core/basis/diagnose";
import type { LocalModelCheck } from "../core/setup/localModel";
import type { DiagnoseOptions } from "./diagnose";
import type { DistillOptions, DistillProgress, DistillReport } from "./distill";
import type { BasisJobKind, BasisJobMethods, FromBasisProcess, ToBasisProcess } from "./basisJobProtocol";
import { EngineError } from "./rpc";

export interface BasisJobOptions {
  /** The process entry; defaults to dist/basisJobs.js next to this bundle. */
  entry?: string;
  /** Extra Node flags (tests run the TypeScript entry through tsx). */
  execArgv?: string[];
  signal?: AbortSignal;
  onProgress?: (p: DistillProgress) => void;
  onLog?: (level: "info" | "warn" | "error", message: string) => void;
  /** After a cancel, how long the job may take to stop by itself before it is killed (default 5 s). */
  killAfterMs?: number;
  /** Runs the process at the lowest CPU priority, so that whatever else the machine runs comes first. */
  lowPriority?: boolean;
  /** Receives, once the process is started, the switch that pauses the job at its next check and resumes it. */
  onControl?: (control: (message: "pause" | "resume") => void) => void;
}

/** The one request of a job process. */
const JOB_ID = 1;

/** Runs one job in a fresh process; rejects with an EngineError ("cancelled" when the signal stopped it). */
function runBasisJob<M extends BasisJobKind>(method: M, params: BasisJobMethods[M]["params"], o: BasisJobOptions): Promise<BasisJobMethods[M]["result"]> {
  if (o.signal?.aborted) return Promise.reject(new EngineError("cancelled", `${method} cancelled`));
  const child = fork(o.entry ?? path.join(__dirname, "basisJobs.js"), [], {
    execArgv: o.execArgv ?? [],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    serialization: "advanced",
  });
  const log = (level: "info" | "warn" | "error", message: string) => message && o.onLog?.(level, message);
  child.stdout?.on("data", (d: Buffer) => log("info", d.toString().trimEnd()));
  child.stderr?.on("data", (d: Buffer) => log("warn", d.toString().trimEnd()));
  const send = (m: ToBasisProcess) => child.connected && child.send(m);
  if (o.lowPriority && child.pid !== undefined) {
    try {
      os.setPriority(child.pid, os.constants.priority.PRIORITY_LOW);
    } catch (e) {
      log("warn", `cannot lower the ${method} process's priority: ${(e as Error).message}`);
    }
  }
  o.onControl?.((type) => send({ type, id: JOB_ID }));
  return new Promise((resolve, reject) => {
    let outcome: { result: BasisJobMethods[M]["result"] } | { error: EngineError } | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      send({ type: "cancel", id: JOB_ID });
      // Loading a model cannot be interrupted: a job that does not stop soon is killed (its caches are atomic).
      killTimer = setTimeout(() => child.kill("SIGKILL"), o.killAfterMs ?? 5000);
    };
    o.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("message", (raw) => {
      const m = raw as FromBasisProcess;
      switch (m.type) {
        case "progress":
          o.onProgress?.(m.progress);
          return;
        case "log":
          log(m.level, m.message);
          return;
        case "result":
          // The process answers the one method it was asked for; a mismatch is a bug worth naming.
          outcome = m.method === method ? { result: m.result as BasisJobMethods[M]["result"] } : { error: new EngineError("internal", `asked to ${method}, the process answered ${m.method}`) };
          return;
        case "error":
          outcome = { error: new EngineError(m.code, m.message) };
          return;
      }
    });
    child.on("error", (e) => (outcome ??= { error: new EngineError("internal", `cannot start the ${method} process: ${e.message}`) }));
    child.on("exit", (code, signal) => {
      clearTimeout(killTimer);
      o.signal?.removeEventListener("abort", onAbort);
      if (outcome && "result" in outcome) resolve(outcome.result);
      else if (outcome) reject(outcome.error);
      else if (o.signal?.aborted) reject(new EngineError("cancelled", `${method} cancelled`));
      else reject(new EngineError("engine-crashed", `the ${method} process ${signal ? `was killed (${signal})` : `exited with code ${code}`} before it finished`));
    });
    send({ type: "request", id: JOB_ID, method, params } as ToBasisProcess);
  });
}

/** Distills a pack's experts into head adapters in a process of its own (distillBasis of distill.ts). */
export function distillInProcess(options: DistillOptions, o: BasisJobOptions = {}): Promise<DistillReport> {
  return runBasisJob("distill", options, o);
}

/** A local model check that runs longer than this is stopped (the reader reads headers in bounded chunks). */
const CHECK_TIMEOUT_MS = 60_000;

/**
 * Checks a user-chosen model file (validateLocalModel) in a process of its own, so that no file, however it is
 * made, is parsed inside the extension host. A crash or a timeout of that process is a failed check, with a message.
 */
export async function checkModelInProcess(modelPath: string, o: BasisJobOptions = {}): Promise<LocalModelCheck> {
  const timeout = AbortSignal.timeout(CHECK_TIMEOUT_MS);
  const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
  try {
    return await runBasisJob("checkModel", { modelPath }, { killAfterMs: 1000, ...o, signal });
  } catch (e) {
    if (!(e instanceof EngineError)) throw e;
    if (timeout.aborted) return { ok: false, message: `${modelPath}: checking this file took more than ${CHECK_TIMEOUT_MS / 1000} s; it is not a model this extension can use` };
    if (e.code === "cancelled") throw e;
    return { ok: false, message: `${modelPath}: the check of this file failed (${e.message}); choose a GGUF model file` };
  }
}

/** Diagnoses a basis in a process of its own (diagnosePack of diagnose.ts). */
export function diagnoseInProcess(options: DiagnoseOptions, o: BasisJobOptions = {}): Promise<BasisDiagnosis> {
  return runBasisJob("diagnose", options, o);
}
