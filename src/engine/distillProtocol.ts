// The typed message protocol between the extension (or a test) and the basis job process (distillProcess.ts): one
// job per process, distillation or diagnostics. Both are long model work that must neither block the extension
// host nor queue behind completions in the engine process, so they get a process of their own. The process
// validates what it is sent (paths, counts) before loading anything; what it sends back is typed, not validated,
// as the engine's messages are (src/engine/client.ts).
import * as path from "node:path";
import type { BasisDiagnosis } from "../core/basis/diagnose";
import type { LocalModelCheck } from "../core/setup/localModel";
import type { DiagnoseOptions } from "./diagnose";
import type { DistillOptions, DistillProgress, DistillReport } from "./distill";
import type { EngineErrorCode, GpuMode } from "./protocol";

/** checkModel: a user-chosen GGUF is parsed here rather than in the extension host, where a bug would kill the editor. */
export type BasisJob =
  | { kind: "distill"; options: DistillOptions }
  | { kind: "diagnose"; options: DiagnoseOptions }
  | { kind: "checkModel"; options: { modelPath: string } };

export type BasisJobResult =
  | { kind: "distill"; report: DistillReport }
  | { kind: "diagnose"; diagnosis: BasisDiagnosis }
  | { kind: "checkModel"; check: LocalModelCheck };

/** Parent -> process: the job (first message), and cancel (the job stops at its next check, caches kept). */
export type ToBasisProcess = { type: "start"; job: BasisJob } | { type: "cancel" };

/** Process -> parent. */
export type FromBasisProcess =
  | { type: "progress"; progress: DistillProgress }
  | { type: "log"; level: "info" | "warn" | "error"; message: string }
  | { type: "result"; result: BasisJobResult }
  | { type: "failed"; code: EngineErrorCode; message: string };

type Check = (v: unknown) => string | undefined;

const absolutePath: Check = (v) => (typeof v === "string" && v.length > 0 && path.isAbsolute(v) ? undefined : "must be an absolute path");
const integer =
  (min: number): Check =>
  (v) =>
    typeof v === "number" && Number.isInteger(v) && v >= min ? undefined : `must be an integer >= ${min}`;
const fraction: Check = (v) => (typeof v === "number" && v > 0 && v < 1 ? undefined : "must be a number in (0, 1)");
const positive: Check = (v) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? undefined : "must be a finite number >= 0");
const strings: Check = (v) => (Array.isArray(v) && v.every((x) => typeof x === "string") ? undefined : "must be a list of strings");
const GPU_MODES: readonly GpuMode[] = ["auto", "cuda", "vulkan", "metal", "off"];
const gpu: Check = (v) => (typeof v === "string" && (GPU_MODES as readonly string[]).includes(v) ? undefined : `must be one of ${GPU_MODES.join(", ")}`);
const corpusFilter: Check = (v) => {
  if (typeof v !== "object" || v === null) return "must be an object";
  const f = v as Record<string, unknown>;
  return fields(f, { extensions: strings, maxTotalBytes: integer(1) }, ["extensions", "maxTotalBytes"]);
};

/** Checks every listed field (required ones must be present) and rejects fields that are not listed. */
function fields(o: Record<string, unknown>, schema: Record<string, Check>, required: readonly string[]): string | undefined {
  for (const key of Object.keys(o)) if (!Object.prototype.hasOwnProperty.call(schema, key)) return `unexpected field "${key.slice(0, 40)}"`;
  for (const [key, check] of Object.entries(schema)) {
    if (o[key] === undefined) {
      if (required.includes(key)) return `${key} is required`;
      continue;
    }
    const problem = check(o[key]);
    if (problem) return `${key} ${problem}`;
  }
  return undefined;
}

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
  ridge: positive,
  seed: integer(0),
  cacheDir: absolutePath,
  threads: integer(1),
  gpu,
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

/** Validates a message sent to the process; returns it typed, or why it was rejected. */
export function parseToBasisProcess(msg: unknown): ToBasisProcess | { error: string } {
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) return { error: "message must be an object" };
  const m = msg as Record<string, unknown>;
  if (m.type === "cancel") return Object.keys(m).length === 1 ? { type: "cancel" } : { error: "cancel takes no fields" };
  if (m.type !== "start") return { error: `unknown message type ${JSON.stringify(String(m.type).slice(0, 40))}` };
  const job = m.job as Record<string, unknown> | undefined;
  if (typeof job !== "object" || job === null) return { error: "start.job must be an object" };
  if (job.kind !== "distill" && job.kind !== "diagnose" && job.kind !== "checkModel") return { error: 'start.job.kind must be "distill", "diagnose" or "checkModel"' };
  const options = job.options;
  if (typeof options !== "object" || options === null) return { error: "start.job.options must be an object" };
  const problem =
    job.kind === "distill"
      ? fields(options as Record<string, unknown>, DISTILL, ["modelPath", "packPath", "corpus", "outDir"])
      : job.kind === "diagnose"
        ? fields(options as Record<string, unknown>, DIAGNOSE, ["modelPath", "packPath"])
        : fields(options as Record<string, unknown>, { modelPath: absolutePath }, ["modelPath"]);
  if (problem) return { error: `${job.kind} options: ${problem}` };
  // Every field of the options was checked against the schema of this job kind, which mirrors its type.
  return { type: "start", job: { kind: job.kind, options } as BasisJob };
}

/**
 * Overall completion of a distillation in [0, 1]. Collecting (a forward pass per position and policy) is most of
 * the work; fitting (a regression and a refinement per expert) is given the last 15%.
 */
export function distillFraction(p: DistillProgress): number {
  const stage = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
  return p.stage === "collect" ? 0.85 * stage : 0.85 + 0.15 * stage;
}

/** "45s", "4m05s": a time left, as progress lines show it. */
export function formatDuration(seconds: number): string {
  // Rounded first, so 119.6 s reads 2m00s rather than 1m60s.
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}
