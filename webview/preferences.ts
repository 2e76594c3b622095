// The preferences page (bundled to dist/webview/preferences.js): one row per basis dimension with the learned
// weight (mean and a +-1 std band) drawn on the same scale as the user's slider, a lock, a reset, and a chart of
// the learned means over time drawn as inline SVG. Every change goes to the extension, which writes settings and
// sends the new state back; the page re-renders from that state, so the Settings UI and the page cannot disagree.
// The Basis tab describes the basis pack and shows its diagnostics (run on request: they cost inference).
import "@vscode-elements/elements/dist/vscode-button/index.js";
import "@vscode-elements/elements/dist/vscode-checkbox/index.js";
import "@vscode-elements/elements/dist/vscode-progress-ring/index.js";
import "@vscode-elements/elements/dist/vscode-tab-header/index.js";
import "@vscode-elements/elements/dist/vscode-tab-panel/index.js";
import "@vscode-elements/elements/dist/vscode-tabs/index.js";
import { WEIGHT_MAX, WEIGHT_MIN } from "../src/shared/soup";
import { connect, h, signed } from "./host";
import type { BasisDiagnosisView, BasisInfo, DiagnosisState, DimensionState, FromPreferences, ToPreferences, WeightSnapshot } from "./protocol/preferences";

const { send, onMessage } = connect<ToPreferences, FromPreferences>();

const SVG = "http://www.w3.org/2000/svg";
const SERIES_COLOURS = 8;

const app = document.getElementById("app")!;
const rows = h("div", { class: "dims" });
const chart = h("div", { class: "chart" });
const basis = h("div", { class: "basis" });
const banner = h("div", { class: "banner", role: "alert", hidden: true });
app.append(
  banner,
  h(
    "vscode-tabs",
    { "selected-index": 0 },
    h("vscode-tab-header", { slot: "header", class: "tab-weights" }, "Weights"),
    h("vscode-tab-panel", {}, rows),
    h("vscode-tab-header", { slot: "header", class: "tab-history" }, "Over time"),
    h("vscode-tab-panel", {}, chart),
    h("vscode-tab-header", { slot: "header", class: "tab-basis" }, "Basis"),
    h("vscode-tab-panel", {}, basis),
  ),
  h(
    "div",
    { class: "actions" },
    h("vscode-button", { secondary: true, class: "reset-all", title: "Every slider back to its default, every lock released", onclick: () => send({ type: "reset" }) }, "Reset sliders"),
    h("vscode-button", { secondary: true, class: "forget", title: "Forget what was learned from feedback in this workspace", onclick: () => send({ type: "forget" }) }, "Forget learned"),
    h("vscode-button", { secondary: true, class: "export", title: "Write .vscode/spectral-soup.json for the team", onclick: () => send({ type: "export" }) }, "Export profile"),
    h("vscode-button", { secondary: true, class: "import", title: "Read .vscode/spectral-soup.json into this workspace's settings", onclick: () => send({ type: "import" }) }, "Import profile"),
  ),
);

/** Position of a weight on the shared scale, in percent of the track. */
const at = (w: number) => ((Math.min(WEIGHT_MAX, Math.max(WEIGHT_MIN, w)) - WEIGHT_MIN) / (WEIGHT_MAX - WEIGHT_MIN)) * 100;

/** The slider being dragged keeps its own value until released (state echoes would make it jump). */
let dragging: string | undefined;

