// The basis job process as the extension runs it: forked (the TypeScript entry through tsx, no build), progress
// over IPC, cancel mid-way, a rerun resuming from the cache, a valid pack at the end; and diagnostics in the same
// kind of process.
import * as assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { WORKSPACE_CORPUS } from "../../src/core/basis/corpus";
import { checkPackAgainstModel, loadBasisPack } from "../../src/core/basis/pack";
import { checkBasisCompatibility } from "../../src/core/gguf/compat";
import type { DistillProgress } from "../../src/engine/distill";
import { diagnoseInProcess, distillInProcess, type BasisJobOptions } from "../../src/engine/basisJobClient";
import { tinyModel } from "../support/engine";

const REPO = path.resolve(__dirname, "../..");
const processOptions = (o: Partial<BasisJobOptions> = {}): BasisJobOptions => ({
  entry: path.join(REPO, "src/engine/basisJobProcess.ts"),
  execArgv: ["--import", "tsx"],
  ...o,
});

const prompted = (id: string, fim: string) => ({ id, label: id, description: `${id} expert`, kind: "prompted", chat: fim, fim, default: 0 });

describe("basis job process (forked, real llama.cpp on a generated model)", function () {
  this.timeout(600_000);
  let dir: string;
  let workspace: string;
  let packPath: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "distill-process-it-"));
    // A workspace: code to learn from, plus what the filter must leave out.
    workspace = path.join(dir, "workspace");
    await fs.cp(path.join(REPO, "src/core/basis"), path.join(workspace, "src"), { recursive: true });
    await fs.mkdir(path.join(workspace, "node_modules", "dep"), { recursive: true });
    await fs.writeFile(path.join(workspace, "node_modules", "dep", "index.js"), "module.exports = 1;\n");
    packPath = path.join(dir, "pack.json");
    await fs.writeFile(
      packPath,
      JSON.stringify({ id: "ws", version: "1", label: "Workspace", policies: [prompted("terse", "// terse code only\n"), prompted("loud", "// ALL CAPS NAMES EVERYWHERE\n")] }),
    );
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it("reports progress, stops on cancel, resumes from the cache and writes a pack whose adapters fit the model", async () => {
    const model = await tinyModel();
    const options = {
      modelPath: model,
      packPath,
      corpus: workspace,
      corpusFilter: WORKSPACE_CORPUS,
      outDir: path.join(dir, "out"),
      cacheDir: path.join(dir, "cache"),
      rank: 2,
      positions: 96,
      window: 16,
      perWindow: 8,
      refineSteps: 10,
      threads: 1,
    };
    const windows = 96 / 8;
    const ac = new AbortController();
    const seen: DistillProgress[] = [];
    await assert.rejects(
      distillInProcess(
        options,
        processOptions({
          signal: ac.signal,
          onProgress: (p) => {
            seen.push(p);
            if (p.stage === "collect" && p.done === 3) ac.abort();
          },
        }),
      ),
      (e: Error & { code?: string }) => e.code === "cancelled",
    );
    assert.deepEqual(seen.slice(0, 3).map((p) => [p.stage, p.done, p.total]), [["collect", 1, windows], ["collect", 2, windows], ["collect", 3, windows]]);
    assert.ok(seen.every((p) => p.stage === "collect"), "cancelled while collecting");
    await assert.rejects(fs.access(path.join(options.outDir, "pack.json")), "a cancelled run writes no pack");

    const progress: DistillProgress[] = [];
    const report = await distillInProcess(options, processOptions({ onProgress: (p) => progress.push(p) }));
    // The windows finished before the cancel arrived (at least 3, the process may have gone on a little) come from the cache.
    assert.ok(report.windowsFromCache >= 3 && report.windowsFromCache < windows, `windows from the cache: ${report.windowsFromCache}`);
    assert.equal(progress.filter((p) => p.stage === "collect").at(-1)?.cached, report.windowsFromCache);
    assert.deepEqual(progress.filter((p) => p.stage === "fit").map((p) => p.done), [1, 2]);

    const pack = await loadBasisPack(report.pack);
    assert.equal(pack.version, "2");
    assert.deepEqual(pack.policies.map((p) => [p.id, p.kind]), [["terse", "adapter"], ["loud", "adapter"]]);
    const adapters = pack.policies.flatMap((p) => (p.kind === "adapter" ? [{ id: p.id, path: p.path }] : []));
    assert.deepEqual(await checkBasisCompatibility(model, adapters), { ok: true });
    assert.deepEqual(await checkPackAgainstModel(pack, model), []);
  });

  it("diagnoses a pack in a process of its own, and fails with the process's message on a bad pack", async () => {
    const model = await tinyModel();
    const d = await diagnoseInProcess({ modelPath: model, packPath, calibration: workspace, calibrationFilter: WORKSPACE_CORPUS, responses: 8, threads: 1 }, processOptions());
    assert.deepEqual(d.ids, ["terse", "loud"]);
    assert.equal(d.eigenvalues.length, 2);
    assert.ok(d.effectiveRank >= 1 && d.effectiveRank <= 2, `effective rank ${d.effectiveRank}`);
    await assert.rejects(diagnoseInProcess({ modelPath: model, packPath: path.join(dir, "missing.json"), threads: 1 }, processOptions()), /missing\.json/);
    await assert.rejects(diagnoseInProcess({ modelPath: "relative.gguf", packPath, threads: 1 }, processOptions()), /modelPath must be an absolute path/);
  });
});
