// `soup distill` on tinycoder: the four code-exemplar experts (models/demo/exemplars.json) become head adapters,
// learned on a corpus tinycoder never saw (this repository's own TypeScript under src/core; its training corpus was
// npm packages and the Python standard library). Reported: held-out KL(expert || base) and KL(expert || distilled
// adapter) with top-1 agreement (from distillation's own held-out positions), then each style's metrics over sampled
// completions of the held-out FIM prompts (bench/data/style) under the base model, the expert (explicit, w = 1) and
// the distilled adapter (parameter, w = 1), at the same seeds.
// Usage: node --import tsx bench/styleDistill.ts [--positions 1500] [--out DIR]
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { loadBasisPack } from "../src/core/basis/pack";
import { styleMetrics, type StyleCounts } from "../src/core/style/metrics";
import { distillBasis } from "../src/engine/distill";
import type { PolicySpec } from "../src/engine/protocol";
import { SoupEngine } from "../src/engine/soupEngine";
import { countsOf, loadStylePrompts, sampleCompletions, styleScore, type Style } from "./styleHarness";

const REPO = path.resolve(__dirname, "..");
const DEMO = path.join(REPO, "models", "demo");
const MODEL = path.join(DEMO, "tinycoder.gguf");
const SEED = 1000;

async function engineFor(policies: PolicySpec[]): Promise<SoupEngine> {
  const e = new SoupEngine();
  await e.load({ modelPath: MODEL, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "policies", id: "d", version: "1", policies } }, () => {});
  return e;
}

const cell = (style: Style, c: StyleCounts) => {
  const s = styleScore(style, c);
  const m = styleMetrics(c);
  const counts: Record<Style, string> = {
    comments: `${c.commentLines}/${c.lines}`,
    "single-quotes": `${c.singleQuoted}/${c.singleQuoted + c.doubleQuoted}`,
    "four-spaces": `${c.indentedLines - c.indent2mod4}/${c.indentedLines}, mean ${m.meanIndent?.toFixed(2) ?? "-"}`,
    "no-semicolons": `${c.statements - c.semicolons}/${c.statements}`,
  };
  return `${s === null ? "-" : s.toFixed(2)} (${counts[style]})`;
};

async function main(): Promise<void> {
  const v = parseArgs({ options: { positions: { type: "string" }, out: { type: "string" } } }).values;
  const log = (s: string) => process.stderr.write(s + "\n");
  const outDir = path.resolve(v.out ?? path.join(os.tmpdir(), `spectral-soup-tinycoder-distill-${Date.now()}`));
  const t0 = Date.now();
  const report = await distillBasis(
    {
      modelPath: MODEL,
      packPath: path.join(DEMO, "exemplars.json"),
      corpus: path.join(REPO, "src", "core"),
      outDir,
      positions: Number(v.positions ?? 1500),
      threads: 1,
      gpu: "off",
    },
    new AbortController().signal,
    (p) => p.done === p.total && log(`${p.stage} done (${((Date.now() - t0) / 1000).toFixed(0)} s)`),
  );
  const rows = [
    `Corpus: src/core (*.ts), ${report.positions.train} training and ${report.positions.heldOut} held-out positions, rank ${report.experts[0].rank}; collect ${(report.collectMs / 1000).toFixed(0)} s, fit ${(report.fitMs / 1000).toFixed(0)} s.`,
    "",
    "| expert | KL(expert‖base) | KL(expert‖adapter) | top-1 base | top-1 adapter | style score: base | expert (explicit 1) | distilled (parameter 1) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  const prompts = loadStylePrompts();
  const distilled = await loadBasisPack(report.pack);
  const exemplars = await loadBasisPack(path.join(DEMO, "exemplars.json"));
  let base: StyleCounts | undefined;
  for (const e of report.experts) {
    const style = e.id as Style;
    const expert = exemplars.policies.find((p) => p.id === e.id)!;
    const head = distilled.policies.find((p) => p.id === e.id)!;
    if (expert.kind !== "prompted" || head.kind !== "adapter") throw new Error(`${e.id}: unexpected policy kinds`);
    const engine = await engineFor([
      { id: "expert", kind: "prompted", chat: expert.chat, fim: expert.fim, exemplars: expert.exemplars },
      { id: "head", kind: "adapter", path: head.path },
    ]);
    try {
      base ??= countsOf(await sampleCompletions(engine, prompts, { mode: "parameter", weights: {}, seed: SEED }));
      const ex = countsOf(await sampleCompletions(engine, prompts, { mode: "explicit", weights: { expert: 1 }, seed: SEED }));
      const hd = countsOf(await sampleCompletions(engine, prompts, { mode: "parameter", weights: { head: 1 }, seed: SEED }));
      const f = (x: number) => x.toFixed(3);
      rows.push(
        `| ${e.id} | ${f(e.reference.kl)} | ${f(e.adapter.kl)} | ${(100 * e.reference.top1).toFixed(1)}% | ${(100 * e.adapter.top1).toFixed(1)}% | ${cell(style, base)} | ${cell(style, ex)} | ${cell(style, hd)} |`,
      );
      log(rows[rows.length - 1]);
    } finally {
      await engine.unload();
    }
  }
  console.log(rows.join("\n"));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
