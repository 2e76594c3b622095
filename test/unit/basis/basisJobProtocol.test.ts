import * as assert from "node:assert/strict";
import { WORKSPACE_CORPUS } from "../../../src/core/basis/corpus";
import { formatDuration } from "../../../src/core/editor/status";
import { distillFraction, parseToBasisProcess, type ToBasisProcess } from "../../../src/engine/basisJobProtocol";

function rejected(msg: unknown, pattern: RegExp): void {
  const r = parseToBasisProcess(msg);
  if (!("error" in r)) assert.fail(`accepted ${JSON.stringify(r)}`);
  assert.match(r.error, pattern);
}

describe("basis job protocol", () => {
  const distill = { modelPath: "/m/model.gguf", packPath: "/p/pack.json", corpus: "/w", outDir: "/s/out" };

  it("accepts well-formed requests and cancel unchanged", () => {
    const good: ToBasisProcess[] = [
      { type: "cancel", id: 1 },
      { type: "pause", id: 1 },
      { type: "resume", id: 1 },
      { type: "request", id: 1, method: "distill", params: distill },
      {
        type: "request",
        id: 2,
        method: "distill",
        params: { ...distill, corpusFilter: WORKSPACE_CORPUS, rank: 8, positions: 1000, heldOut: 0.2, refineSteps: 0, ridge: 0.1, seed: 0, cacheDir: "/c", threads: 1, gpu: "auto", only: ["concise"] },
      },
      { type: "request", id: 1, method: "diagnose", params: { modelPath: "/m", packPath: "/p", calibration: "/w", calibrationFilter: WORKSPACE_CORPUS, responses: 48, threshold: 0.95, threads: 2 } },
    ];
    for (const m of good) assert.deepEqual(parseToBasisProcess(m), m);
  });

  it("rejects unknown types and kinds, missing, relative, mistyped and extra fields", () => {
    rejected(null, /must be an object/);
    rejected({ type: "command", command: "distill" }, /unknown message type "command"/);
    rejected({ type: "cancel", id: 1, now: true }, /cancel: unexpected field "now"/);
    rejected({ type: "cancel" }, /cancel: id must be an integer/);
    rejected({ type: "request", id: 1, method: "distill" }, /request\.params must be an object/);
    rejected({ type: "request", id: 1, method: "train", params: {} }, /method must be "distill", "diagnose" or "checkModel"/);
    rejected({ type: "request", id: 1, method: "checkModel", params: { modelPath: "m.gguf" } }, /checkModel options: modelPath must be an absolute path/);
    rejected({ type: "request", id: 1, method: "distill", params: { ...distill, outDir: undefined } }, /distill options: outDir is required/);
    rejected({ type: "request", id: 1, method: "distill", params: { ...distill, corpus: "src" } }, /corpus must be an absolute path/);
    rejected({ type: "request", id: 1, method: "distill", params: { ...distill, rank: 0 } }, /rank must be an integer >= 1/);
    rejected({ type: "request", id: 1, method: "distill", params: { ...distill, positions: 10.5 } }, /positions must be an integer/);
    rejected({ type: "request", id: 1, method: "distill", params: { ...distill, heldOut: 1 } }, /heldOut must be a number in \(0, 1\)/);
    rejected({ type: "request", id: 1, method: "distill", params: { ...distill, gpu: "tpu" } }, /gpu must be one of/);
    rejected({ type: "request", id: 1, method: "distill", params: { ...distill, corpusFilter: { extensions: [".ts"] } } }, /corpusFilter maxTotalBytes is required/);
    rejected({ type: "request", id: 1, method: "distill", params: { ...distill, corpusFilter: { extensions: [1], maxTotalBytes: 9 } } }, /corpusFilter extensions must be a list of strings/);
    rejected({ type: "request", id: 1, method: "distill", params: { ...distill, shell: "rm -rf /" } }, /unexpected field "shell"/);
    rejected({ type: "request", id: 1, method: "diagnose", params: { modelPath: "/m" } }, /diagnose options: packPath is required/);
    rejected({ type: "request", id: 1, method: "diagnose", params: { modelPath: "/m", packPath: "/p", outDir: "/o" } }, /unexpected field "outDir"/);
  });

  it("maps progress to one overall fraction and formats times left", () => {
    assert.equal(distillFraction({ stage: "collect", done: 0, total: 10, etaSeconds: null }), 0);
    assert.equal(distillFraction({ stage: "collect", done: 5, total: 10, etaSeconds: 1 }), 0.425);
    assert.equal(distillFraction({ stage: "fit", done: 0, total: 8, etaSeconds: 1 }), 0.85);
    assert.equal(distillFraction({ stage: "fit", done: 8, total: 8, etaSeconds: 0 }), 1);
    assert.deepEqual([0.4, 45, 59.6, 61, 119.6, 3600].map(formatDuration), ["0s", "45s", "1m00s", "1m01s", "2m00s", "60m00s"]);
  });
});
