// What the status bar says about the engine and the background distillation, as plain data: the VS Code layer only
// paints it.
import type { BackendInfo } from "../../shared/generation";
import type { ScheduleState } from "../basis/background";

export type EngineState =
  | { kind: "starting" }
  | { kind: "no-model" }
  | { kind: "loading"; fraction: number }
  | { kind: "ready"; backend: BackendInfo; tokensPerSecond: number | null }
  /** A llama-server pool: how many of its servers answer, and why the others do not. */
  | { kind: "servers"; up: number; total: number; problems: string[] }
  | { kind: "error"; message: string };

export interface StatusText {
  /** With a leading codicon, e.g. "$(sparkle) Soup: CPU 1 thread · 42 tok/s". */
  text: string;
  tooltip: string;
}

/** "CPU 1 thread", "CUDA 33/33 layers". */
export function describeBackend(b: BackendInfo): string {
  if (b.backend === "server") return "server";
  if (b.backend === "cpu") return `CPU ${b.threads} thread${b.threads === 1 ? "" : "s"}`;
  return `${b.backend.toUpperCase()} ${b.gpuLayers}/${b.totalLayers} layers`;
}

export function engineStatus(state: EngineState): StatusText {
  switch (state.kind) {
    case "starting":
      return { text: "$(loading~spin) Soup: starting", tooltip: "Spectral Soup: starting the engine" };
    case "no-model":
      return { text: "$(circle-slash) Soup: no model", tooltip: "Spectral Soup: no model configured. Click to choose a GGUF file." };
    case "loading":
      return {
        text: `$(loading~spin) Soup: loading ${Math.round(Math.min(1, Math.max(0, state.fraction)) * 100)}%`,
        tooltip: "Spectral Soup: loading the model",
      };
    case "ready": {
      const speed = state.tokensPerSecond === null ? "" : ` · ${state.tokensPerSecond.toFixed(0)} tok/s`;
      return { text: `$(sparkle) Soup: ${describeBackend(state.backend)}${speed}`, tooltip: "Spectral Soup: engine ready. Click for the engine log." };
    }
    case "servers": {
      const why = state.problems.length ? `\n${state.problems.join("\n")}` : "";
      if (state.up === 0) return { text: "$(error) Soup: no server up", tooltip: `Spectral Soup: no server of the pool answers.${why}\nClick for the log.` };
      const icon = state.up < state.total ? "$(warning)" : "$(sparkle)";
      return { text: `${icon} Soup: server ${state.up}/${state.total} up`, tooltip: `Spectral Soup: ${state.up} of ${state.total} servers answer.${why}\nClick for the log.` };
    }
    case "error":
      return { text: "$(error) Soup: error", tooltip: `Spectral Soup: ${state.message}\nClick for the engine log.` };
  }
}

/** Load progress over the whole load: the model is most of it, the basis (experts, adapters) the rest. */
export function loadFraction(stage: "model" | "basis", fraction: number): number {
  return stage === "model" ? fraction * 0.9 : 0.9 + fraction * 0.1;
}

/** "45s", "4m05s": a time left, as progress lines show it. */
export function formatDuration(seconds: number): string {
  // Rounded first, so 119.6 s reads 2m00s rather than 1m60s.
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** The background distillation's item: hidden (null) while there is nothing to distill. */
export function distillStatus(s: Pick<ScheduleState, "phase" | "fraction" | "etaSeconds" | "reason" | "outcome">): StatusText | null {
  const percent = `${Math.floor(Math.min(1, Math.max(0, s.fraction)) * 100)}%`;
  const left = s.etaSeconds === null ? "" : `, about ${formatDuration(s.etaSeconds)} of work left`;
  const meanwhile = "Until then completions soup the prompted experts (slower).";
  switch (s.phase) {
    case "idle":
      return null;
    case "waiting":
      return { text: `$(clock) Soup: distill ${percent}`, tooltip: `Spectral Soup: the basis will be distilled into head adapters at the next quiet moment. ${meanwhile} Click to stop.` };
    case "running":
      return { text: `$(sync~spin) Soup: distill ${percent}`, tooltip: `Spectral Soup: distilling the basis' prompted experts into head adapters in the background (${percent}${left}). ${meanwhile} Click to stop.` };
    case "paused":
      return { text: `$(debug-pause) Soup: distill ${percent}`, tooltip: `Spectral Soup: background distillation waits while you type or a request runs (${percent}${left}). Click to stop.` };
    case "ready":
      return readyStatus(s.outcome);
    case "stopped":
      return { text: `$(circle-slash) Soup: distill stopped`, tooltip: `Spectral Soup: background distillation is stopped at ${percent}; what it collected is kept. Click to resume.` };
    case "failed":
      return { text: "$(warning) Soup: distill failed", tooltip: `Spectral Soup: background distillation failed: ${s.reason}\nClick to try again.` };
  }
}

/** A finished job says how much it delivered: a head that did not beat the base model is not used. */
function readyStatus(outcome: ScheduleState["outcome"]): StatusText {
  const heads = outcome?.heads ?? 0;
  const experts = outcome?.experts ?? 0;
  const click = "Click for the log, which gives each expert's held-out figures.";
  if (heads === 0) {
    return {
      text: "$(info) Soup: not distilled",
      tooltip: `Spectral Soup: background distillation finished, but no head adapter came closer to its expert than the base model on held-out code, so none is used: completions keep souping the prompted experts (slower). ${click}`,
    };
  }
  const some = heads < experts;
  return {
    text: `$(zap) Soup: distilled${some ? ` ${heads}/${experts}` : ""}`,
    tooltip:
      `Spectral Soup: completions soup ${some ? `${heads} of the ${experts}` : "the"} head adapters distilled from the basis at plain-model speed` +
      `${some ? "; the other experts' heads did not beat the base model, so those experts keep their prompts (slower)" : ""}. Chat keeps the prompted experts. ${click}`,
  };
}

/** One distilled expert's held-out figures, as the distillation report gives them. */
export interface DistilledExpert {
  reference: { kl: number };
  adapter: { kl: number; top1: number };
}

/**
 * The offer after a manual distillation: how many heads came closer to their expert than the base model on held-out
 * code, so nobody switches to heads that carry none of their experts' style without being told (`warn`).
 */
export function distillOffer(label: string, experts: readonly DistilledExpert[]): { text: string; warn: boolean } {
  const better = experts.filter((e) => e.adapter.kl < e.reference.kl).length;
  const top1 = experts.reduce((s, e) => s + e.adapter.top1, 0) / Math.max(1, experts.length);
  const head = `Spectral Soup: ${experts.length} experts of "${label}" distilled into head adapters; ${better} of ${experts.length} come closer to their expert than the base model on held-out code (top-1 agreement ${(100 * top1).toFixed(0)}%).`;
  if (better === 0) {
    return { text: `${head} None carries its expert's style: using them would make completions fast but not personalized. The log has each expert's figures.`, warn: true };
  }
  return { text: `${head} Using them makes souped completions run at plain-model speed; learned weights start again from your sliders, since the features change.`, warn: false };
}
