// Background distillation on a trained code model (tinycoder), through the basis job process as the extension runs
// it: a job paused mid-way holds its place, a job interrupted and started again resumes from what it saved and ends
// with the same head adapters as one that ran straight through, and the engine serves those heads to parameter
// souping (completions) while explicit souping (chat) keeps the prompted experts.
import * as assert from "node:assert/strict";
import { existsSync, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BACKGROUND_DISTILL } from "../../src/core/basis/background";
import { WORKSPACE_CORPUS } from "../../src/core/basis/corpus";
import { readGguf, readTensor } from "../../src/core/gguf/reader";
import { distillInProcess, type BasisJobOptions } from "../../src/engine/basisJobClient";
import type { DistillOptions, DistillProgress, DistillReport } from "../../src/engine/distill";
import type { GenerateParams, LoadParams } from "../../src/engine/protocol";
import { SoupEngine } from "../../src/engine/soupEngine";
import { SHARED_MODELS } from "../support/engine";

const REPO = path.resolve(__dirname, "../..");
const TINYCODER = path.join(SHARED_MODELS, "tinycoder", "tinycoder.gguf");
const PACK = path.join(REPO, "models/default-pack.json");
const EXPERTS = ["concise", "commented"];
const processOptions = (o: Partial<BasisJobOptions> = {}): BasisJobOptions => ({ entry: path.join(REPO, "src/engine/basisJobProcess.ts"), execArgv: ["--import", "tsx"], ...o });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** dW = B A of a head adapter, as n_vocab x n_embd values. */
async function headDelta(file: string): Promise<Float64Array> {
  const g = await readGguf(file);
  const a = await readTensor(g, "output.weight.lora_a");
  const b = await readTensor(g, "output.weight.lora_b");
  const aInfo = g.tensors.find((t) => t.name === "output.weight.lora_a")!;
  const [nEmbd, rank] = aInfo.dims.map(Number);
  const nVocab = b.length / rank;
  const dw = new Float64Array(nVocab * nEmbd);
  for (let t = 0; t < nVocab; t++) for (let q = 0; q < rank; q++) for (let x = 0; x < nEmbd; x++) dw[t * nEmbd + x] += b[t * rank + q] * a[q * nEmbd + x];
  return dw;
}

function relativeDifference(x: Float64Array, y: Float64Array): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    d += (x[i] - y[i]) ** 2;
    n += x[i] ** 2;
  }
  return Math.sqrt(d / n);
}

