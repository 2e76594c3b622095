import * as assert from "node:assert/strict";
import { existsSync, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadBasisPack } from "../../src/core/basis/pack";
import { distillBasis, type DistillReport } from "../../src/engine/distill";
import type { NextResult } from "../../src/engine/protocol";
import { SoupEngine } from "../../src/engine/soupEngine";
import { basisCommand } from "../../src/cli/basis";
import { diagnosePack } from "../../src/engine/diagnose";
import { syntheticAdapterCache } from "../../src/core/gguf/synthetic";
import { headAdapter, MODEL_CACHE, STORIES, TINY, tinyModel } from "../support/engine";

const REPO = path.resolve(__dirname, "../..");
const signal = new AbortController().signal;

/** KL(p || q) over p's tokens (both full distributions), and whether both rank the same token first. */
function compare(p: NextResult, q: NextResult): { kl: number; top1: boolean } {
  const qp = new Map(q.tokens.map((t) => [t.id, t.p]));
  let kl = 0;
  for (const t of p.tokens) if (t.p > 0) kl += t.p * Math.log(t.p / Math.max(qp.get(t.id) ?? 0, 1e-12));
  return { kl, top1: p.tokens[0].id === q.tokens[0].id };
}

/** Held-out prompts: lines of a file the corpus (src/core) does not contain. */
async function heldOutPrompts(n: number): Promise<string[]> {
  const text = await fs.readFile(path.join(REPO, "test/unit/basis/pack.test.ts"), "utf8");
  const lines = text.split("\n").filter((l) => l.trim().length > 12);
  return Array.from({ length: n }, (_, i) => lines[(i * 7) % lines.length].slice(0, 40));
}

async function writePack(dir: string, policies: unknown[]): Promise<string> {
  const file = path.join(dir, "pack.json");
  await fs.writeFile(file, JSON.stringify({ id: "test", version: "1", label: "Test", policies }));
  return file;
}

