// The engine process's methods and messages (the RPC convention of rpc.ts): the method table `EngineMethods` ties
// each request's params to its result, so the server's handlers (main.ts) and the client (client.ts) are typed per
// method.

import type { GenerateParams, GenerateResult, PromptSpec, ScoreParams, ScoreResult, BackendInfo } from "../shared/generation";
import type { GpuLayers, GpuMode } from "../shared/soup";
import type { RpcCancel, RpcError, RpcLog, RpcRequest, RpcResult } from "./rpc";

// The data the methods carry is the shared vocabulary; engine code names it through this module.
export type * from "../shared/generation";
export type { GpuLayers, GpuMode, PolicyKind, SoupMode } from "../shared/soup";
export { EngineError, type EngineErrorCode } from "./rpc";

/** A basis policy as the engine runs it (resolved from a pack manifest or given directly). */
export type PolicySpec =
  | {
      id: string;
      kind: "prompted";
      /** System instruction added to chat prompts for this policy. */
      chat: string;
      /** Header/exemplar placed before the code in FIM and raw prompts for this policy. */
      fim: string;
      /** Code exemplars for FIM by comma-separated language ids (see the basis pack). */
      exemplars?: Record<string, string>;
      /**
       * A head adapter distilled from this expert: parameter souping applies it at the expert's weight (plain-model
       * speed), while explicit and rerank souping and the features keep the prompt.
       */
      head?: string;
    }
  | {
      id: string;
      kind: "adapter";
      /** LoRA adapter GGUF on the base model. */
      path: string;
      /** The file's sha256 when the pack gives it (a server's copy may be named by it). */
      sha256?: string;
    };

export type BasisSpec =
  /** `heads`: head adapters distilled from the pack's prompted experts, by policy id (see PolicySpec). */
  | { kind: "pack"; path: string; heads?: Record<string, string> }
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
  basis: { id: string; version: string; policies: { id: string; kind: PolicySpec["kind"]; head?: boolean }[] } | null;
  backend: BackendInfo | null;
  /**
   * Whether the loaded model's GGUF carries a chat template (`tokenizer.chat_template`): without one it is a base
   * model, and the chat asks it in code. null when no model is loaded or the backend cannot tell (a server pool).
   */
  chatTemplate: boolean | null;
  /** contextBytes: the KV state the contexts hold now; contexts: how many llama.cpp contexts exist. */
  memory: { rssBytes: number; modelBytes: number; contextBytes: number; contexts: number; vramUsedBytes: number };
  loadMs: number;
}

/** Request method -> params and result. */
export type EngineMethods = {
  load: { params: LoadParams; result: StatusResult };
  generate: { params: GenerateParams; result: GenerateResult };
  score: { params: ScoreParams; result: ScoreResult };
  next: { params: NextParams; result: NextResult };
  status: { params: Record<string, never>; result: StatusResult };
};
export type EngineMethod = keyof EngineMethods;

export type ClientMessage = RpcRequest<EngineMethods> | RpcCancel;

export type EngineMessage =
  | RpcResult<EngineMethods>
  | RpcError
  /** Streamed text of a generate request, in order. */
  | { type: "token"; id: number; text: string }
  | { type: "progress"; id: number; stage: "model" | "basis"; fraction: number }
  | RpcLog;
