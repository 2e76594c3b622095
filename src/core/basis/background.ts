// Background distillation, the decisions: when to start, pause, resume and stop distilling the basis' prompted
// experts into head adapters, as a pure state machine. The editor feeds it what happens (the target changed, a
// completion started, the user typed, the job reported progress) and carries out the actions it returns. It works
// only while the editor is quiet: no completion or chat request in flight and no typing for `quietMs`, so the
// person never waits behind it.
import type { DistillRecord } from "./distillRecord";

/** What there is to distill: one model + pack + workspace, or nothing (and why). */
export type DistillTarget = { key: string } | { key: null; reason: string };

export type SchedulePhase =
  /** Nothing to distill (no model, no prompted expert, no folder, a server pool) or the setting is off. */
  | "idle"
  /** A job is wanted; it starts at the next quiet moment. */
  | "waiting"
  | "running"
  /** The job holds its place while the editor is busy. */
  | "paused"
  /** The job is done; completions use the head adapters that beat the base model (`outcome`: maybe none). */
  | "ready"
  /** The person stopped it: it stays stopped for this target until resumed. */
  | "stopped"
  | "failed";

export interface ScheduleState {
  phase: SchedulePhase;
  key: string | null;
  /** Why there is nothing to do (idle), or why it failed. */
  reason: string;
  /** Share of the job done, in [0, 1]. */
  fraction: number;
  etaSeconds: number | null;
  /** Completion and chat requests in flight. */
  busy: number;
  /** When the person last typed (ms); -Infinity when never. */
  typedAt: number;
  enabled: boolean;
  /** Once ready: how many of the prompted experts got a head adapter that beat the base model. */
  outcome: DistillOutcome | null;
}

export interface DistillOutcome {
  heads: number;
  experts: number;
}

export type ScheduleEvent =
  /** The target changed; `saved` is the new key's saved record, read before this event so a restart resumes it. */
  | { type: "target"; target: DistillTarget; saved?: SavedRecord }
  | { type: "enabled"; enabled: boolean; saved?: SavedRecord }
  | { type: "request"; delta: 1 | -1 }
  | { type: "typed" }
  /** Time passed: a quiet moment may have come. */
  | { type: "tick" }
  | { type: "progress"; fraction: number; etaSeconds: number | null }
  /** The job is done; the caller saved the ready record with the head adapters first. */
  | ({ type: "finished" } & DistillOutcome)
  | { type: "failed"; message: string }
  /** The person's stop and resume commands. */
  | { type: "stop" }
  | { type: "resume" };

type SavedRecord = Pick<DistillRecord, "status" | "fraction" | "heads" | "experts">;

export type ScheduleAction =
  | { type: "start" }
  | { type: "pause" }
  | { type: "continue" }
  /** Stop the running job; what it collected stays on disk. */
  | { type: "cancel" }
  /** Completions switch to the head adapters of the current key. */
  | { type: "use-heads" }
  /** Completions go back to the prompted experts (the key changed or the feature was turned off). */
  | { type: "drop-heads" }
  /** Check again at this time (ms) for a quiet moment. */
  | { type: "wake"; at: number }
  /** Record the job's status for the current key (a restart continues from it). */
  | { type: "save"; status: "partial" | "stopped" };

/**
 * The background job's settings (measured in bench/timeToPersonalized.ts): fewer positions than a manual run (1000)
 * and 16 per 32-token window rather than 8, since on a CPU collecting is most of the time to personalized; a strong
 * ridge and no KL refinement, since with a few hundred positions against hundreds of hidden dimensions the weakly
 * regularized fit and the refinement make held-out KL worse than the base model's.
 */
export const BACKGROUND_DISTILL = { positions: 400, window: 32, perWindow: 16, rank: 8, ridge: 1, refineSteps: 0 } as const;

/** How long after the last keystroke the editor counts as quiet (default 3 s). */
export const DEFAULT_QUIET_MS = 3000;

export function initialSchedule(enabled: boolean): ScheduleState {
  return { phase: "idle", key: null, reason: "no model yet", fraction: 0, etaSeconds: null, busy: 0, typedAt: -Infinity, enabled, outcome: null };
}

