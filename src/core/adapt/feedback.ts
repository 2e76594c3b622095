// Feedback events: what the user told us about responses, in terms of the basis features phi.
// phi_k(x, y) = log pi_k(y|x) - log pi_0(y|x); the soup's implicit reward is w . phi (DESIGN.md section 1).
import { isObj } from "../../shared/check";

export type Surface = "completion" | "chat";
export const SURFACES: readonly Surface[] = ["completion", "chat"];

/** How a rating was given; each has its own confidence weight (an accepted completion says more than a typed-over one). */
export type RatingSignal = "thumb" | "accepted" | "partial" | "dismissed" | "typedOver";
export const RATING_SIGNALS: readonly RatingSignal[] = ["thumb", "accepted", "partial", "dismissed", "typedOver"];

export type ConfidenceWeights = Record<RatingSignal | "choice", number>;

export const DEFAULT_CONFIDENCE: Readonly<ConfidenceWeights> = {
  thumb: 1,
  choice: 1,
  accepted: 1,
  partial: 0.5,
  dismissed: 0.5,
  typedOver: 0.2,
};

export interface RatingFeedback {
  type: "rating";
  features: number[];
  up: boolean;
  surface: Surface;
  signal?: RatingSignal;
  /** Overrides the signal's default confidence weight. */
  confidence?: number;
}

export interface ChoiceFeedback {
  type: "choice";
  winner: number[];
  loser: number[];
  confidence?: number;
}

/** A slider move: the stated weight becomes the prior mean of that dimension; a locked slider pins it. */
export interface SliderFeedback {
  type: "slider";
  dim: number;
  value: number;
  locked: boolean;
}

export type Feedback = RatingFeedback | ChoiceFeedback | SliderFeedback;


/**
 * Features are sums of per-token log-probability differences: even a long response stays far below this, and the
 * fit squares and sums them, so a larger value (damage or an attack) could only overflow it.
 */
export const MAX_FEATURE = 1e6;

function checkVector(v: unknown, dims: number, name: string): number[] {
  if (!Array.isArray(v) || v.length !== dims || !v.every((x) => typeof x === "number" && Math.abs(x) <= MAX_FEATURE)) {
    throw new Error(`${name} must be an array of ${dims} finite numbers within +-${MAX_FEATURE}`);
  }
  return v as number[];
}

function checkConfidence(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new Error("confidence must be a finite number >= 0");
  return v;
}

/** Checks untrusted input (a log line, a protocol line) and returns a clean event; throws with the reason. */
export function parseFeedback(raw: unknown, dims: number): Feedback {
  if (!isObj(raw)) throw new Error("an event must be a JSON object");
  switch (raw.type) {
    case "rating": {
      if (typeof raw.up !== "boolean") throw new Error("rating.up must be true or false");
      const surface = raw.surface ?? "chat";
      if (!SURFACES.includes(surface as Surface)) throw new Error(`rating.surface must be one of ${SURFACES.join(", ")}`);
      const signal = raw.signal ?? "thumb";
      if (!RATING_SIGNALS.includes(signal as RatingSignal)) throw new Error(`rating.signal must be one of ${RATING_SIGNALS.join(", ")}`);
      const confidence = checkConfidence(raw.confidence);
      return {
        type: "rating",
        features: checkVector(raw.features, dims, "rating.features"),
        up: raw.up,
        surface: surface as Surface,
        signal: signal as RatingSignal,
        ...(confidence === undefined ? {} : { confidence }),
      };
    }
    case "choice": {
      const confidence = checkConfidence(raw.confidence);
      return {
        type: "choice",
        winner: checkVector(raw.winner, dims, "choice.winner"),
        loser: checkVector(raw.loser, dims, "choice.loser"),
        ...(confidence === undefined ? {} : { confidence }),
      };
    }
    case "slider": {
      if (!Number.isInteger(raw.dim) || (raw.dim as number) < 0 || (raw.dim as number) >= dims) {
        throw new Error(`slider.dim must be an integer in [0, ${dims})`);
      }
      if (typeof raw.value !== "number" || !Number.isFinite(raw.value)) throw new Error("slider.value must be a finite number");
      return { type: "slider", dim: raw.dim as number, value: raw.value, locked: raw.locked === true };
    }
    default:
      throw new Error(`unknown event type ${JSON.stringify(raw.type)} (rating, choice or slider)`);
  }
}