describe("background distillation (tinycoder, real llama.cpp, forked job)", function () {
  this.timeout(900_000);
  let dir: string;
  let options: DistillOptions;
  let straight: DistillReport;
  before(async function () {
    if (!existsSync(TINYCODER)) {
      console.log(`      skipped: ${TINYCODER} not present`);
      this.skip();
    }
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "background-distill-it-"));
    const workspace = path.join(dir, "workspace");
    await fs.cp(path.join(REPO, "src/core/basis"), path.join(workspace, "src"), { recursive: true });
    // The background job's own settings, smaller: 12 windows.
    options = {
      modelPath: TINYCODER,
      packPath: PACK,
      corpus: workspace,
      corpusFilter: WORKSPACE_CORPUS,
      outDir: path.join(dir, "straight"),
      cacheDir: path.join(dir, "cache-straight"),
      only: EXPERTS,
      ...BACKGROUND_DISTILL,
      positions: 96,
      threads: 1,
    };
    straight = await distillInProcess(options, processOptions());
  });
  after(() => dir && fs.rm(dir, { recursive: true, force: true }));

  it("pauses (no progress while paused), is interrupted, resumes from its cache and ends with the same head adapters", async () => {
    const interrupted = { ...options, outDir: path.join(dir, "resumed"), cacheDir: path.join(dir, "cache-resumed") };
    const windows = 96 / BACKGROUND_DISTILL.perWindow;
    const ac = new AbortController();
    const seen: DistillProgress[] = [];
    let control: ((m: "pause" | "resume") => void) | undefined;
    let pausedAt = -1;
    let duringPause = 0;
    const run = distillInProcess(
      interrupted,
      processOptions({
        signal: ac.signal,
        lowPriority: true,
        onControl: (c) => (control = c),
        onProgress: (p) => {
          seen.push(p);
          if (pausedAt >= 0) duringPause++;
          if (p.stage === "collect" && p.done === 2 && pausedAt < 0) {
            pausedAt = seen.length;
            control!("pause");
            // Held for a while: at most the window in flight when the pause arrived may still report.
            void sleep(1500).then(() => {
              assert.ok(duringPause <= 1, `${duringPause} windows reported while paused`);
              pausedAt = -2;
              control!("resume");
            });
          }
          if (p.stage === "collect" && p.done === 5) ac.abort();
        },
      }),
    );
    await assert.rejects(run, (e: Error & { code?: string }) => e.code === "cancelled");
    assert.equal(pausedAt, -2, "the pause was taken and released");
    assert.ok(seen.filter((p) => p.stage === "collect").length >= 5);
    await assert.rejects(fs.access(path.join(interrupted.outDir, "pack.json")), "an interrupted run writes no pack");

    const resumed = await distillInProcess(interrupted, processOptions());
    assert.ok(resumed.windowsFromCache >= 5 && resumed.windowsFromCache < windows, `windows from the cache: ${resumed.windowsFromCache}`);
    assert.deepEqual(resumed.positions, straight.positions);
    for (const [k, e] of resumed.experts.entries()) {
      const s = straight.experts[k];
      assert.equal(e.id, s.id);
      const diff = relativeDifference(await headDelta(s.file), await headDelta(e.file));
      assert.ok(diff < 1e-3, `${e.id}: head adapter differs from the uninterrupted one by ${diff.toExponential(2)} (relative)`);
      assert.ok(Math.abs(e.adapter.kl - s.adapter.kl) <= 1e-4 + 1e-3 * s.adapter.kl, `${e.id}: held-out KL ${e.adapter.kl} vs ${s.adapter.kl}`);
    }
  });

  it("serves the heads to parameter souping while explicit souping keeps the prompted experts", async () => {
    const heads = Object.fromEntries(straight.experts.map((e) => [e.id, e.file]));
    const load = async (basis: LoadParams["basis"]) => {
      const engine = new SoupEngine();
      await engine.load({ modelPath: TINYCODER, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 512, basis }, () => {});
      return engine;
    };
    const hybrid = await load({ kind: "pack", path: PACK, heads });
    const adapters = await load({ kind: "pack", path: straight.pack });
    const signal = new AbortController().signal;
    const weights = { concise: 1.5, commented: 1 };
    const prompt = { kind: "fim" as const, prefix: "function total(items) {\n  let sum = 0;\n", suffix: "\n}\n", language: "javascript" };
    const gen = (e: SoupEngine, mode: "parameter" | "explicit") => e.generate({ prompt, mode, weights, maxTokens: 24, temperature: 0 } as GenerateParams, signal, () => {});
    try {
      const status = await hybrid.status();
      const kinds = Object.fromEntries(status.basis!.policies.map((p) => [p.id, [p.kind, p.head ?? false]]));
      assert.deepEqual(kinds.concise, ["prompted", true]);
      assert.deepEqual(kinds.typed, ["prompted", false]);
      // Parameter souping applies the same head adapters as the distilled pack does: the same greedy text.
      const viaHeads = await gen(hybrid, "parameter");
      assert.equal(viaHeads.text, (await gen(adapters, "parameter")).text);
      // Explicit souping still runs the prompted experts, which a head adapter only approximates.
      const explicit = await gen(hybrid, "explicit");
      assert.ok(explicit.features && Object.keys(explicit.features).includes("concise"));
      // An expert without a head cannot be souped in the parameters: a clear message, not a wrong answer.
      await assert.rejects(hybrid.generate({ prompt, mode: "parameter", weights: { typed: 1 }, maxTokens: 4, temperature: 0 } as GenerateParams, signal, () => {}), /prompted expert "typed"/);
    } finally {
      await hybrid.unload();
      await adapters.unload();
    }
  });

  it("refuses heads for policies that are not prompted experts of the pack, naming them", async () => {
    const engine = new SoupEngine();
    await assert.rejects(
      engine.load({ modelPath: TINYCODER, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 256, basis: { kind: "pack", path: PACK, heads: { nosuch: straight.experts[0].file } } }, () => {}),
      /head adapters given for nosuch/,
    );
  });
});
