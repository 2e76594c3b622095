// Models quantized by llama.cpp's own llama-quantize: every tensor we dequantize equals ggml's dequantize_row_*
// bit for bit and lies within the type's error of the F32 original, and `soup gguf merge`, `soup basis diagnose`
// and `soup distill` work on the types users download. Skips when the llama.cpp tools are not built.
import * as assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ggufCommand } from "../../src/cli/gguf";
import { readGguf, readTensor, readTensorBytes } from "../../src/core/gguf/reader";
import { writeSyntheticAdapter, writeSyntheticModel, type SyntheticModelOptions } from "../../src/core/gguf/synthetic";
import { elementCount, GgmlType } from "../../src/core/gguf/types";
import { diagnosePack } from "../../src/engine/diagnose";
import { distillBasis } from "../../src/engine/distill";
import { dequantRef, dequantRefBinary, execFileAsync, llamaToolsBin } from "../support/llamaTools";

// Rows of 256 so that llama-quantize really uses the k-quants (it falls back to other types for shorter rows).
const MODEL: SyntheticModelOptions = { seed: 5, nEmbd: 256, nLayer: 1, nHead: 4, nFf: 512, contextLength: 512, weightType: "f32" };

/** llama-quantize file types checked, and the types users download among them (merge, diagnose, distill). */
const FILE_TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"];
const DOWNLOADED = ["Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"];

// Largest relative RMS error ||dequantized - original|| / ||original|| accepted per tensor type, for these
// Gaussian weights: about 1.5x what was measured (measured in the test's output), so a wrong layout (errors
// near 1) or a wrong scale fails while the quantizer's own rounding passes.
const MAX_REL_RMS: Partial<Record<GgmlType, number>> = {
  [GgmlType.Q8_0]: 0.006,
  [GgmlType.Q6_K]: 0.015,
  [GgmlType.Q5_0]: 0.05,
  [GgmlType.Q5_1]: 0.05,
  [GgmlType.Q5_K]: 0.04,
  [GgmlType.Q4_0]: 0.1,
  [GgmlType.Q4_1]: 0.1,
  [GgmlType.Q4_K]: 0.08,
  [GgmlType.IQ4_NL]: 0.08,
  [GgmlType.IQ4_XS]: 0.08,
  [GgmlType.Q3_K]: 0.2,
  [GgmlType.Q2_K]: 0.45,
};

