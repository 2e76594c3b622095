// The closed loop on tinycoder through the real engine (in-process SoupEngine, 1 thread): a scripted user with a
// hidden taste for one style accepts completions of held-out code that show it (a rule on the completion's style
// counts; with --noise, a share of decisions flipped at random) and dismisses the rest; the posterior learns the
// weights of the four style adapters (models/demo/pack.json) from those events. Reported per taste: the liked style's
// score (share of comment lines / single-quoted literals / 4-aligned indented lines / statements without `;`) under
// the posterior mean after 10, 25 and 50 events, against the base model and the liked adapter at weight 1 on the same
// prompts and seeds, as progress = (score - base) / (adapter - base), median over seeds.
// Usage: node --import tsx bench/styleLoop.ts [--seeds 3] [--styles comments,no-semicolons,four-spaces] [--noise 0,0.2]
//        [--rule stream|plain]   (stream: `soup adapt`'s rule, STREAM_POSTERIOR; plain: the first wave's SoupPosterior)
import * as path from "node:path";
import { parseArgs } from "node:util";
import { AgingPosterior, STREAM_POSTERIOR } from "../src/core/adapt/aging";
import { SoupPosterior } from "../src/core/adapt/posterior";
import { seededRng } from "../src/core/random";
import { SoupEngine } from "../src/engine/soupEngine";
import { loadStylePrompts, loopReference, runStyleLoop, STYLES, type Style } from "./styleHarness";

const DEMO = path.resolve(__dirname, "..", "models", "demo");
const CHECKPOINTS = [10, 25, 50];
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const v = parseArgs({ options: { seeds: { type: "string" }, styles: { type: "string" }, noise: { type: "string" }, rule: { type: "string", default: "stream" } } }).values;
  const rule = v.rule;
  if (rule !== "stream" && rule !== "plain") throw new Error(`--rule must be stream or plain, not ${rule}`);
  const log = (s: string) => process.stderr.write(s + "\n");
  const seeds = Array.from({ length: Number(v.seeds ?? 3) }, (_, i) => i + 1);
  const styles = (v.styles ?? "comments,no-semicolons,four-spaces").split(",") as Style[];
  const noises = (v.noise ?? "0,0.2").split(",").map(Number);
  const prompts = loadStylePrompts();
  const engine = new SoupEngine();
  await engine.load({ modelPath: path.join(DEMO, "tinycoder.gguf"), gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "pack", path: path.join(DEMO, "pack.json") } }, () => {});
  const rows = [
    `${prompts.length} held-out prompts (events draw from them at random seeds; scores use fixed seeds), 48 tokens, ${seeds.length} seeds per row.`,
    "",
    "| taste | noise | base | adapter at 1 | progress at 10 | at 25 | at 50 | per seed at 25 | accepted | draws against |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
  ];
  const t0 = Date.now();
  try {
    for (const style of styles) {
      const ref = await loopReference(engine, style, prompts);
      for (const noise of noises) {
        const progress: number[][] = CHECKPOINTS.map(() => []);
        let accepted = 0;
        let against = 0;
        for (const seed of seeds) {
          const r = await runStyleLoop({
            engine,
            ids: STYLES,
            style,
            prompts,
            measure: prompts,
            checkpoints: CHECKPOINTS,
            seed,
            noise,
            posterior: rule === "stream" ? new AgingPosterior({ dims: STYLES.length, ...STREAM_POSTERIOR }) : new SoupPosterior({ dims: STYLES.length }),
            rng: seededRng(seed * 7919 + Math.round(noise * 100)),
          });
          r.checkpoints.forEach((c, i) => progress[i].push(c.score === null || ref.base === null || ref.adapter === null ? NaN : (c.score - ref.base) / (ref.adapter - ref.base)));
          accepted += r.accepted;
          against += r.drawsAgainst;
          log(`${style} noise ${noise} seed ${seed}: scores ${r.checkpoints.map((c) => c.score?.toFixed(3)).join(", ")}; mean w at 50 ${r.checkpoints[2].mean.map((x) => x.toFixed(2)).join(", ")}; ${r.accepted}/50 accepted (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
        }
        const f = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "-");
        rows.push(
          `| ${style} | ${noise} | ${ref.base?.toFixed(3)} | ${ref.adapter?.toFixed(3)} | ${progress.map((p) => f(median(p))).join(" | ")} | ${progress[1].map(f).join(", ")} | ${accepted}/${50 * seeds.length} | ${against}/${50 * seeds.length} |`,
        );
        log(rows[rows.length - 1]);
      }
    }
  } finally {
    await engine.unload();
  }
  console.log(rows.join("\n"));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
