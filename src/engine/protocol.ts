// The typed message protocol between the extension (or CLI) and the engine process.
// Every message crossing the process boundary is one of the unions below; the method table
// `EngineMethods` ties each request's params to its result so the client is typed end to end.

import type { GenerateParams, GenerateResult, PromptSpec, ScoreParams, ScoreResult, BackendInfo } from "../shared/generation";
import type { GpuLayers, GpuMode } from "../shared/soup";

// The data the methods carry is the shared vocabulary; engine code names it through this module.
export type * from "../shared/generation";
export type { GpuLayers, GpuMode, PolicyKind, SoupMode } from "../shared/soup";

/** A basis policy as the engine runs it (resolved from a pack manifest or given directly). */
export type PolicySpec =
  | {
      id: string;
      kind: "prompted";
      /** System instruction added to chat prompts for this policy. */
      chat: string;
      /** Header/exemplar placed before the code in FIM and raw prompts for this policy. */
      fim: string;
    }
  | {
      id: string;
      kind: "adapter";
      /** LoRA adapter GGUF on the base model. */
      path: string;
    };

export type BasisSpec =
  | { kind: "pack"; path: string }
  | { kind: "policies"; id: string; version: string; policies: PolicySpec[] };

export interface LoadParams {
  modelPath: string;
  gpu: GpuMode;
  gpuLayers: GpuLayers;
  /** Defaults to physical cores minus one, at least 1. */
  threads?: number;
  contextSize: number;
  basis: BasisSpec;
}

export interface NextParams {
  prompt: PromptSpec;
  mode: "explicit" | "parameter";
  weights: Record<string, number>;
  top: number;
}

export interface NextResult {
  tokens: { id: number; text: string; p: number }[];
}

export interface StatusResult {
  state: "idle" | "loading" | "ready";
  modelPath: string | null;
  basis: { id: string; version: string; policies: { id: string; kind: PolicySpec["kind"] }[] } | null;
  backend: BackendInfo | null;
  memory: { rssBytes: number; modelBytes: number; contextBytes: number; vramUsedBytes: number };
  loadMs: number;
}

/** Request method -> params and result. */
export interface EngineMethods {
  load: { params: LoadParams; result: StatusResult };
  generate: { params: GenerateParams; result: GenerateResult };
  score: { params: ScoreParams; result: ScoreResult };
  next: { params: NextParams; result: NextResult };
  status: { params: Record<string, never>; result: StatusResult };
}
export type EngineMethod = keyof EngineMethods;

export type ClientMessage =
  | { [M in EngineMethod]: { type: "request"; id: number; method: M; params: EngineMethods[M]["params"] } }[EngineMethod]
  | { type: "cancel"; id: number };

export type EngineErrorCode =
  | "bad-request"
  | "bad-model"
  | "bad-basis"
  | "not-loaded"
  | "cancelled"
  | "engine-crashed"
  | "internal";

export type EngineMessage =
  | { type: "result"; id: number; result: EngineMethods[EngineMethod]["result"] }
  | { type: "error"; id: number; code: EngineErrorCode; message: string }
  /** Streamed text of a generate request, in order. */
  | { type: "token"; id: number; text: string }
  | { type: "progress"; id: number; stage: "model" | "basis"; fraction: number }
  | { type: "log"; level: "info" | "warn" | "error"; message: string };

export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "EngineError";
  }
}
