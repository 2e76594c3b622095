import assert from "node:assert/strict";
import { describeBackend, distillOffer, distillStatus, engineStatus, loadFraction } from "../../../src/core/editor/status";
import type { BackendInfo } from "../../../src/shared/generation";

const cpu: BackendInfo = { backend: "cpu", gpuLayers: 0, totalLayers: 8, threads: 1 };

describe("engine status text", () => {
  it("names the backend: CPU threads, or GPU layers offloaded", () => {
    assert.equal(describeBackend(cpu), "CPU 1 thread");
    assert.equal(describeBackend({ ...cpu, threads: 6 }), "CPU 6 threads");
    assert.equal(describeBackend({ backend: "cuda", gpuLayers: 33, totalLayers: 33, threads: 4 }), "CUDA 33/33 layers");
  });

  it("shows ready with the backend and, once measured, tokens per second", () => {
    assert.equal(engineStatus({ kind: "ready", backend: cpu, tokensPerSecond: null }).text, "$(sparkle) Soup: CPU 1 thread");
    assert.equal(engineStatus({ kind: "ready", backend: cpu, tokensPerSecond: 41.6 }).text, "$(sparkle) Soup: CPU 1 thread · 42 tok/s");
  });

  it("shows loading as a whole percentage, clamped", () => {
    assert.match(engineStatus({ kind: "loading", fraction: 0.456 }).text, /loading 46%$/);
    assert.match(engineStatus({ kind: "loading", fraction: 1.2 }).text, /loading 100%$/);
  });

  it("keeps an error's message for the tooltip and points to the log", () => {
    const s = engineStatus({ kind: "error", message: "model.gguf: file not found" });
    assert.match(s.text, /error/);
    assert.match(s.tooltip, /model\.gguf: file not found[\s\S]*engine log/);
  });

  it("shows a server pool's health, with why a server is down in the tooltip", () => {
    assert.equal(engineStatus({ kind: "servers", up: 3, total: 3, problems: [] }).text, "$(sparkle) Soup: server 3/3 up");
    const some = engineStatus({ kind: "servers", up: 2, total: 3, problems: ["server http://b:8080: /completion: connection refused"] });
    assert.equal(some.text, "$(warning) Soup: server 2/3 up");
    assert.match(some.tooltip, /http:\/\/b:8080: \/completion: connection refused/);
    assert.equal(engineStatus({ kind: "servers", up: 0, total: 2, problems: [] }).text, "$(error) Soup: no server up");
  });

  it("counts the model as most of a load and the basis as the rest", () => {
    assert.equal(loadFraction("model", 0), 0);
    assert.equal(loadFraction("model", 1), 0.9);
    assert.equal(loadFraction("basis", 1), 1);
    assert.ok(loadFraction("basis", 0) >= loadFraction("model", 1));
  });
});

describe("background distillation status text", () => {
  const at = (phase: Parameters<typeof distillStatus>[0]["phase"], fraction = 0.372, etaSeconds: number | null = 125) => distillStatus({ phase, fraction, etaSeconds, reason: "out of memory", outcome: { heads: 8, experts: 8 } });

  it("is hidden while there is nothing to distill", () => {
    assert.equal(at("idle"), null);
  });

  it("shows the whole percentage done and, in the tooltip, the time left and what completions use meanwhile", () => {
    const running = at("running")!;
    assert.equal(running.text, "$(sync~spin) Soup: distill 37%");
    assert.match(running.tooltip, /about 2m05s of work left/);
    assert.match(running.tooltip, /prompted experts/);
    assert.doesNotMatch(at("running", 0.5, null)!.tooltip, /left/);
    assert.equal(at("paused")!.text, "$(debug-pause) Soup: distill 37%");
    assert.equal(at("waiting", 0)!.text, "$(clock) Soup: distill 0%");
  });

  it("says when it is done, stopped (resumable) or failed (with why)", () => {
    assert.equal(at("ready")!.text, "$(zap) Soup: distilled");
    assert.match(at("ready")!.tooltip, /Chat keeps the prompted experts/);
    assert.match(at("stopped")!.tooltip, /37%.*Click to resume/);
    assert.match(at("failed")!.tooltip, /out of memory/);
  });

  it("says how many experts got a head that beat the base model, and never says distilled when none did", () => {
    const ready = (heads: number) => distillStatus({ phase: "ready", fraction: 1, etaSeconds: null, reason: "", outcome: { heads, experts: 8 } })!;
    assert.equal(ready(3).text, "$(zap) Soup: distilled 3/8");
    assert.match(ready(3).tooltip, /3 of the 8 head adapters.*keep their prompts/);
    assert.equal(ready(0).text, "$(info) Soup: not distilled");
    assert.match(ready(0).tooltip, /none is used.*prompted experts/);
  });
});

describe("the offer after a manual distillation", () => {
  const expert = (base: number, head: number, top1 = 0.5) => ({ reference: { kl: base }, adapter: { kl: head, top1 } });

  it("says how many heads beat the base model on held-out code, with the mean top-1 agreement", () => {
    const offer = distillOffer("Default", [expert(0.03, 0.02, 0.6), expert(0.03, 0.04, 0.4)]);
    assert.equal(offer.warn, false);
    assert.match(offer.text, /2 experts of "Default" distilled into head adapters; 1 of 2 come closer to their expert than the base model/);
    assert.match(offer.text, /top-1 agreement 50%/);
    assert.match(offer.text, /plain-model speed/);
  });

  it("warns when no head carries its expert's style", () => {
    const offer = distillOffer("Default", [expert(0.03, 0.06), expert(0.02, 0.02)]);
    assert.equal(offer.warn, true);
    assert.match(offer.text, /0 of 2 come closer/);
    assert.match(offer.text, /not personalized/);
  });
});