function dimensionRow(d: DimensionState, i: number): HTMLElement {
  const band = h("div", { class: "band", title: `learned ${d.mean.toFixed(2)} ± ${d.std.toFixed(2)}` });
  band.style.left = `${at(d.mean - d.std)}%`;
  band.style.width = `${at(d.mean + d.std) - at(d.mean - d.std)}%`;
  const mean = h("div", { class: `mean series-${i % SERIES_COLOURS}` });
  mean.style.left = `${at(d.mean)}%`;
  const zero = h("div", { class: "zero", title: "0: the base model" });
  zero.style.left = `${at(0)}%`;
  const value = h("span", { class: "value" });
  const describe = (slider: number) => (value.textContent = `you ${signed(slider)} · learned ${signed(d.mean)} ± ${d.std.toFixed(2)}`);
  describe(d.slider);
  const slider = h("input", {
    type: "range",
    class: "slider",
    min: WEIGHT_MIN,
    max: WEIGHT_MAX,
    step: 0.05,
    "aria-label": `${d.label}: your weight`,
    oninput: (e: Event) => {
      dragging = d.id;
      describe(Number((e.target as HTMLInputElement).value));
    },
    onchange: (e: Event) => {
      dragging = undefined;
      send({ type: "setSlider", id: d.id, value: Number((e.target as HTMLInputElement).value) });
    },
  });
  slider.value = String(d.slider);
  const lock = h("vscode-checkbox", { class: "lock", label: "Lock", title: "Pin the weight at your value: feedback stops moving it" }) as HTMLElement & { checked: boolean };
  lock.checked = d.locked;
  lock.addEventListener("change", () => send({ type: "lock", id: d.id, locked: lock.checked }));
  return h(
    "div",
    { class: `dim${d.locked ? " locked" : ""}`, "data-id": d.id },
    h("div", { class: "dim-head" }, h("span", { class: `swatch series-${i % SERIES_COLOURS}` }), h("span", { class: "label", title: d.description }, d.label), value),
    h("div", { class: "track" }, zero, band, mean, slider),
    h(
      "div",
      { class: "dim-tools" },
      lock,
      h("vscode-button", { secondary: true, class: "reset", title: `${d.label}: back to the default`, onclick: () => send({ type: "reset", id: d.id }) }, "Reset"),
    ),
  );
}

function showDimensions(dims: readonly DimensionState[]): void {
  if (dragging && rows.querySelector(`[data-id="${dragging}"]`)) return;
  rows.replaceChildren(...(dims.length ? dims.map(dimensionRow) : [h("div", { class: "empty" }, "No basis pack is loaded: there are no preference dimensions.")]));
}

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Learned means over time: one line per dimension on the weight scale, drawn with the theme's chart colours. */
function showChart(dims: readonly DimensionState[], history: readonly WeightSnapshot[]): void {
  if (history.length < 2) {
    chart.replaceChildren(h("div", { class: "empty" }, "The chart fills in as the assistant learns from your feedback."));
    return;
  }
  const width = 300;
  const height = 120;
  const t0 = history[0]!.t;
  const span = Math.max(1, history.at(-1)!.t - t0);
  // Points are spaced by event order, not wall time: learning happens in bursts, and bursts would collapse.
  const x = (i: number) => (i / (history.length - 1)) * width;
  const y = (w: number) => height - (at(w) / 100) * height;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart-svg", role: "img", "aria-label": "Learned weights over time" });
  root.append(svg("line", { x1: 0, x2: width, y1: y(0), y2: y(0), class: "axis" }));
  dims.forEach((d, i) => {
    const points = history.map((p, j) => `${x(j).toFixed(1)},${y(p.weights[d.id] ?? 0).toFixed(1)}`).join(" ");
    const line = svg("polyline", { points, class: `series series-${i % SERIES_COLOURS}`, fill: "none" });
    line.append(Object.assign(svg("title", {}), { textContent: d.label }));
    root.append(line);
  });
  const hours = span / 3_600_000;
  chart.replaceChildren(
    root,
    h("div", { class: "chart-caption" }, `${history.length} points over ${hours >= 1 ? `${hours.toFixed(1)} h` : `${Math.max(1, Math.round(span / 60_000))} min`}; 0 is the base model`),
    h("div", { class: "legend" }, ...dims.map((d, i) => h("span", {}, h("span", { class: `swatch series-${i % SERIES_COLOURS}` }), d.label))),
  );
}

const KIND_NAMES = { prompted: "prompted expert", adapter: "head adapter", model: "full model" } as const;

/** Eigenvalues of cov(phi) as bars on a linear scale (largest first): one tall bar means one direction of taste. */
function eigenChart(values: readonly number[]): SVGElement {
  const width = 300;
  const height = 80;
  const top = Math.max(...values, Number.MIN_VALUE);
  const total = values.reduce((a, b) => a + b, 0) || 1;
  const slot = width / values.length;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "eigen-svg", role: "img", "aria-label": "Eigenvalues of the features' covariance" });
  values.forEach((v, i) => {
    const barHeight = Math.max(1, (v / top) * (height - 2));
    const bar = svg("rect", { x: (i * slot + slot * 0.15).toFixed(1), width: (slot * 0.7).toFixed(1), y: (height - barHeight).toFixed(1), height: barHeight.toFixed(1), class: "eigen-bar" });
    bar.append(Object.assign(svg("title", {}), { textContent: `λ${i + 1} = ${v.toPrecision(3)} (${((100 * v) / total).toFixed(1)}% of the variance)` }));
    root.append(bar);
  });
  return root;
}

