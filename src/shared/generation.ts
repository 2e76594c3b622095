// What is asked of the engine and what it answers, as data: prompts, sampling, soup weights, phi features,
// timings and the backend. The engine protocol carries these; core pipelines are written against them without
// knowing there is a process on the other side. Pure and dependency-free.
import type { SoupMode } from "./soup";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export type PromptSpec =
  | {
      kind: "raw";
      text: string;
      /** VS Code language id when the text is code: prompted experts place their exemplar or header as for FIM. */
      language?: string;
    }
  | {
      kind: "fim";
      prefix: string;
      suffix: string;
      /**
       * Text that starts the middle, after the FIM middle token (the cursor line up to the cursor, as llama.vscode
       * sends it to llama-server's /infill). Typing within a line then changes only the prompt's tail: the prefix
       * and the suffix before it stay in the KV cache instead of being evaluated again on every keystroke.
       */
      middle?: string;
      /** VS Code language id: prompted experts' headers are written in its comment syntax (none if it has none). */
      language?: string;
      /** Lines of other files, oldest first: under file-separator tokens where the model has them, else as comments. */
      context?: { file: string; text: string }[];
      /** Path of the file being completed (named after the last file separator). */
      file?: string;
      /** Name of the repository (after the repository token, where the model has one). */
      repo?: string;
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
  /** Prompt tokens evaluated (not found in the cache), over all policies' sequences in explicit mode. */
  promptTokensEvaluated: number;
  /** Decoding only: tokensPerSecond is generated tokens over this. */
  generateMs: number;
  /** Computing features after decoding (scoring under every basis policy); 0 when none were computed. */
  scoreMs: number;
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
