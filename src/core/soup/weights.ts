// What the completion and chat pipelines need from the learned preferences, and from the engine, as small
// interfaces: the pipelines are written against these, so they run in unit tests with fakes and in the benchmark
// with a real engine, the same code the editor runs.
import type { ChoiceFeedback, RatingFeedback } from "../adapt/feedback";
import type { GenerateParams, GenerateResult, ScoreParams, ScoreResult } from "../../shared/generation";
import type { PolicyKind } from "../../shared/soup";

/** The soup weights and where feedback goes. */
export interface WeightSource {
  /** Basis policy ids, in basis order (the order of phi vectors). */
  readonly policyIds: readonly string[];
  /** Soup weights by policy id: a Thompson draw when exploring, else the posterior mean. */
  weights(explore: boolean): Record<string, number>;
  /** phi as a vector in basis order (missing policies count 0). */
  vector(features: Record<string, number>): number[];
  /** Records feedback durably; `text` is the response it was given on. */
  record(event: RatingFeedback | ChoiceFeedback, text: string): Promise<void>;
}

/** A weight source that also says how sure it is (the chat's A/B scheduler asks). */
export interface PosteriorView extends WeightSource {
  mean(): Record<string, number>;
  std(): Record<string, number>;
  isLocked(id: string): boolean;
}

export interface GenerateOptions {
  signal?: AbortSignal;
  /** Streamed text, in order. */
  onToken?: (text: string) => void;
}

/** The souped model. Both calls answer null when no model is loaded. */
export interface Generator {
  /** The loaded basis' policies and their kinds (what "auto" soup mode decides on). */
  readonly policies: readonly { id: string; kind: PolicyKind }[];
  generate(params: GenerateParams, options: GenerateOptions): Promise<GenerateResult | null>;
  score(params: ScoreParams): Promise<ScoreResult | null>;
}

/** Where the pipelines say what they did (the editor's output channel, a test's array). */
export interface PipelineLog {
  info(message: string): void;
  warn(message: string): void;
}
