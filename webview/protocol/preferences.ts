// The preferences page's protocol with the extension (src/extension/preferencesView.ts <-> webview/preferences.ts).
import { bool, inRange, matches, optional, parseMessage, type MessageSchema } from "../../src/shared/check";
import { POLICY_ID, WEIGHT_MAX, WEIGHT_MIN, type PolicyKind } from "../../src/shared/soup";
import type { PageError, Ready } from "./page";

export interface DimensionState {
  id: string;
  label: string;
  description: string;
  /** Posterior mean and standard deviation of the learned weight. */
  mean: number;
  std: number;
  /** The user's stated weight (the prior mean). */
  slider: number;
  locked: boolean;
}

/** The basis pack the Basis tab describes. */
export interface BasisInfo {
  id: string;
  version: string;
  label: string;
  policies: { id: string; label: string; kind: PolicyKind | "model" }[];
}

/** What basis diagnostics found (src/core/basis/diagnose.ts), as the Basis tab shows it. */
export interface BasisDiagnosisView {
  /** Epoch ms of the run. */
  at: number;
  responses: number;
  /** exp(entropy of the normalized eigenvalues of cov(phi)): how many directions the basis really spans. */
  effectiveRank: number;
  /** Eigenvalues of cov(phi), largest first. */
  eigenvalues: number[];
  redundantPairs: { a: string; b: string; correlation: number }[];
  /** Dimension ids with almost no effect on responses. */
  weakDimensions: string[];
}

export type DiagnosisState =
  | { status: "none" }
  | { status: "running" }
  | { status: "failed"; message: string }
  | { status: "done"; result: BasisDiagnosisView };

/** A point of the weights-over-time chart: epoch ms and the posterior mean per dimension id. */
export interface WeightSnapshot {
  t: number;
  weights: Record<string, number>;
}

export type ToPreferences =
  | { type: "state"; dims: DimensionState[]; history: WeightSnapshot[] }
  /** The Basis tab: the basis in use and its last diagnostics. */
  | { type: "basis"; info: BasisInfo; diagnosis: DiagnosisState }
  | PageError;

export type FromPreferences =
  | Ready
  | { type: "setSlider"; id: string; value: number }
  | { type: "lock"; id: string; locked: boolean }
  /** Without an id, every slider goes back to its default and every lock is released. */
  | { type: "reset"; id?: string }
  /** Forgets what was learned in this workspace (the feedback log); sliders and locks stay. */
  | { type: "forget" }
  | { type: "export" }
  | { type: "import" }
  /** Basis diagnostics: run them (they cost inference, so only on request), or stop a run. */
  | { type: "diagnose" }
  | { type: "cancelDiagnose" }
  /** Runs "Distill Basis for This Workspace". */
  | { type: "distill" };

/** Every message type with the checks of its fields; typed from the union, so the two cannot drift apart. */
const SCHEMA: MessageSchema<FromPreferences> = {
  ready: {},
  setSlider: { id: matches(POLICY_ID), value: inRange(WEIGHT_MIN, WEIGHT_MAX) },
  lock: { id: matches(POLICY_ID), locked: bool },
  reset: { id: optional(matches(POLICY_ID)) },
  forget: {},
  export: {},
  import: {},
  diagnose: {},
  cancelDiagnose: {},
  distill: {},
};

/** Validates a message posted by the preferences page; returns it typed, or why it was rejected (for the log). */
export function parseFromPreferences(msg: unknown): FromPreferences | { error: string } {
  return parseMessage(msg, SCHEMA);
}
