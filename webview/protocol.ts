// The one message protocol between the extension and its webviews (chat and preferences). Both sides import this
// module; everything arriving from a webview is untrusted (a compromised or buggy page can post anything), so
// `parseFromWebview` checks every field and the extension logs and drops what does not parse.
// Pure and dependency-free: it is bundled into the webviews too.

/** What the user asked to attach as context to a chat message. */
export type AttachMode = "none" | "selection" | "file";
export const ATTACH_MODES: readonly AttachMode[] = ["none", "selection", "file"];

/** One dimension's share w_k * phi_k of an answer's implicit reward: the "why" hint under an answer. */
export interface Contribution {
  id: string;
  label: string;
  value: number;
}

export interface ComparisonSide {
  answerId: string;
  text: string;
}

export type ChatTurn =
  | { role: "user"; text: string; attach: AttachMode }
  | { role: "assistant"; answerId: string; text: string; contributions: Contribution[]; rating?: "up" | "down" };

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

/** The basis pack the preferences view's Basis tab describes. */
export interface BasisInfo {
  id: string;
  version: string;
  label: string;
  policies: { id: string; label: string; kind: "prompted" | "adapter" | "model" }[];
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

export type ToWebview =
  // chat
  | { type: "answerStart"; answerId: string }
  | { type: "answerDelta"; answerId: string; text: string }
  | { type: "answerEnd"; answerId: string; contributions: Contribution[]; stopped: boolean }
  /** `dimension`: the label of the uncertain dimension the question is meant to settle (shown to the user). */
  | { type: "comparison"; comparisonId: string; dimension: string; a: ComparisonSide; b: ComparisonSide }
  /** Work without a streaming answer (an A/B pair being generated) is running or ended: shows or hides stop. */
  | { type: "busy"; busy: boolean }
  | { type: "history"; turns: ChatTurn[] }
  // preferences
  | { type: "state"; dims: DimensionState[]; history: WeightSnapshot[] }
  /** The Basis tab: the current pack (null when unreadable) and its last diagnostics. */
  | { type: "basis"; info: BasisInfo | null; diagnosis: DiagnosisState }
  // both
  | { type: "error"; message: string };

export type FromWebview =
  // both: the page has loaded and wants its initial state
  | { type: "ready" }
  // chat
  | { type: "send"; text: string; attach: AttachMode }
  | { type: "stop" }
  | { type: "regenerate" }
  | { type: "clear" }
  | { type: "rate"; answerId: string; up: boolean }
  | { type: "choose"; comparisonId: string; pick: "a" | "b" }
  | { type: "copy"; code: string }
  | { type: "insert"; code: string }
  | { type: "replace"; code: string }
  // preferences
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

export type FromWebviewType = FromWebview["type"];

/** Basis dimension ids, as basis pack manifests define them. */
export const DIMENSION_ID = /^[a-z][a-z0-9-]{0,31}$/;
/** Answer and comparison ids are minted by the extension; anything else is not one of ours. */
export const MESSAGE_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_PROMPT_CHARS = 100_000;
export const MAX_CODE_CHARS = 1_000_000;
/** Slider range: the posterior's weight box. */
export const SLIDER_MIN = -0.5;
export const SLIDER_MAX = 2;

type Fields = Record<string, unknown>;
type Check = (v: unknown) => string | undefined;

const text =
  (max: number, nonEmpty: boolean): Check =>
  (v) =>
    typeof v !== "string" ? "must be a string" : v.length > max ? `is longer than ${max} characters` : nonEmpty && v.trim() === "" ? "must not be empty" : undefined;
const matches =
  (re: RegExp): Check =>
  (v) =>
    typeof v === "string" && re.test(v) ? undefined : `must match ${re}`;
const oneOf =
  (values: readonly string[]): Check =>
  (v) =>
    typeof v === "string" && values.includes(v) ? undefined : `must be one of ${values.map((x) => JSON.stringify(x)).join(", ")}`;
const bool: Check = (v) => (typeof v === "boolean" ? undefined : "must be a boolean");
const sliderValue: Check = (v) =>
  typeof v !== "number" || !Number.isFinite(v) ? "must be a finite number" : v < SLIDER_MIN || v > SLIDER_MAX ? `must be in [${SLIDER_MIN}, ${SLIDER_MAX}]` : undefined;
const optional =
  (check: Check): Check =>
  (v) =>
    v === undefined ? undefined : check(v);

/** The fields of one message type, besides `type`. */
type FieldsOf<T extends FromWebviewType> = Exclude<keyof Extract<FromWebview, { type: T }>, "type">;

/**
 * Every message type with the checks of its fields; a field not listed here is rejected. Typed from the union, so
 * adding a field to a message without a check (or a check for a field that does not exist) fails to compile.
 */
const SCHEMA: { readonly [T in FromWebviewType]: Readonly<Record<FieldsOf<T>, Check>> } = {
  ready: {},
  send: { text: text(MAX_PROMPT_CHARS, true), attach: oneOf(ATTACH_MODES) },
  stop: {},
  regenerate: {},
  clear: {},
  rate: { answerId: matches(MESSAGE_ID), up: bool },
  choose: { comparisonId: matches(MESSAGE_ID), pick: oneOf(["a", "b"]) },
  copy: { code: text(MAX_CODE_CHARS, false) },
  insert: { code: text(MAX_CODE_CHARS, false) },
  replace: { code: text(MAX_CODE_CHARS, false) },
  setSlider: { id: matches(DIMENSION_ID), value: sliderValue },
  lock: { id: matches(DIMENSION_ID), locked: bool },
  reset: { id: optional(matches(DIMENSION_ID)) },
  forget: {},
  export: {},
  import: {},
  diagnose: {},
  cancelDiagnose: {},
  distill: {},
};

function isType(t: unknown): t is FromWebviewType {
  return typeof t === "string" && Object.prototype.hasOwnProperty.call(SCHEMA, t);
}

/** Validates a message posted by a webview; returns it typed, or why it was rejected (for the log). */
export function parseFromWebview(msg: unknown): FromWebview | { error: string } {
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) return { error: "message must be an object" };
  const fields = msg as Fields;
  const type = fields.type;
  if (!isType(type)) return { error: `unknown message type ${typeof type === "string" ? JSON.stringify(type.slice(0, 40)) : `(a ${typeof type})`}` };
  const schema: Readonly<Record<string, Check>> = SCHEMA[type];
  for (const key of Object.keys(fields)) {
    if (key !== "type" && !Object.prototype.hasOwnProperty.call(schema, key)) return { error: `${type}: unexpected field "${key.slice(0, 40)}"` };
  }
  for (const [key, check] of Object.entries(schema)) {
    const problem = check(fields[key]);
    if (problem) return { error: `${type}.${key} ${problem}` };
  }
  // Every field was checked against the schema entry of this very type, which mirrors the union above.
  return fields as FromWebview;
}
