import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FeedbackRecorder, MAX_FAILURES, type TextFeedback } from "../../../src/core/soup/recorder";
import type { ScoreParams, ScoreResult } from "../../../src/shared/generation";
import { FakeGenerator, FakeWeights, MemoryLog } from "../../support/fakes";

const prompt = (prefix: string) => ({ kind: "fim" as const, prefix, suffix: "" });
const rating = (text: string, up = true): TextFeedback => ({ type: "rating", up, surface: "completion", signal: "accepted", response: { text, prompt: prompt(`p-${text}`) } });

describe("FeedbackRecorder", () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "soup-recorder-"));
    file = path.join(dir, "ws", "waiting-feedback.json");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** An engine that can be switched off ("down": every score throws, as a pool with no server up does). */
  function setup(o: { score?: (p: ScoreParams) => ScoreResult | null } = {}) {
    const state = { down: false, unloaded: false };
    const generator = new FakeGenerator([{ id: "a", kind: "adapter" }, { id: "b", kind: "adapter" }], async () => null, (p) => {
      if (state.down) throw new Error("no server of the pool answers");
      if (state.unloaded) return null;
      return o.score?.(p) ?? { features: { a: p.response.length, b: -1 }, tokens: 2 };
    });
    const weights = new FakeWeights(["a", "b"]);
    const log = new MemoryLog();
    const open = () => new FeedbackRecorder({ generator, weights, log, file, retryMs: 0, engineUp: () => !state.down && !state.unloaded });
    return { state, generator, weights, log, open };
  }

  it("scores and records at once when the engine answers, writing no file", async () => {
    const { weights, open } = setup();
    const r = open();
    assert.equal(await r.record(rating("abc")), "recorded");
    assert.deepEqual(weights.recorded, [{ event: { type: "rating", up: true, surface: "completion", signal: "accepted", features: [3, -1] }, text: "abc" }]);
    assert.equal(fs.existsSync(file), false);
  });

  it("uses phi from generation without asking the engine", async () => {
    const { state, generator, weights, open } = setup();
    state.down = true;
    const r = open();
    const done = await r.record({ type: "rating", up: false, surface: "chat", response: { text: "x", features: [0.5, 0.25] } });
    assert.equal(done, "recorded");
    assert.equal(generator.scored.length, 0);
    assert.deepEqual(weights.recorded[0]!.event, { type: "rating", up: false, surface: "chat", features: [0.5, 0.25] });
  });

  it("keeps feedback on disk while every server is down, survives a restart, and records it in order once one answers", async () => {
    const { state, weights, log, open } = setup();
    state.down = true;
    const first = open();
    assert.equal(await first.record(rating("one")), "waiting");
    assert.equal(await first.record(rating("two", false)), "waiting");
    assert.equal(weights.recorded.length, 0);
    assert.equal(first.waitingCount, 2);
    assert.ok(log.lines.some((l) => l.startsWith("warn: feedback kept until the engine can score it") && l.includes(file)), log.lines.join("\n"));
    first.dispose();

    // The window is reloaded while the servers are still down: the feedback is read back, nothing is lost.
    const second = open();
    assert.equal(second.waitingCount, 2);
    await second.retry();
    assert.equal(weights.recorded.length, 0);

    state.down = false;
    // New feedback goes behind what waits: the posterior sees events in the order they were given.
    assert.equal(await second.record(rating("three")), "recorded");
    assert.deepEqual(weights.recorded.map((x) => x.text), ["one", "two", "three"]);
    assert.deepEqual(weights.recorded.map((x) => (x.event.type === "rating" ? x.event.up : null)), [true, false, true]);
    assert.equal(second.waitingCount, 0);
    assert.equal(fs.existsSync(file), false, "the file goes once nothing waits");
  });

  it("waits when no model is loaded (the engine answers null) just as when it is down", async () => {
    const { state, weights, open } = setup();
    state.unloaded = true;
    const r = open();
    assert.equal(await r.record({ type: "choice", winner: { text: "w", features: [1, 1] }, loser: { text: "lo", prompt: prompt("p") } }), "waiting");
    state.unloaded = false;
    await r.retry();
    assert.deepEqual(weights.recorded, [{ event: { type: "choice", winner: [1, 1], loser: [2, -1] }, text: "w" }]);
  });

  it("drops an item the engine keeps rejecting while up, so it cannot block the rest", async () => {
    const { state, weights, log, open } = setup({
      score: (p) => {
        if (p.response === "poison") throw new Error("prompt too long");
        return { features: { a: 1, b: 2 }, tokens: 1 };
      },
    });
    state.down = true;
    const r = open();
    await r.record(rating("poison"));
    await r.record(rating("fine"));
    state.down = false;
    for (let i = 0; i < MAX_FAILURES; i++) await r.retry();
    assert.deepEqual(weights.recorded.map((x) => x.text), ["fine"]);
    assert.equal(r.waitingCount, 0);
    assert.ok(log.lines.some((l) => /dropped: the engine, up, could not score it 3 times/.test(l)), log.lines.join("\n"));
  });

  it("while the engine is away: counts no failures, and a round stops at the first text it cannot score", async () => {
    const { state, generator, open } = setup();
    state.down = true;
    const r = open();
    for (const t of ["a", "b", "c"]) await r.record(rating(t));
    const calls = generator.scored.length;
    for (let i = 0; i < MAX_FAILURES + 2; i++) await r.retry();
    assert.equal(r.waitingCount, 3);
    assert.equal(generator.scored.length - calls, MAX_FAILURES + 2, "one score request a round, not one per waiting text");
  });

  it("sets a damaged waiting file aside, naming it, and keeps the readable events", async () => {
    const { weights, log, open } = setup();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const good = { t: 1, failures: 0, feedback: rating("kept") };
    fs.writeFileSync(file, JSON.stringify({ v: 1, waiting: [good, { t: 2, failures: 0, feedback: { type: "rating", up: "yes" } }] }));
    const r = open();
    assert.equal(r.waitingCount, 1);
    assert.ok(log.lines.some((l) => l.includes(file) && l.includes("waiting[1]") && l.includes(".corrupt-")), log.lines.join("\n"));
    assert.equal(fs.readdirSync(path.dirname(file)).filter((f) => f.includes(".corrupt-")).length, 1);
    await r.retry();
    assert.deepEqual(weights.recorded.map((x) => x.text), ["kept"]);

    fs.writeFileSync(file, "{not json");
    const again = open();
    assert.equal(again.waitingCount, 0);
    assert.ok(log.lines.some((l) => l.includes(file) && l.includes("not valid JSON")));
  });

  it("tries again on its own timer while feedback waits", async () => {
    const { state, weights, generator, log } = setup();
    state.down = true;
    const r = new FeedbackRecorder({ generator, weights, log, file, retryMs: 20, engineUp: () => !state.down });
    await r.record(rating("later"));
    state.down = false;
    for (let i = 0; i < 50 && weights.recorded.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
    r.dispose();
    assert.deepEqual(weights.recorded.map((x) => x.text), ["later"]);
  });
});
