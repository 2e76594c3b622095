// Soup-weight policies on the Gaussian-feature user model, for the standard user and the less kind ones: prints the
// tables for docs/BENCHMARKS.md and draws the median utility curves to docs/adapt-curves.svg.
//   node --import tsx bench/simulate.ts [--users N] [--seed S] [--rounds T] [--policies thompson,first-wave]
//                                       [--settings 0,2] [--out docs/adapt-curves.svg]
import * as fs from "node:fs";
import { simulationTable } from "../src/cli/adapt";
import { simulate, type PolicyName, type SimulationOptions, type SimulationResult } from "../src/core/adapt/simulate";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const users = Number(arg("users", "100"));
const out = arg("out", "docs/adapt-curves.svg");
const base = {
  users,
  rounds: Number(arg("rounds", "200")),
  seed: Number(arg("seed", "1")),
  policies: arg("policies", "base,uniform,sliders,thompson,first-wave").split(",") as PolicyName[],
};

const COLORS: Record<PolicyName, string> = {
  base: "#888888",
  uniform: "#b07aa1",
  sliders: "#edc948",
  greedy: "#4e79a7",
  "epsilon-greedy": "#76b7b2",
  thompson: "#e15759",
  "thompson+sliders": "#f28e2b",
  "first-wave": "#9c755f",
};

/** One panel: median normalized utility of each policy over rounds, the interquartile band for Thompson. */
function panel(r: SimulationResult, title: string, x0: number, y0: number, w: number, h: number, target?: [number, number]): string {
  const o = r.options;
  const yMin = -0.2;
  const px = (t: number) => x0 + (t / o.rounds) * w;
  const py = (u: number) => y0 + h - ((Math.max(yMin, Math.min(1, u)) - yMin) / (1 - yMin)) * h;
  const path = (v: number[]) => v.map((u, t) => `${t ? "L" : "M"}${px(t).toFixed(1)},${py(u).toFixed(1)}`).join("");
  const parts = [`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="#fff" stroke="#ccc"/>`];
  for (const u of [0, 0.5, 0.8, 0.9, 1]) {
    parts.push(`<line x1="${x0}" x2="${x0 + w}" y1="${py(u)}" y2="${py(u)}" stroke="#eee"/>`);
    parts.push(`<text x="${x0 - 4}" y="${py(u) + 3}" text-anchor="end" font-size="9">${u}</text>`);
  }
  for (let t = 0; t <= o.rounds; t += 50) parts.push(`<text x="${px(t)}" y="${y0 + h + 12}" text-anchor="middle" font-size="9">${t}</text>`);
  const thompson = r.results.find((p) => p.policy === "thompson");
  if (thompson) {
    const band = [...thompson.utilityQ3.map((u, t) => [px(t), py(u)]), ...thompson.utilityQ1.map((u, t) => [px(t), py(u)]).reverse()];
    parts.push(`<path d="M${band.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join("L")}Z" fill="${COLORS.thompson}" opacity="0.12"/>`);
  }
  for (const p of r.results) if (p.policy !== "uniform") parts.push(`<path d="${path(p.utility)}" fill="none" stroke="${COLORS[p.policy]}" stroke-width="1.6"/>`);
  if (target) {
    parts.push(`<circle cx="${px(target[0])}" cy="${py(target[1])}" r="4" fill="none" stroke="#000"/>`);
    parts.push(`<text x="${px(target[0]) + 6}" y="${py(target[1]) + 14}" font-size="9">target ${target[1]} at ${target[0]}</text>`);
  }
  parts.push(`<text x="${x0 + w / 2}" y="${y0 - 6}" text-anchor="middle" font-size="11" font-weight="bold">${title} (K=${o.k}, median of ${o.users} users)</text>`);
  return parts.join("\n");
}

function svg(panels: { r: SimulationResult; title: string; target?: [number, number] }[]): string {
  const w = 330;
  const h = 200;
  const cols = 2;
  const rows = Math.ceil(panels.length / cols);
  const width = 60 + cols * (w + 50);
  const height = 40 + rows * (h + 50) + 40;
  const body = panels.map((p, i) => panel(p.r, p.title, 50 + (i % cols) * (w + 50), 40 + Math.floor(i / cols) * (h + 50), w, h, p.target));
  const legend = base.policies.filter((name) => name !== "uniform").map((name, i) => {
    const x = 50 + (i % 4) * 170;
    const y = height - 30 + Math.floor(i / 4) * 14;
    return `<line x1="${x}" x2="${x + 18}" y1="${y - 3}" y2="${y - 3}" stroke="${COLORS[name]}" stroke-width="2.5"/><text x="${x + 22}" y="${y}" font-size="10">${name}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fafafa"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="13">Normalized utility of the soup weights over rounds of feedback (1 = the user's optimum, 0 = base model); band: Thompson IQR</text>`,
    ...body,
    ...legend,
    `</svg>`,
  ].join("\n");
}

function run(opts: Omit<SimulationOptions, "users" | "rounds" | "seed">): SimulationResult {
  const started = Date.now();
  const r = simulate({ ...base, ...opts });
  console.log(simulationTable(r).join("\n"));
  console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s, median update ${r.updateMs.toFixed(3)} ms)\n`);
  return r;
}

const settings: { title: string; opts: Omit<SimulationOptions, "users" | "rounds" | "seed">; target?: [number, number] }[] = [
  { title: "standard, ratings", opts: { k: 8, feedback: "rating" }, target: [25, 0.85] },
  { title: "standard, choices", opts: { k: 8, feedback: "choice" }, target: [100, 0.92] },
  { title: "noisy 20%, ratings", opts: { k: 8, feedback: "rating", user: "noisy" }, target: [100, 0.65] },
  { title: "drifting at 50, ratings", opts: { k: 8, feedback: "rating", user: "drifting" }, target: [100, 0.75] },
  { title: "negative 25%, ratings", opts: { k: 16, feedback: "rating", user: "negative" }, target: [100, 0.8] },
  { title: "scale x3, ratings", opts: { k: 8, feedback: "rating", featureScale: 3 }, target: [100, 0.8] },
  { title: "chooser (80% choices)", opts: { k: 8, feedback: "rating", user: "chooser" } },
  { title: "completer (accept/dismiss)", opts: { k: 8, feedback: "rating", user: "completer" } },
  { title: "standard, ratings, K=4", opts: { k: 4, feedback: "rating" } },
  { title: "standard, ratings, K=32", opts: { k: 32, feedback: "rating" } },
  { title: "scale x0.3, ratings", opts: { k: 8, feedback: "rating", featureScale: 0.3 } },
];
// --settings 3,4: only those (0-based), e.g. to split the run over processes.
const only = arg("settings", "") ? new Set(arg("settings", "").split(",").map(Number)) : null;
const panels = settings.filter((_, i) => !only || only.has(i)).map(({ title, opts, target }) => {
  console.log(`### ${title}\n`);
  return { r: run(opts), title, target };
});
fs.writeFileSync(out, svg(panels));
