// The typed message protocol between the extension (or CLI) and the engine process.
// Every message crossing the process boundary is one of the unions below; the method table
// `EngineMethods` ties each request's params to its result so the client is typed end to end.

export type GpuMode = "auto" | "cuda" | "vulkan" | "metal" | "off";
export type GpuLayers = "auto" | "max" | number;
export type SoupMode = "explicit" | "parameter" | "rerank";

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
      /** The file's sha256 when the pack gives it (a server's copy may be named by it). */
      sha256?: string;
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

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export type PromptSpec =
  | { kind: "raw"; text: string }
  | {
      kind: "fim";
      prefix: string;
      suffix: string;
      /** VS Code language id: prompted experts' headers are written in its comment syntax (none if it has none). */
      language?: string;
    }
  | { kind: "chat"; messages: ChatMessage[] };

export interface SamplingParams {
  maxTokens: number;
  /** 0 is greedy. */
  temperature: number;
  topK?: number;
  topP?: number;
  minP?: number;
  seed?: number;
  stop?: string[];
}

export interface GenerateParams extends SamplingParams {
  prompt: PromptSpec;
  mode: SoupMode;
  /** Soup weights by policy id; policies left out have weight 0. */
  weights: Record<string, number>;
  /** Rerank: how many candidates to sample and score (default 3). */
  candidates?: number;
  /** Parameter mode: also score the response under every basis policy (costs K+1 forward passes). */
  withFeatures?: boolean;
}

export interface Timings {
  loadMs: number;
  promptMs: number;
  generateMs: number;
  tokensPerSecond: number;
}

export interface BackendInfo {
  /** "cpu" or the GPU backend llama.cpp runs on; "server" when a llama-server pool runs the model. */
  backend: "cpu" | "cuda" | "vulkan" | "metal" | "server";
  gpuLayers: number;
  totalLayers: number;
  threads: number;
}

export interface Candidate {
  text: string;
  tokens: number[];
  /** phi_k = log pi_k(y|x) - log pi_0(y|x) per basis policy id. */
  features: Record<string, number>;
  /** r_w(y) = sum_k w_k phi_k. */
  reward: number;
}

export interface GenerateResult {
  text: string;
  tokens: number[];
  mode: SoupMode;
  weights: Record<string, number>;
  /** Per-basis features of the returned text; null when not computed (parameter mode without withFeatures). */
  features: Record<string, number> | null;
  /** Rerank: every candidate, best first. */
  candidates?: Candidate[];
  finishReason: "stop" | "maxTokens" | "eog";
  timings: Timings;
  backend: BackendInfo;
}

export interface ScoreParams {
  prompt: PromptSpec;
  response: string;
  /** The response's tokens as generated; when given they are scored instead of re-tokenizing the text. */
  responseTokens?: number[];
}

export interface ScoreResult {
  features: Record<string, number>;
  tokens: number;
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
