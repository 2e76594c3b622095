// The typed message protocol between the extension (or a test) and the basis job process (basisJobProcess.ts): one
// job per process: distillation, diagnostics, or the check of a user-chosen model file. Both are long model work that must neither block the extension
// host nor queue behind completions in the engine process, so they get a process of their own. The process
// validates what it is sent (paths, counts) before loading anything; what it sends back is typed, not validated,
// as the engine's messages are (src/engine/client.ts).
import * as path from "node:path";
import type { BasisDiagnosis } from "../core/basis/diagnose";
import type { LocalModelCheck } from "../core/setup/localModel";
import type { DiagnoseOptions } from "./diagnose";
import type { DistillOptions, DistillProgress, DistillReport } from "./distill";
import { fields, fraction, integer, isObj, nonNegative, object, oneOf, strings, type Check } from "../shared/check";
import { GPU_MODES } from "../shared/soup";
import type { RpcCancel, RpcError, RpcLog, RpcRequest, RpcResult } from "./rpc";

/** A job process's methods (one request per process): each job's options and what it returns. */
export type BasisJobMethods = {
  distill: { params: DistillOptions; result: DistillReport };
  diagnose: { params: DiagnoseOptions; result: BasisDiagnosis };
  /** A user-chosen GGUF is parsed here rather than in the extension host, where a bug would kill the editor. */
  checkModel: { params: { modelPath: string }; result: LocalModelCheck };
};
export type BasisJobKind = keyof BasisJobMethods;

/**
 * Parent -> process: the job's request (first message); cancel (the job stops at its next check, caches kept);
 * pause and resume (the job waits at its next check, holding its place, so a background job yields to the editor).
 */
export type ToBasisProcess = RpcRequest<BasisJobMethods> | RpcCancel | { type: "pause"; id: number } | { type: "resume"; id: number };

/** Process -> parent. */
export type FromBasisProcess = RpcResult<BasisJobMethods> | RpcError | { type: "progress"; id: number; progress: DistillProgress } | RpcLog;

const absolutePath: Check = (v) => (typeof v === "string" && v.length > 0 && path.isAbsolute(v) ? undefined : "must be an absolute path");
const corpusFilter = object({ extensions: strings, maxTotalBytes: integer(1) }, ["extensions", "maxTotalBytes"]);

/** Field checks per job kind, typed from the options so a new option without a check fails to compile. */
const DISTILL: Record<keyof DistillOptions, Check> = {
  modelPath: absolutePath,
  packPath: absolutePath,
  corpus: absolutePath,
  corpusFilter,
  outDir: absolutePath,
  rank: integer(1),
  positions: integer(2),
  window: integer(2),
  perWindow: integer(1),
  heldOut: fraction,
  refineSteps: integer(0),
  ridge: nonNegative,
  seed: integer(0),
  cacheDir: absolutePath,
  threads: integer(1),
  gpu: oneOf(GPU_MODES),
  only: strings,
};
const DIAGNOSE: Record<keyof DiagnoseOptions, Check> = {
  modelPath: absolutePath,
  packPath: absolutePath,
  calibration: absolutePath,
  calibrationFilter: corpusFilter,
  responses: integer(2),
  threshold: fraction,
  threads: integer(1),
};

const PARAMS: { readonly [K in BasisJobKind]: { schema: Record<string, Check>; required: readonly string[] } } = {
  distill: { schema: DISTILL, required: ["modelPath", "packPath", "corpus", "outDir"] },
  diagnose: { schema: DIAGNOSE, required: ["modelPath", "packPath"] },
  checkModel: { schema: { modelPath: absolutePath }, required: ["modelPath"] },
};
const requestId = integer(1);

/** Validates a message sent to the process; returns it typed, or why it was rejected. */
export function parseToBasisProcess(msg: unknown): ToBasisProcess | { error: string } {
  if (!isObj(msg)) return { error: "message must be an object" };
  if (msg.type === "cancel" || msg.type === "pause" || msg.type === "resume") {
    const problem = fields(msg, { type: () => undefined, id: requestId });
    return problem ? { error: `${msg.type}: ${problem}` } : { type: msg.type, id: msg.id as number };
  }
  if (msg.type !== "request") return { error: `unknown message type ${JSON.stringify(String(msg.type).slice(0, 40))}` };
  const method = msg.method;
  if (method !== "distill" && method !== "diagnose" && method !== "checkModel") return { error: 'request.method must be "distill", "diagnose" or "checkModel"' };
  const problem = fields(msg, { type: () => undefined, id: requestId, method: () => undefined, params: (v) => (isObj(v) ? undefined : "must be an object") });
  if (problem) return { error: `request.${problem}` };
  const params = msg.params as Record<string, unknown>;
  const bad = fields(params, PARAMS[method].schema, PARAMS[method].required);
  if (bad) return { error: `${method} options: ${bad}` };
  // Every field of the params was checked against the schema of this method, which mirrors its options type.
  return msg as ToBasisProcess;
}

/**
 * Overall completion of a distillation in [0, 1]. Collecting (a forward pass per position and policy) is most of
 * the work; fitting (a regression and a refinement per expert) is given the last 15%.
 */
export function distillFraction(p: DistillProgress): number {
  const stage = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
  return p.stage === "collect" ? 0.85 * stage : 0.85 + 0.15 * stage;
}

