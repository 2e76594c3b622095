// tinycoder, the demo model (models/demo): a trained code model with four style adapters. Real inference through
// the engine: the code-exemplar experts build the prompt they claim, `soup generate --json` reports features for
// adapter policies in every mode, and the closed loop (a scripted user accepting completions in one style) moves
// that style's metric under the learned mean toward the adapter's.
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { loadStylePrompts, loopReference, runStyleLoop, STYLES } from "../../bench/styleHarness";
import { generateCommand } from "../../src/cli/generate";
import { SoupPosterior } from "../../src/core/adapt/posterior";
import { seededRng } from "../../src/core/random";
import { SoupEngine } from "../../src/engine/soupEngine";

const DEMO = path.resolve(__dirname, "../../models/demo");
const MODEL = path.join(DEMO, "tinycoder.gguf");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function loaded(pack: string): Promise<SoupEngine> {
  const engine = new SoupEngine();
  await engine.load({ modelPath: MODEL, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "pack", path: path.join(DEMO, pack) } }, () => {});
  return engine;
}

describe("tinycoder (demo model): style basis on real inference", function () {
  this.timeout(900_000);

  it("code-exemplar experts read their snippet as earlier code: features differ from the base in TypeScript, are 0 where the style has no exemplar", async () => {
    const engine = await loaded("exemplars.json");
    const signal = new AbortController().signal;
    try {
      const ts = await engine.score({ prompt: { kind: "fim", prefix: "function f(x) {\n", suffix: "}\n", language: "typescript" }, response: "  return x;\n" }, signal);
      for (const id of STYLES) assert.notEqual(ts.features[id], 0, `${id}: the TypeScript exemplar changes the expert's log-probability`);
      // The no-semicolons exemplar makes "return x;" less likely than the base model does.
      assert.ok(ts.features["no-semicolons"] < 0, `no-semicolons phi of a ;-ended line: ${ts.features["no-semicolons"]}`);
      const py = await engine.score({ prompt: { kind: "fim", prefix: "def f(x):\n", suffix: "", language: "python" }, response: "    return x\n" }, signal);
      assert.equal(py.features["no-semicolons"], 0);
      assert.equal(py.features["four-spaces"], 0);
      assert.notEqual(py.features.comments, 0);
    } finally {
      await engine.unload();
    }
  });

  it("a keystroke in a line evaluates only what was typed when the cursor line starts the middle, the whole suffix when it ends the prefix", async () => {
    const engine = new SoupEngine();
    const signal = new AbortController().signal;
    const above = "function sum(items) {\n  let total = 0;\n";
    const suffix = "\n  for (const item of items) total += item;\n  return total;\n}\n";
    const evaluated = async (prompt: { prefix: string; middle?: string }) =>
      (await engine.generate({ prompt: { kind: "fim", suffix, ...prompt }, mode: "parameter", weights: {}, maxTokens: 4, temperature: 0 }, signal, () => {})).timings.promptTokensEvaluated;
    try {
      await engine.load({ modelPath: MODEL, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "policies", id: "plain", version: "1", policies: [] } }, () => {});
      await evaluated({ prefix: above, middle: "  const n" });
      // One typed character (tinycoder's tokens are single characters), at most the cached last token again.
      assert.ok((await evaluated({ prefix: above, middle: "  const n " })) <= 2);
      await evaluated({ prefix: `${above}  const n` });
      assert.ok((await evaluated({ prefix: `${above}  const n ` })) >= suffix.length, "the suffix moved and is evaluated again");
    } finally {
      await engine.unload();
    }
  });

  it("soup generate --json returns features for every adapter policy in explicit, parameter and rerank modes", async () => {
    for (const mode of ["explicit", "parameter", "rerank"]) {
      const lines: string[] = [];
      const code = await generateCommand(
        "generate",
        ["--model", MODEL, "--pack", path.join(DEMO, "pack.json"), "--prefix", "const x = 1;\n", "--suffix", "\n", "--mode", mode, "--weights", "comments=1,no-semicolons=0.5", "--max-tokens", "12", "--temperature", "0.8", "--seed", "4", "--threads", "1", "--gpu", "off", "--context-size", "512", "--json"],
        (l) => lines.push(l),
      );
      assert.equal(code, 0);
      const r = JSON.parse(lines[lines.length - 1]) as { mode: string; features: Record<string, number> | null };
      assert.equal(r.mode, mode);
      assert.ok(r.features, `${mode}: features are present`);
      assert.deepEqual(Object.keys(r.features).sort(), [...STYLES].sort(), `${mode}: one feature per adapter`);
      for (const [id, v] of Object.entries(r.features)) assert.ok(Number.isFinite(v), `${mode}: feature ${id} is ${v}`);
    }
  });

  it("closed loop: a user who likes comments moves the comment share under the learned mean at least halfway to the adapter's within 30 events (median of 3 seeds)", async () => {
    const engine = await loaded("pack.json");
    try {
      const prompts = loadStylePrompts();
      const ref = await loopReference(engine, "comments", prompts);
      assert.ok(ref.base !== null && ref.adapter !== null && ref.adapter > ref.base + 0.1, `the comments adapter moves the comment share: ${JSON.stringify(ref)}`);
      const progress: number[] = [];
      for (const seed of [1, 2, 3]) {
        const r = await runStyleLoop({
          engine,
          ids: STYLES,
          style: "comments",
          prompts,
          measure: prompts,
          checkpoints: [30],
          seed,
          noise: 0,
          posterior: new SoupPosterior({ dims: STYLES.length }),
          rng: seededRng(seed),
        });
        const at30 = r.checkpoints[0];
        const p = (at30.score! - ref.base!) / (ref.adapter! - ref.base!);
        progress.push(p);
        console.log(`      seed ${seed}: comment share ${at30.score!.toFixed(3)} (base ${ref.base!.toFixed(3)}, adapter at 1 ${ref.adapter!.toFixed(3)}), ${r.accepted}/30 accepted, mean w ${at30.mean.map((x) => x.toFixed(2)).join(", ")}`);
      }
      assert.ok(median(progress) >= 0.5, `median progress toward the adapter ${median(progress).toFixed(2)} (per seed ${progress.map((p) => p.toFixed(2)).join(", ")})`);
    } finally {
      await engine.unload();
    }
  });
});