function diagnosisResult(r: BasisDiagnosisView, label: (id: string) => string): HTMLElement {
  const when = new Date(r.at).toLocaleTimeString();
  return h(
    "div",
    { class: "diagnosis" },
    h("div", { class: "effective-rank" }, `Effective rank ${r.effectiveRank.toFixed(2)} of ${r.eigenvalues.length}`),
    h("div", { class: "note" }, `How many independent directions of taste the basis spans, from ${r.responses} calibration responses (${when}).`),
    eigenChart(r.eigenvalues),
    h("div", { class: "chart-caption" }, "Eigenvalues of the covariance of the features φ, largest first"),
    h("h4", {}, "Redundant pairs"),
    r.redundantPairs.length
      ? h("ul", { class: "redundant" }, ...r.redundantPairs.map((p) => h("li", {}, `${label(p.a)} and ${label(p.b)}: correlation ${p.correlation.toFixed(3)}`)))
      : h("div", { class: "empty redundant-none" }, "None: every dimension moves the features its own way."),
    h("h4", {}, "Weak dimensions"),
    r.weakDimensions.length
      ? h("ul", { class: "weak" }, ...r.weakDimensions.map((id) => h("li", {}, `${label(id)}: almost no effect on responses`)))
      : h("div", { class: "empty weak-none" }, "None: every dimension changes what the model writes."),
  );
}

function showBasis(info: BasisInfo, diagnosis: DiagnosisState): void {
  const label = (id: string) => info.policies.find((p) => p.id === id)?.label ?? id;
  const counts = (Object.keys(KIND_NAMES) as (keyof typeof KIND_NAMES)[])
    .map((kind) => [kind, info.policies.filter((p) => p.kind === kind).length] as const)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${n} ${KIND_NAMES[kind]}${n === 1 ? "" : "s"}`);
  const prompted = info.policies.some((p) => p.kind === "prompted");
  const running = diagnosis.status === "running";
  // One wrapper, because h() skips the parts that do not apply and replaceChildren does not.
  basis.replaceChildren(
    h(
      "div",
      {},
      h("div", { class: "basis-head" }, h("span", { class: "label" }, info.label), h("span", { class: "value" }, `${info.id} v${info.version} · ${counts.join(", ")}`)),
      prompted
        ? h(
            "div",
            { class: "hint" },
            "Prompted experts cost a decode per dimension on every token. Distilled into head adapters on this workspace's code, the soup runs at plain-model speed.",
          )
        : null,
      h(
        "div",
        { class: "actions" },
        h("vscode-button", { class: "diagnose", disabled: running, title: "Score calibration responses under every dimension (runs the model)", onclick: () => send({ type: "diagnose" }) }, "Run diagnostics"),
        running ? h("vscode-button", { secondary: true, class: "cancel-diagnose", onclick: () => send({ type: "cancelDiagnose" }) }, "Cancel") : null,
        prompted ? h("vscode-button", { secondary: true, class: "distill", title: "Distill Basis for This Workspace", onclick: () => send({ type: "distill" }) }, "Distill for this workspace") : null,
      ),
      diagnosis.status === "none"
        ? h("div", { class: "empty" }, "Diagnostics show whether dimensions duplicate each other or do nothing. They run the model, so only when asked.")
        : diagnosis.status === "running"
          ? h("div", { class: "busy diagnose-running" }, h("vscode-progress-ring"), h("span", {}, "Scoring calibration responses under every dimension…"))
          : diagnosis.status === "failed"
            ? h("div", { class: "banner diagnose-failed", role: "alert" }, `Diagnostics failed: ${diagnosis.message}`)
            : diagnosisResult(diagnosis.result, label),
    ),
  );
}

function handle(msg: ToPreferences): void {
  switch (msg.type) {
    case "state":
      banner.hidden = true;
      showDimensions(msg.dims);
      showChart(msg.dims, msg.history);
      return;
    case "basis":
      showBasis(msg.info, msg.diagnosis);
      return;
    case "error":
      banner.replaceChildren(h("span", {}, msg.message), h("vscode-button", { secondary: true, onclick: () => (banner.hidden = true) }, "Dismiss"));
      banner.hidden = false;
      return;
    default:
      return;
  }
}

onMessage(handle);
send({ type: "ready" });