const OFF = "background distillation is turned off";

const quiet = (s: ScheduleState, now: number, quietMs: number) => s.busy === 0 && now - s.typedAt >= quietMs;

/**
 * One step of the schedule: the state after `event` at time `now` (ms) and what to do about it. A running job is
 * paused the moment a request starts or the person types, and continued (or first started) only once the editor
 * has been quiet for `quietMs`.
 */
export function stepSchedule(s: ScheduleState, event: ScheduleEvent, now: number, quietMs = DEFAULT_QUIET_MS): { state: ScheduleState; actions: ScheduleAction[] } {
  const actions: ScheduleAction[] = [];
  let next: ScheduleState = { ...s };
  const jobAlive = s.phase === "running" || s.phase === "paused";
  const leave = (reason: string) => {
    if (jobAlive) actions.push({ type: "cancel" });
    if (s.phase === "ready") actions.push({ type: "drop-heads" });
    next = { ...next, phase: "idle", reason, fraction: 0, etaSeconds: null, outcome: null };
  };
  // A key's saved record decides where it starts: ready heads are used at once, a stopped job stays stopped.
  const resumeSaved = (saved: SavedRecord | undefined) => {
    next = { ...next, phase: "waiting", reason: "", fraction: saved?.fraction ?? 0 };
    if (saved?.status === "ready") {
      next = { ...next, phase: "ready", fraction: 1, outcome: { heads: Object.keys(saved.heads).length, experts: saved.experts } };
      actions.push({ type: "use-heads" });
    } else if (saved?.status === "stopped") next.phase = "stopped";
  };
  switch (event.type) {
    case "target": {
      const t = event.target;
      if (t.key === s.key) {
        // Still nothing to do, perhaps for another reason.
        if (t.key === null && s.enabled) next.reason = t.reason;
        break;
      }
      leave(!s.enabled ? OFF : t.key === null ? t.reason : "");
      next.key = t.key;
      if (t.key !== null && s.enabled) resumeSaved(event.saved);
      break;
    }
    case "enabled":
      if (event.enabled === s.enabled) break;
      next.enabled = event.enabled;
      if (!event.enabled) leave(OFF);
      else if (s.key !== null) resumeSaved(event.saved);
      break;
    case "request":
      next.busy = Math.max(0, s.busy + event.delta);
      break;
    case "typed":
      next.typedAt = now;
      break;
    case "tick":
      break;
    case "progress":
      if (jobAlive) next = { ...next, fraction: Math.max(s.fraction, Math.min(1, event.fraction)), etaSeconds: event.etaSeconds };
      break;
    case "finished":
      if (!jobAlive) break;
      next = { ...next, phase: "ready", fraction: 1, etaSeconds: null, outcome: { heads: event.heads, experts: event.experts } };
      actions.push({ type: "use-heads" });
      return { state: next, actions };
    case "failed":
      if (!jobAlive) break;
      next = { ...next, phase: "failed", reason: event.message, etaSeconds: null };
      return { state: next, actions };
    case "stop":
      if (!jobAlive && s.phase !== "waiting" && s.phase !== "failed") break;
      if (jobAlive) actions.push({ type: "cancel" });
      next = { ...next, phase: "stopped", etaSeconds: null };
      actions.push({ type: "save", status: "stopped" });
      return { state: next, actions };
    case "resume":
      if (s.phase !== "stopped" && s.phase !== "failed") break;
      next = { ...next, phase: "waiting", reason: "" };
      actions.push({ type: "save", status: "partial" });
      break;
  }
  // The same rule after every event: work only while quiet, and say when to look again.
  const calm = quiet(next, now, quietMs);
  if (next.phase === "running" && !calm) {
    next.phase = "paused";
    actions.push({ type: "pause" });
  } else if ((next.phase === "paused" || next.phase === "waiting") && calm) {
    actions.push({ type: next.phase === "paused" ? "continue" : "start" });
    next.phase = "running";
  }
  if ((next.phase === "paused" || next.phase === "waiting") && next.busy === 0) actions.push({ type: "wake", at: next.typedAt + quietMs });
  return { state: next, actions };
}
