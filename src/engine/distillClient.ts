// The parent side of a basis job process (distillProcess.ts): forks it for one job, relays progress and log lines,
// cancels through the AbortSignal, and resolves with the job's typed result. No vscode here, so the integration
// tests drive the same code path the extension does.
import { fork } from "node:child_process";
import * as path from "node:path";
import type { BasisDiagnosis } from "../core/basis/diagnose";
import type { LocalModelCheck } from "../core/setup/localModel";
import type { DiagnoseOptions } from "./diagnose";
import type { DistillOptions, DistillProgress, DistillReport } from "./distill";
import type { BasisJob, BasisJobResult, FromBasisProcess, ToBasisProcess } from "./distillProtocol";
import { EngineError } from "./protocol";

export interface BasisJobOptions {
  /** The process entry; defaults to dist/distill.js next to this bundle. */
  entry?: string;
  /** Extra Node flags (tests run the TypeScript entry through tsx). */
  execArgv?: string[];
  signal?: AbortSignal;
  onProgress?: (p: DistillProgress) => void;
  onLog?: (level: "info" | "warn" | "error", message: string) => void;
  /** After a cancel, how long the job may take to stop by itself before it is killed (default 5 s). */
  killAfterMs?: number;
}

/** Runs one job in a fresh process; rejects with an EngineError ("cancelled" when the signal stopped it). */
function runBasisJob(job: BasisJob, o: BasisJobOptions): Promise<BasisJobResult> {
  if (o.signal?.aborted) return Promise.reject(new EngineError("cancelled", `${job.kind} cancelled`));
  const child = fork(o.entry ?? path.join(__dirname, "distill.js"), [], {
    execArgv: o.execArgv ?? [],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    serialization: "advanced",
  });
  const log = (level: "info" | "warn" | "error", message: string) => message && o.onLog?.(level, message);
  child.stdout?.on("data", (d: Buffer) => log("info", d.toString().trimEnd()));
  child.stderr?.on("data", (d: Buffer) => log("warn", d.toString().trimEnd()));
  const send = (m: ToBasisProcess) => child.connected && child.send(m);
  return new Promise<BasisJobResult>((resolve, reject) => {
    let outcome: { result: BasisJobResult } | { error: EngineError } | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      send({ type: "cancel" });
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
          outcome = { result: m.result };
          return;
        case "failed":
          outcome = { error: new EngineError(m.code, m.message) };
          return;
      }
    });
    child.on("error", (e) => (outcome ??= { error: new EngineError("internal", `cannot start the ${job.kind} process: ${e.message}`) }));
    child.on("exit", (code, signal) => {
      clearTimeout(killTimer);
      o.signal?.removeEventListener("abort", onAbort);
      if (outcome && "result" in outcome) resolve(outcome.result);
      else if (outcome) reject(outcome.error);
      else if (o.signal?.aborted) reject(new EngineError("cancelled", `${job.kind} cancelled`));
      else reject(new EngineError("engine-crashed", `the ${job.kind} process ${signal ? `was killed (${signal})` : `exited with code ${code}`} before it finished`));
    });
    send({ type: "start", job });
  });
}

/** Distills a pack's experts into head adapters in a process of its own (src/engine/distill.ts distillBasis). */
export async function distillInProcess(options: DistillOptions, o: BasisJobOptions = {}): Promise<DistillReport> {
  const r = await runBasisJob({ kind: "distill", options }, o);
  if (r.kind !== "distill") throw new EngineError("internal", `asked to distill, the process answered ${r.kind}`);
  return r.report;
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
    const r = await runBasisJob({ kind: "checkModel", options: { modelPath } }, { killAfterMs: 1000, ...o, signal });
    if (r.kind !== "checkModel") throw new EngineError("internal", `asked to check a model, the process answered ${r.kind}`);
    return r.check;
  } catch (e) {
    if (!(e instanceof EngineError)) throw e;
    if (timeout.aborted) return { ok: false, message: `${modelPath}: checking this file took more than ${CHECK_TIMEOUT_MS / 1000} s; it is not a model this extension can use` };
    if (e.code === "cancelled") throw e;
    return { ok: false, message: `${modelPath}: the check of this file failed (${e.message}); choose a GGUF model file` };
  }
}

/** Diagnoses a basis in a process of its own (src/engine/diagnose.ts diagnosePack). */
export async function diagnoseInProcess(options: DiagnoseOptions, o: BasisJobOptions = {}): Promise<BasisDiagnosis> {
  const r = await runBasisJob({ kind: "diagnose", options }, o);
  if (r.kind !== "diagnose") throw new EngineError("internal", `asked to diagnose, the process answered ${r.kind}`);
  return r.diagnosis;
}
