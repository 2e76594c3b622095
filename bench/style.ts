// How far each tinycoder style policy moves the four style metrics over sampled completions of held-out code
// (bench/data/style: 30 FIM prompts, 48 tokens, temperature 0.8, top-k 40, top-p 0.95, seed 1000 + prompt index, the
// same seeds in every condition), at weights 0, 0.5, 1, 2, in parameter, explicit and rerank modes:
//  - the four LoRA adapters (models/demo/pack.json) and the four code-exemplar prompted experts
//    (models/demo/exemplars.json; parameter mode cannot apply prompted experts);
//  - rerank with one policy weighted ranks candidates by w * phi, the same order for every w > 0: one run per policy;
//  - agreement of parameter and explicit souping on the adapters: the total variation between their next-token
//    distributions on the prompts (top 40 tokens), which is 0 up to rounding at w = 0 and w = 1 (both are then the
//    base model or the adapter) and not in between (a LoRA at scale w is not the logit mix of the two).
// Each engine holds one policy, so explicit costs 2 decodes a token. 1 thread.
// Usage: node --import tsx bench/style.ts [--prompts N] [--only comments,...] [--modes parameter,explicit,rerank] [--packs adapters,exemplars]
//        [--agreement: that table only] > table.md
import { parseArgs } from "node:util";
import * as path from "node:path";
import { loadBasisPack, type BasisPolicy } from "../src/core/basis/pack";
import { styleMetrics, type StyleCounts } from "../src/core/style/metrics";
import type { PolicySpec, SoupMode } from "../src/engine/protocol";
import { SoupEngine } from "../src/engine/soupEngine";
import { countsOf, loadStylePrompts, sampleCompletions, STYLES, type StylePrompt } from "./styleHarness";

const DEMO = path.resolve(__dirname, "..", "models", "demo");
const MODEL = path.join(DEMO, "tinycoder.gguf");
const SEED = 1000;

function spec(p: BasisPolicy): PolicySpec {
  if (p.kind === "prompted") return { id: p.id, kind: "prompted", chat: p.chat, fim: p.fim, exemplars: p.exemplars };
  if (p.kind === "adapter") return { id: p.id, kind: "adapter", path: p.path };
  throw new Error(`${p.id}: full models are not part of the demo packs`);
}

async function engineFor(policy: PolicySpec): Promise<SoupEngine> {
  const e = new SoupEngine();
  await e.load({ modelPath: MODEL, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "policies", id: policy.id, version: "1", policies: [policy] } }, () => {});
  return e;
}

const fmt = (x: number | null, digits = 2) => (x === null ? "-" : x.toFixed(digits));

function row(label: string, mode: string, w: string, c: StyleCounts, ms: number): string {
  const m = styleMetrics(c);
  return `| ${label} | ${mode} | ${w} | ${fmt(m.commentShare)} (${c.commentLines}/${c.lines}) | ${fmt(m.singleQuoteShare)} (${c.singleQuoted}/${c.singleQuoted + c.doubleQuoted}) | ${fmt(m.meanIndent)} | ${fmt(m.indent2mod4Share)} (${c.indent2mod4}/${c.indentedLines}) | ${fmt(m.semicolonShare)} (${c.semicolons}/${c.statements}) | ${(ms / 1000).toFixed(0)} |`;
}

/**
 * Explicit vs parameter souping of one adapter at weight w: the mean total variation between their next-token
 * distributions on the prompts, and how many greedy 48-token completions are identical.
 */
async function modeAgreement(e: SoupEngine, id: string, w: number, prompts: readonly StylePrompt[]): Promise<{ tv: number; sameGreedy: number }> {
  const signal = new AbortController().signal;
  let sum = 0;
  let sameGreedy = 0;
  for (const p of prompts) {
    const prompt = { kind: "fim" as const, prefix: p.prefix, suffix: p.suffix, language: p.language };
    const greedy = await Promise.all(
      (["explicit", "parameter"] as const).map((mode) => e.generate({ prompt, mode, weights: { [id]: w }, maxTokens: 24, temperature: 0 }, signal, () => {})),
    );
    if (greedy[0].text === greedy[1].text) sameGreedy++;
    const [a, b] = await Promise.all(
      (["explicit", "parameter"] as const).map((mode) => e.next({ prompt, mode, weights: { [id]: w }, top: 40 }, signal)),
    );
    const pa = new Map(a.tokens.map((t) => [t.id, t.p]));
    const pb = new Map(b.tokens.map((t) => [t.id, t.p]));
    let tv = 0;
    for (const tok of new Set([...pa.keys(), ...pb.keys()])) tv += Math.abs((pa.get(tok) ?? 0) - (pb.get(tok) ?? 0));
    sum += tv / 2;
  }
  return { tv: sum / prompts.length, sameGreedy };
}