describe("models quantized by llama-quantize (real llama.cpp)", function () {
  this.timeout(900_000);
  let dir: string;
  let source: string;
  let ref: string;
  const files: Record<string, string> = {};

  before(async function () {
    const tools = llamaToolsBin();
    const dq = tools.path ? dequantRefBinary() : tools;
    if (!tools.path || !dq.path) {
      console.log(`      (skipped: ${dq.why || tools.why})`);
      this.skip();
    }
    ref = dq.path!;
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "soup-quant-"));
    source = path.join(dir, "f32.gguf");
    await writeSyntheticModel(source, MODEL);
    for (const type of FILE_TYPES) {
      files[type] = path.join(dir, `${type}.gguf`);
      await execFileAsync(path.join(tools.path!, "llama-quantize"), [source, files[type], type, "1"], { maxBuffer: 1 << 24 });
    }
  });
  after(() => dir && fs.rm(dir, { recursive: true, force: true }));

  it("dequantizes every tensor of every type bit for bit as ggml, within the type's error of the F32 original", async () => {
    const original = await readGguf(source);
    const worst = new Map<string, number>();
    const seen = new Set<GgmlType>();
    for (const type of FILE_TYPES) {
      const file = await readGguf(files[type]);
      for (const info of file.tensors) {
        if (info.type === GgmlType.F32) continue;
        seen.add(info.type);
        const count = elementCount(info.dims);
        const ours = await readTensor(file, info.name);
        const theirs = await dequantRef(ref, info.type, count, await readTensorBytes(file, info.name));
        const a = new Uint32Array(ours.buffer);
        const b = new Uint32Array(theirs.buffer);
        for (let i = 0; i < count; i++) {
          if (a[i] !== b[i]) assert.fail(`${type} ${info.name} (${GgmlType[info.type]}) value ${i}: ${ours[i]} but ggml gives ${theirs[i]}`);
        }
        const x = await readTensor(original, info.name);
        let err = 0;
        let norm = 0;
        for (let i = 0; i < count; i++) {
          err += (ours[i]! - x[i]!) ** 2;
          norm += x[i]! ** 2;
        }
        const rel = Math.sqrt(err / norm);
        const key = GgmlType[info.type]!;
        worst.set(key, Math.max(worst.get(key) ?? 0, rel));
        const limit = MAX_REL_RMS[info.type];
        assert.ok(limit !== undefined, `${type} ${info.name}: no tolerance for ${key}`);
        assert.ok(rel <= limit, `${type} ${info.name} (${key}): relative RMS error ${rel.toFixed(4)} > ${limit}`);
      }
    }
    console.log(`      worst relative RMS error per type: ${[...worst].map(([t, e]) => `${t} ${e.toFixed(4)}`).join(", ")}`);
    for (const t of [GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS]) {
      assert.ok(seen.has(t), `no file had a ${GgmlType[t]} tensor`);
    }
    // The case users hit: output.weight of a Q4_K_M file is Q6_K.
    const q4km = await readGguf(files.Q4_K_M);
    assert.equal(q4km.tensors.find((t) => t.name === "output.weight")!.type, GgmlType.Q6_K);
  });

  it("soup gguf merge: adapters and full-model experts on Q4_0, Q4_K_M, Q5_K_M, Q6_K and Q8_0 bases", async () => {
    const adapter = path.join(dir, "head.gguf");
    await writeSyntheticAdapter(adapter, { seed: 3, base: MODEL, target: "head", rank: 4 });
    for (const type of DOWNLOADED) {
      const out = path.join(dir, `merged-${type}.gguf`);
      const lines: string[] = [];
      const expert = type === "Q8_0" ? files.Q6_K : files.Q8_0;
      const rc = await ggufCommand(["merge", "--base", files[type], "--out", out, "--type", "f32", `${adapter}=1`, `${expert}=0.5`], (l) => lines.push(l));
      assert.equal(rc, 0, lines.join("\n"));
      // Merged = base + 0.5 (expert - base) + adapter delta; check one tensor the adapter does not touch.
      const [merged, base, other] = await Promise.all([readGguf(out), readGguf(files[type]), readGguf(expert)]);
      const name = "blk.0.ffn_down.weight";
      const [m, b, e] = await Promise.all([readTensor(merged, name), readTensor(base, name), readTensor(other, name)]);
      for (let i = 0; i < m.length; i += 97) assert.ok(Math.abs(m[i]! - (b[i]! + 0.5 * (e[i]! - b[i]!))) < 1e-6, `${type} ${name}[${i}]`);
    }
  });

  it("soup basis diagnose and soup distill run on Q4_0, Q4_K_M, Q5_K_M, Q6_K and Q8_0 models", async () => {
    const adapter = path.join(dir, "head-diag.gguf");
    await writeSyntheticAdapter(adapter, { seed: 4, base: MODEL, target: "head", rank: 4 });
    const corpus = path.join(dir, "corpus.txt");
    await fs.writeFile(corpus, (await fs.readFile(path.resolve(__dirname, "../../src/core/gguf/codec.ts"), "utf8")).slice(0, 6000));
    const packPath = path.join(dir, "pack.json");
    await fs.writeFile(
      packPath,
      JSON.stringify({
        id: "q",
        version: "1",
        label: "Q",
        policies: [
          { id: "head", label: "Head", description: "A head adapter", kind: "adapter", path: adapter, default: 0 },
          { id: "terse", label: "Terse", description: "A prompted expert", kind: "prompted", chat: "Be terse.", fim: "// terse", default: 0 },
        ],
      }),
    );
    const signal = new AbortController().signal;
    for (const type of DOWNLOADED) {
      const d = await diagnosePack({ modelPath: files[type], packPath, calibration: corpus, responses: 8, threads: 1 }, signal);
      assert.equal(d.responses ?? 8, 8);
      assert.ok(Number.isFinite(d.effectiveRank), `${type}: effective rank ${d.effectiveRank}`);
      const report = await distillBasis(
        { modelPath: files[type], packPath, corpus, outDir: path.join(dir, `distill-${type}`), rank: 2, positions: 48, window: 16, perWindow: 8, refineSteps: 5, threads: 1 },
        signal,
        () => {},
      );
      assert.equal(report.experts.length, 1, type);
      const e = report.experts[0]!;
      assert.ok(Number.isFinite(e.adapter.kl) && Number.isFinite(e.reference.kl), `${type}: ${JSON.stringify(e)}`);
      await fs.access(e.file);
    }
  });
});
