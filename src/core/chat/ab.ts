// When to ask the user an A/B question in chat. A comparison costs the user attention and a second generation, so
// it is offered only where it can teach something (the posterior is unsure about a dimension that actually moves
// answers) and never more often than the settings allow. Pure: the caller passes the time.

export interface AbSettings {
  enabled: boolean;
  /** Posterior std above which a dimension counts as uncertain. */
  stdThreshold: number;
  /** |mean| or |phi| below this: the dimension barely changes answers, so its uncertainty does not matter. */
  relevanceThreshold: number;
  minAnswersBetween: number;
  minMinutesBetween: number;
}

export const DEFAULT_AB_SETTINGS: Readonly<AbSettings> = {
  enabled: true,
  stdThreshold: 0.3,
  relevanceThreshold: 0.1,
  minAnswersBetween: 5,
  minMinutesBetween: 10,
};

export interface DimensionUncertainty {
  id: string;
  /** Posterior standard deviation of the weight. */
  std: number;
  /** How much the dimension matters now: |posterior mean|, or |phi| of the current answer. */
  relevance: number;
  /** A locked slider pins the weight: nothing to learn there. */
  locked?: boolean;
}

/** What the scheduler remembers between answers (persist it with the chat history to survive reloads). */
export interface AbState {
  answersSinceLast: number;
  /** Epoch ms of the last comparison offered; undefined before the first. */
  lastAt?: number;
}

export const INITIAL_AB_STATE: Readonly<AbState> = { answersSinceLast: 0 };

export type AbDecision = { offer: true; dimension: string; reason: string } | { offer: false; reason: string };

/** Decides whether the next answer should be an A/B comparison; `now` is epoch ms. */
export function decideComparison(dims: readonly DimensionUncertainty[], state: AbState, settings: AbSettings, now: number): AbDecision {
  if (!settings.enabled) return { offer: false, reason: "comparisons are turned off" };
  if (state.answersSinceLast < settings.minAnswersBetween) {
    return { offer: false, reason: `${state.answersSinceLast} of ${settings.minAnswersBetween} answers since the last comparison` };
  }
  if (state.lastAt !== undefined) {
    const minutes = (now - state.lastAt) / 60_000;
    if (minutes < settings.minMinutesBetween) {
      return { offer: false, reason: `${minutes.toFixed(1)} of ${settings.minMinutesBetween} minutes since the last comparison` };
    }
  }
  // The most informative question is on the dimension with the largest uncertainty-times-relevance.
  let best: DimensionUncertainty | undefined;
  for (const d of dims) {
    if (d.locked || !(d.std > settings.stdThreshold) || !(d.relevance >= settings.relevanceThreshold)) continue;
    if (!best || d.std * d.relevance > best.std * best.relevance) best = d;
  }
  if (!best) return { offer: false, reason: "no relevant dimension is uncertain enough" };
  return { offer: true, dimension: best.id, reason: `${best.id}: std ${best.std.toFixed(2)} at relevance ${best.relevance.toFixed(2)}` };
}

/** State after an ordinary answer was shown. */
export function afterAnswer(state: AbState): AbState {
  return { ...state, answersSinceLast: state.answersSinceLast + 1 };
}

/** State after a comparison was offered (whether or not the user picked). */
export function afterComparison(now: number): AbState {
  return { answersSinceLast: 0, lastAt: now };
}