async function main(): Promise<void> {
  const v = parseArgs({ options: { prompts: { type: "string" }, only: { type: "string" }, modes: { type: "string" }, packs: { type: "string" }, agreement: { type: "boolean" } } }).values;
  const packs = new Set((v.packs ?? "adapters,exemplars").split(","));
  const modes = new Set((v.modes ?? "parameter,explicit,rerank").split(","));
  const log = (s: string) => process.stderr.write(s + "\n");
  const prompts = loadStylePrompts().slice(0, Number(v.prompts ?? 1000));
  const only = v.only ? v.only.split(",") : [...STYLES];
  const adapters = (await loadBasisPack(path.join(DEMO, "pack.json"))).policies.filter((p) => only.includes(p.id)).map(spec);
  const exemplars = (await loadBasisPack(path.join(DEMO, "exemplars.json"))).policies.filter((p) => only.includes(p.id)).map(spec);
  const out: string[] = [
    `${prompts.length} held-out prompts, 48 tokens each; cells: metric (count/denominator); s: seconds for the condition on this shared 2-core machine.`,
    "",
    "| policy | mode | w | comment share | single-quote share | mean indent | 2-mod-4 share | semicolon share | s |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  const run = async (e: SoupEngine, id: string, label: string, mode: SoupMode, w: number, wLabel = String(w)) => {
    if (!modes.has(mode)) return;
    const t0 = Date.now();
    const s = await sampleCompletions(e, prompts, { mode, weights: { [id]: w }, seed: SEED });
    const line = row(label, mode, wLabel, countsOf(s), Date.now() - t0);
    out.push(line);
    log(line);
  };
  const agreement: string[] = [
    "| adapter | w=0: TV, same greedy | w=0.5 | w=1 | w=2 |",
    "| --- | ---: | ---: | ---: | ---: |",
  ];
  let baseDone = false;
  for (const policy of packs.has("adapters") ? adapters : []) {
    const e = await engineFor(policy);
    try {
      if (!v.agreement) {
        if (!baseDone) {
          await run(e, policy.id, "base", "parameter", 0);
          baseDone = true;
        }
        for (const w of [0.5, 1, 2]) await run(e, policy.id, `${policy.id} (adapter)`, "parameter", w);
        for (const w of [0.5, 1, 2]) await run(e, policy.id, `${policy.id} (adapter)`, "explicit", w);
        await run(e, policy.id, `${policy.id} (adapter)`, "rerank", 1, "any > 0");
      }
      const cells = [];
      for (const w of [0, 0.5, 1, 2]) {
        const a = await modeAgreement(e, policy.id, w, prompts);
        cells.push(`${a.tv.toFixed(4)}, ${a.sameGreedy}/${prompts.length}`);
      }
      agreement.push(`| ${policy.id} | ${cells.join(" | ")} |`);
      log(agreement[agreement.length - 1]);
    } finally {
      await e.unload();
    }
  }
  for (const policy of v.agreement || !packs.has("exemplars") ? [] : exemplars) {
    const e = await engineFor(policy);
    try {
      for (const w of [0.5, 1, 2]) await run(e, policy.id, `${policy.id} (exemplar)`, "explicit", w);
      await run(e, policy.id, `${policy.id} (exemplar)`, "rerank", 1, "any > 0");
    } finally {
      await e.unload();
    }
  }
  out.push(
    "",
    "Parameter vs explicit souping of each adapter: mean total variation between their next-token distributions (top 40) on the prompts, and greedy 24-token completions that are identical.",
    "",
    ...agreement,
  );
  console.log(out.join("\n"));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