describe("spectral distillation (real llama.cpp)", function () {
  this.timeout(600_000);
  let dir: string;
  let corpus: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "distill-it-"));
    // A snapshot: the working tree may change while the tests run, and a changed window is (rightly) recomputed.
    corpus = path.join(dir, "corpus");
    await fs.cp(path.join(REPO, "src/core"), corpus, { recursive: true });
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it("recovers a generated head adapter from the expert's outputs only (held-out KL <= 1e-3, top-1 >= 99%)", async () => {
    const model = await tinyModel();
    const truth = await headAdapter(21);
    const packPath = await writePack(dir, [{ id: "expert", label: "Expert", description: "A generated head adapter", kind: "adapter", path: truth, default: 0 }]);
    const out = path.join(dir, "out");
    const options = { modelPath: model, packPath, corpus, outDir: out, rank: 4, positions: 320, window: 24, perWindow: 8, threads: 1 };
    const progress: string[] = [];
    const report = await distillBasis(options, signal, (p) => progress.push(p.stage));
    const e = report.experts[0];
    assert.ok(e.reference.kl > 0.05, `the expert differs from the base (KL ${e.reference.kl})`);
    assert.ok(e.adapter.kl <= 1e-3 && e.adapter.top1 >= 0.99, `offline held-out ${JSON.stringify(e.adapter)}`);
    assert.ok(progress.includes("collect") && progress.includes("fit"));

    // The written pack serves the distilled adapter; compare it with the true expert, both through the engine.
    const pack = await loadBasisPack(report.pack);
    assert.equal(pack.version, "2");
    assert.equal(pack.policies[0].kind, "adapter");
    const engine = new SoupEngine();
    await engine.load(
      {
        modelPath: model,
        gpu: "off",
        gpuLayers: 0,
        threads: 1,
        contextSize: 256,
        basis: { kind: "policies", id: "check", version: "1", policies: [{ id: "truth", kind: "adapter", path: truth }, { id: "distilled", kind: "adapter", path: e.file }] },
      },
      () => {},
    );
    try {
      let kl = 0;
      let agree = 0;
      const prompts = await heldOutPrompts(40);
      for (const text of prompts) {
        const prompt = { kind: "raw" as const, text };
        const expert = await engine.next({ prompt, mode: "explicit", weights: { truth: 1 }, top: 263 }, signal);
        const student = await engine.next({ prompt, mode: "parameter", weights: { distilled: 1 }, top: 263 }, signal);
        const c = compare(expert, student);
        kl += c.kl / prompts.length;
        agree += Number(c.top1) / prompts.length;
      }
      console.log(`      recovery: offline held-out ${JSON.stringify(e.adapter)} (base ${JSON.stringify(e.reference)}); engine KL ${kl.toExponential(2)}, top-1 ${agree}`);
      assert.ok(kl <= 1e-3, `engine held-out mean KL ${kl}`);
      assert.ok(agree >= 0.99, `engine held-out top-1 agreement ${agree}`);
    } finally {
      await engine.unload();
    }

    // A second run resumes from the cache: nothing is computed again.
    const again = await distillBasis(options, signal, () => {});
    assert.equal(again.windowsFromCache, Math.ceil(320 / 8));
    assert.ok(Math.abs(again.experts[0].adapter.kl - e.adapter.kl) < 1e-9);
  });

  it("is cancellable and resumes what it had cached", async () => {
    const model = await tinyModel();
    const packPath = await writePack(dir, [{ id: "boost", label: "Boost", description: "Boosts a and b", kind: "adapter", path: await headAdapter(13, [6 + 0x61, 6 + 0x62]), default: 0 }]);
    const ac = new AbortController();
    const options = { modelPath: model, packPath, corpus, outDir: path.join(dir, "cancel"), rank: 2, positions: 80, window: 16, perWindow: 8, threads: 1 };
    await assert.rejects(
      distillBasis(options, ac.signal, (p) => {
        if (p.stage === "collect" && p.done === 3) ac.abort();
      }),
      /cancelled/,
    );
    const report: DistillReport = await distillBasis(options, signal, () => {});
    assert.equal(report.windowsFromCache, 3);
  });

  (existsSync(STORIES) ? it : it.skip)("stories260K: a prompted Sparky expert distilled into a head adapter (figures reported)", async function () {
    const packPath = await writePack(dir, [
      {
        id: "sparky",
        label: "Sparky",
        description: "Stories about a dragon named Sparky",
        kind: "prompted",
        chat: "Tell a story about Sparky the dragon.",
        fim: "Once upon a time, there was a little dragon named Sparky. Sparky loved to fly and breathe warm fire. Every day Sparky played with his friends in the forest.",
        default: 0,
      },
    ]);
    // The corpus is the base model's own stories (sampled), so that distillation sees the states it will meet.
    const engine = new SoupEngine();
    await engine.load({ modelPath: STORIES, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 512, basis: { kind: "pack", path: packPath } }, () => {});
    const stories: string[] = [];
    for (let seed = 0; seed < 60; seed++) {
      const r = await engine.generate({ prompt: { kind: "raw", text: "Once upon a time" }, mode: "explicit", weights: {}, maxTokens: 96, temperature: 0.9, seed }, signal, () => {});
      stories.push(`Once upon a time${r.text}`);
    }
    const storiesCorpus = path.join(dir, "stories.txt");
    await fs.writeFile(storiesCorpus, stories.join("\n"));
    const report = await distillBasis(
      { modelPath: STORIES, packPath, corpus: storiesCorpus, outDir: path.join(dir, "sparky"), rank: 16, positions: 2000, window: 32, perWindow: 16, threads: 1, refineSteps: 300 },
      signal,
      () => {},
    );
    const e = report.experts[0];
    const distilled = new SoupEngine();
    await distilled.load({ modelPath: STORIES, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 512, basis: { kind: "pack", path: report.pack } }, () => {});
    try {
      const prompt = { kind: "raw" as const, text: "Once upon a time" };
      const gen = async (en: SoupEngine, mode: "explicit" | "parameter", w: number) =>
        (await en.generate({ prompt, mode, weights: { sparky: w }, maxTokens: 40, temperature: 0 }, signal, () => {})).text;
      const figures = {
        heldOut: { reference: e.reference, regression: e.regression, adapter: e.adapter },
        greedy: {
          base: await gen(engine, "explicit", 0),
          expertW1: await gen(engine, "explicit", 1),
          distilledW1: await gen(distilled, "parameter", 1),
          expertW2: await gen(engine, "explicit", 2),
          distilledW2: await gen(distilled, "parameter", 2),
        },
      };
      console.log(`      stories260K figures: ${JSON.stringify(figures)}`);
      // Recorded, not asserted beyond sanity: the distilled adapter is closer to the expert than the base model is.
      assert.ok(e.adapter.kl < e.reference.kl);
    } finally {
      await engine.unload();
      await distilled.unload();
    }
  });
});

