// The tinycoder e2e flow (test/e2e/tinycoder.e2e.ts) without the editor, to size it: the same CompletionSession
// the editor runs, on the real engine in-process (the demo model and its four style adapters, 1 thread), the same
// settings, the same probes typed into the emptied file below a line of code (test/e2e/taste.ts emulates what VS Code makes of them) and
// the same scripted person (accepts suggestions with a comment, dismisses the rest). Phases as in the e2e flow:
// the probes under the posterior mean at the start (weights 0), `--events` suggestions under Thompson draws
// (exploration on, one draw per suggestion), the probes again under the posterior mean. The only randomness is the
// Thompson draws (the engine seeds sampling from the prompt), so each `--seeds` is one run of the flow. Prints the
// share of runs in which the liked count and the comment-line share rose by each margin.
// Usage: node --import tsx bench/editorLoop.ts [--seeds 10] [--events 8,16] [--probes 12] [--person comments|no-comments|random]
//        [--rule editor|plain] [--show]   (editor: a workspace's posterior in the extension, the stream rule; plain: the first wave's)
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { ChoiceFeedback, RatingFeedback } from "../src/core/adapt/feedback";
import { AgingPosterior, EDITOR_FIT, STREAM_AGING } from "../src/core/adapt/aging";
import { SoupPosterior, type Learner } from "../src/core/adapt/posterior";
import { CompletionSession, type CompletionSessionSettings } from "../src/core/completion/session";
import { seededRng, type Rng } from "../src/core/random";
import { FeedbackRecorder } from "../src/core/soup/recorder";
import type { Generator, WeightSource } from "../src/core/soup/weights";
import { SoupEngine } from "../src/engine/soupEngine";
import { DEMO_MODEL, DEMO_PACK } from "../scripts/demo";
import { likes, PROBES, scoreTaste, typedProbe, typedText, type TasteScore } from "../test/e2e/taste";

/**
 * Who answers: the e2e flow's person (Tab on a suggestion with a comment), and two controls that must not move the
 * style toward comments: one who takes the suggestions without a comment, one who answers at random.
 */
const PERSONS = {
  comments: (typed: string, ghost: string) => likes(typed, ghost),
  "no-comments": (typed: string, ghost: string) => !likes(typed, ghost),
  random: (_typed: string, _ghost: string, rng: Rng) => rng.next() < 0.5,
};
const IDS = ["comments", "single-quotes", "four-spaces", "no-semicolons"];

/** The demo model's completion settings in the e2e session (scripts/demo.ts and E2E_DEMO_SETTINGS). */
const settings = (exploration: boolean, episodeCompletions: number): CompletionSessionSettings => ({
  completions: { enabled: true, languages: { "*": true }, debounceMs: 0, prefixLines: 4, suffixLines: 1, maxTokens: 48, timeBudgetMs: 60_000, candidates: 3, multiline: "auto", prefetch: true },
  soupMode: "auto",
  exploration,
  episodeCompletions,
  episodeMinutes: 10,
});

