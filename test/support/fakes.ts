// Fakes at the pipelines' edges (the souped model, the learned preferences), for unit tests of the core sessions.
import { randomUUID } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import type { ChoiceFeedback, RatingFeedback } from "../../src/core/adapt/feedback";
import { FeedbackRecorder } from "../../src/core/soup/recorder";
import type { GenerateOptions, Generator, PipelineLog, PosteriorView } from "../../src/core/soup/weights";
import type { GenerateParams, GenerateResult, ScoreParams, ScoreResult } from "../../src/shared/generation";
import type { PolicyKind } from "../../src/shared/soup";

/** A result as the engine returns it; `features` null as in parameter mode without withFeatures. */
export function result(text: string, features: Record<string, number> | null, candidates?: string[]): GenerateResult {
  return {
    text,
    tokens: [],
    mode: "explicit",
    weights: {},
    features,
    ...(candidates ? { candidates: candidates.map((t) => ({ text: t, tokens: [], features: features ?? {}, reward: 0 })) } : {}),
    finishReason: "stop",
    timings: { loadMs: 0, promptMs: 0, promptTokensEvaluated: 0, generateMs: 0, scoreMs: 0, tokensPerSecond: 0 },
    backend: { backend: "cpu", gpuLayers: 0, totalLayers: 0, threads: 1 },
  };
}

/** Answers after the signal aborts, rejecting as the engine client does: the generation that never finishes in time. */
export function hang(signal: AbortSignal | undefined): Promise<GenerateResult> {
  return new Promise((_, reject) => signal?.addEventListener("abort", () => reject(new Error("cancelled")), { once: true }));
}

export class FakeGenerator implements Generator {
  readonly calls: GenerateParams[] = [];
  readonly scored: ScoreParams[] = [];
  constructor(
    public policies: { id: string; kind: PolicyKind }[],
    public respond: (params: GenerateParams, options: GenerateOptions) => Promise<GenerateResult | null>,
    public score_: (params: ScoreParams) => ScoreResult | null = () => ({ features: { a: 0.5, b: -0.5 }, tokens: 3 }),
  ) {}

  generate(params: GenerateParams, options: GenerateOptions): Promise<GenerateResult | null> {
    this.calls.push(params);
    return this.respond(params, options);
  }

  async score(params: ScoreParams): Promise<ScoreResult | null> {
    this.scored.push(params);
    return this.score_(params);
  }
}

export class FakeWeights implements PosteriorView {
  readonly recorded: { event: RatingFeedback | ChoiceFeedback; text: string }[] = [];
  draws = 0;
  meanValues: Record<string, number>;
  stdValues: Record<string, number>;
  locked = new Set<string>();

  constructor(readonly policyIds: readonly string[]) {
    this.meanValues = Object.fromEntries(policyIds.map((id) => [id, 0]));
    this.stdValues = Object.fromEntries(policyIds.map((id) => [id, 0.1]));
  }

  /** Every draw is new (w = draw number on every policy), so tests can tell draws apart. */
  weights(explore: boolean): Record<string, number> {
    this.draws++;
    return Object.fromEntries(this.policyIds.map((id) => [id, explore ? this.draws : 1]));
  }

  vector(features: Record<string, number>): number[] {
    return this.policyIds.map((id) => features[id] ?? 0);
  }

  async record(event: RatingFeedback | ChoiceFeedback, text: string): Promise<void> {
    this.recorded.push({ event, text });
  }

  mean(): Record<string, number> {
    return this.meanValues;
  }

  std(): Record<string, number> {
    return this.stdValues;
  }

  isLocked(id: string): boolean {
    return this.locked.has(id);
  }
}

export class MemoryLog implements PipelineLog {
  readonly lines: string[] = [];
  info(message: string): void {
    this.lines.push(`info: ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn: ${message}`);
  }
}

/** The real recorder over the fakes; its waiting file goes to a fresh temp folder (written only if feedback has to wait). */
export function recorderFor(generator: FakeGenerator, weights: FakeWeights, log: MemoryLog): FeedbackRecorder {
  return new FeedbackRecorder({ generator, weights, log, file: path.join(os.tmpdir(), `soup-waiting-${randomUUID()}`, "waiting-feedback.json"), retryMs: 0, engineUp: () => true });
}