describe("basis tools (real llama.cpp on generated models)", function () {
  this.timeout(300_000);
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "basis-it-"));
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it("diagnose flags a duplicated dimension and a zero-effect one", async () => {
    const a = await headAdapter(11);
    const copy = path.join(dir, "copy.gguf");
    await fs.copyFile(a, copy);
    const zero = await syntheticAdapterCache(MODEL_CACHE, { seed: 31, base: TINY, target: "head", rank: 4, strength: 0 });
    const adapter = (id: string, p: string) => ({ id, label: id, description: id, kind: "adapter", path: p, default: 0 });
    const packPath = path.join(dir, "diag.json");
    await fs.writeFile(packPath, JSON.stringify({ id: "diag", version: "1", label: "D", policies: [adapter("a", a), adapter("b", await headAdapter(12)), adapter("dup", copy), adapter("zero", zero)] }));
    const d = await diagnosePack({ modelPath: await tinyModel(), packPath, responses: 24, threads: 1 }, signal);
    assert.deepEqual(d.redundantPairs.map((p) => [p.a, p.b]), [["a", "dup"]]);
    assert.deepEqual(d.weakDimensions, ["zero"]);
    assert.ok(d.effectiveRank < 2.5, `two directions carry the variance (effective rank ${d.effectiveRank})`);
  });

  it("import validates an adapter against the base, naming the tensor and shapes; check reports a foreign base", async () => {
    const model = await tinyModel();
    const packPath = path.join(dir, "imp.json");
    await fs.writeFile(packPath, JSON.stringify({ id: "imp", version: "1", label: "I", policies: [{ id: "p", label: "P", description: "P", kind: "prompted", chat: "c", fim: "// f", default: 0 }] }));
    const lines: string[] = [];
    const out = (l: string) => lines.push(l);
    const wrong = await syntheticAdapterCache(MODEL_CACHE, { seed: 5, base: { ...TINY, nEmbd: 32 }, target: "head", rank: 4 });
    await assert.rejects(
      basisCommand(["import", "--pack", packPath, "--adapter", wrong, "--id", "bad", "--model", model], out),
      /output\.weight\.lora_a has input size 32 but the base tensor has 64/,
    );
    assert.equal(await basisCommand(["import", "--pack", packPath, "--adapter", await headAdapter(12), "--id", "good", "--model", model], out), 0);
    const pack = await loadBasisPack(packPath);
    assert.equal(pack.version, "2");
    assert.deepEqual(pack.policies.map((p) => [p.id, p.kind]), [["p", "prompted"], ["good", "adapter"]]);
    assert.equal(await basisCommand(["check", packPath, "--model", model], out), 0);
    assert.match(lines.at(-1)!, /^ok: pack "imp" v2 fits/);
    await fs.writeFile(packPath, JSON.stringify({ ...pack, base: { name: "other.gguf", sha256: "0".repeat(64) }, policies: pack.policies.map((p) => (p.kind === "prompted" ? p : { ...p, path: "good.gguf" })) }));
    assert.equal(await basisCommand(["check", packPath, "--model", model], out), 1);
    assert.match(lines.at(-1)!, /problem: base model: .* has sha256 [0-9a-f]{64}, but pack "imp" was made for other\.gguf/);
  });
});