async function main(): Promise<void> {
  const v = parseArgs({
    options: { seeds: { type: "string" }, events: { type: "string" }, probes: { type: "string" }, "first-seed": { type: "string" }, person: { type: "string" }, rule: { type: "string", default: "editor" }, show: { type: "boolean" } },
  }).values;
  const person = (v.person ?? "comments") as keyof typeof PERSONS;
  if (!PERSONS[person]) throw new Error(`--person: one of ${Object.keys(PERSONS).join(", ")}`);
  if (v.rule !== "editor" && v.rule !== "plain") throw new Error(`--rule must be editor or plain, not ${v.rule}`);
  const learner = (): Learner => (v.rule === "editor" ? new AgingPosterior({ dims: IDS.length, ...EDITOR_FIT, ...STREAM_AGING }) : new SoupPosterior({ dims: IDS.length }));
  const seeds = Number(v.seeds ?? 10);
  const firstSeed = Number(v["first-seed"] ?? 1);
  const eventCounts = (v.events ?? "8,16").split(",").map(Number);
  const probes = PROBES.slice(0, Number(v.probes ?? PROBES.length));
  const log = (s: string) => process.stderr.write(s + "\n");
  const engine = new SoupEngine();
  await engine.load({ modelPath: DEMO_MODEL, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "pack", path: DEMO_PACK } }, () => {});
  const signal = new AbortController().signal;
  let lastWeights: Record<string, number> = {};
  const generator: Generator = {
    policies: IDS.map((id) => ({ id, kind: "adapter" as const })),
    generate: (p, o) => {
      lastWeights = p.weights;
      return engine.generate(p, o.signal ?? signal, o.onToken ?? (() => {}));
    },
    score: (p) => engine.score(p, signal),
  };
  const t0 = Date.now();
  const rows: string[] = [];
  // Where the recorder would keep feedback the engine could not score (the engine here is always up).
  const waitDir = mkdtempSync(path.join(os.tmpdir(), "soup-editor-loop-"));
  try {
    for (const events of eventCounts) {
      const runs: { before: TasteScore & { ghosts: string[] }; after: TasteScore; mean: number[]; accepted: number }[] = [];
      for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
        const posterior = learner();
        const rng = seededRng(seed);
        const weights: WeightSource = {
          policyIds: IDS,
          weights: (explore) => {
            const w = explore ? posterior.sample(rng) : posterior.mean();
            return Object.fromEntries(IDS.map((id, k) => [id, w[k]]));
          },
          vector: (f) => IDS.map((id) => f[id] ?? 0),
          record: async (event: RatingFeedback | ChoiceFeedback) => posterior.observe(event),
        };
        let current = settings(false, 100);
        const quiet = { info: () => {}, warn: log };
        const feedback = new FeedbackRecorder({ generator, weights, log: quiet, file: path.join(waitDir, `waiting-${seed}.json`), engineUp: () => true });
        const session = new CompletionSession({ generator, weights, feedback, settings: () => current, log: quiet });
        let accepted = 0;
        /** One suggestion for `probe` and the person's answer; undefined when nothing is shown (as in the editor). */
        const suggest = async (probe: string) => {
          const { lines, cursor } = typedProbe(probe);
          const items = await session.complete({ lines, cursor, languageId: "typescript", file: "example.ts" }, signal);
          if (!items?.length) return undefined;
          const ghost = items[0].text;
          const typed = typedText(probe);
          if (PERSONS[person](typed, ghost, rng)) {
            session.accepted(items[0].id);
            accepted++;
          } else session.observe({ type: "dismissed" });
          await session.settled();
          if (v.show) log(`${current.exploration ? "draw" : "mean"}: ${likes(typed, ghost) ? "Tab" : "Escape"} ${JSON.stringify(ghost)} (comments weight ${(lastWeights.comments ?? 0).toFixed(2)})`);
          return { typed, ghost };
        };
        const measure = async () => {
          const shown = [];
          for (const p of probes) {
            const s = await suggest(p);
            if (s) shown.push(s);
          }
          return { ...scoreTaste(shown), ghosts: shown.map((x) => x.ghost) };
        };
        const before = await measure();
        current = settings(true, 1);
        for (let i = 0, shown = 0; shown < events && i < events * 2; i++) if (await suggest(probes[i % probes.length])) shown++;
        current = settings(false, 100);
        const mean = posterior.mean();
        const after = await measure();
        runs.push({ before, after, mean, accepted });
        if (v.show) log(JSON.stringify({ seed, before: before.ghosts, after: after.ghosts }));
        log(
          `events ${events} seed ${seed}: liked ${before.liked}/${before.shown} -> ${after.liked}/${after.shown}, comment lines ${before.commentLines}/${before.lines} -> ${after.commentLines}/${after.lines}; ` +
            `mean w ${mean.map((x) => x.toFixed(2)).join(", ")}; ${accepted} accepted (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
        );
      }
      // The start is weights 0 on prompts seeded by their text: the same in every run, or the flow is not deterministic.
      const starts = new Set(runs.map((r) => JSON.stringify(r.before.ghosts)));
      if (starts.size > 1) log(`events ${events}: the suggestions at the start differ between runs (${starts.size} versions)`);
      const share = (c: TasteScore) => c.commentLines / Math.max(1, c.lines);
      const rate = (ok: (r: (typeof runs)[number]) => boolean) => `${runs.filter(ok).length}/${runs.length}`;
      rows.push(
        `| ${events} | ${runs[0].before.liked}/${runs[0].before.shown} | ${runs.map((r) => r.after.liked).join(" ")} | ` +
          [1, 2, 3].map((m) => rate((r) => r.after.liked - r.before.liked >= m)).join(" | ") +
          ` | ${share(runs[0].before).toFixed(2)} | ${runs.map((r) => share(r.after).toFixed(2)).join(" ")} | ` +
          [0.05, 0.1].map((m) => rate((r) => share(r.after) - share(r.before) >= m)).join(" | ") +
          ` | ${runs.map((r) => r.mean[0].toFixed(2)).join(" ")} | ${rate((r) => r.mean[0] > 0 && r.mean.slice(1).every((x) => x < r.mean[0]))} |`,
      );
    }
  } finally {
    await engine.unload();
    rmSync(waitDir, { recursive: true, force: true });
  }
  console.log(`person: ${person}; ${probes.length} probes, ${seeds} runs per row (Thompson seeds ${firstSeed}..${firstSeed + seeds - 1}), ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  console.log("");
  console.log("| events | liked at start | liked after, per run | +1 or more | +2 | +3 | comment share at start | after, per run | +0.05 | +0.10 | learned comments weight, per run | comments learned highest |");
  console.log("| ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |");
  for (const r of rows) console.log(r);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
