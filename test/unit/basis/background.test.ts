import * as assert from "node:assert/strict";
import { initialSchedule, stepSchedule, type ScheduleAction, type ScheduleEvent, type ScheduleState } from "../../../src/core/basis/background";

const QUIET = 1000;

/** Feeds events at the given times; returns the final state and every action, in order, with its time. */
function run(events: [number, ScheduleEvent][], start: ScheduleState = initialSchedule(true)) {
  let state = start;
  const log: [number, ScheduleAction][] = [];
  for (const [now, e] of events) {
    const r = stepSchedule(state, e, now, QUIET);
    state = r.state;
    for (const a of r.actions) log.push([now, a]);
  }
  return { state, log, types: log.map(([, a]) => a.type) };
}

const target = (key: string | null): ScheduleEvent => ({ type: "target", target: key === null ? { key, reason: "no model is set" } : { key } });

describe("background distillation schedule", () => {
  it("has nothing to do without a target, and says why", () => {
    const r = run([[0, target(null)]]);
    assert.equal(r.state.phase, "idle");
    assert.equal(r.state.reason, "no model is set");
    assert.deepEqual(r.types, []);
  });

  it("starts at once when the editor is quiet, and finishes into the head adapters", () => {
    const r = run([
      [0, target("k1")],
      [10, { type: "progress", fraction: 0.5, etaSeconds: 30 }],
      [20, { type: "finished", heads: 2, experts: 3 }],
    ]);
    assert.deepEqual(r.types, ["start", "use-heads"]);
    assert.equal(r.state.phase, "ready");
    assert.deepEqual(r.state.outcome, { heads: 2, experts: 3 });
    assert.equal(r.state.fraction, 1);
  });

  it("pauses the moment a request starts or the person types, and continues only after a quiet spell", () => {
    const r = run([
      [0, target("k1")],
      [100, { type: "request", delta: 1 }],
      [900, { type: "request", delta: -1 }],
      [1200, { type: "typed" }],
      [1500, { type: "tick" }],
      [2300, { type: "tick" }],
    ]);
    assert.deepEqual(
      r.log.map(([t, a]) => `${t}:${a.type}`),
      // The request ends at 900 with no keystroke since 0: quiet, so it continues; the keystroke at 1200 pauses it
      // and asks to be woken at 1200 + QUIET; the tick at 1500 is too early, the one at 2300 continues.
      ["0:start", "100:pause", "900:continue", "1200:pause", "1200:wake", "1500:wake", "2300:continue"],
    );
    assert.equal(r.state.phase, "running");
  });

  it("a new target waits for quiet after typing, and asks to be woken when it comes", () => {
    const r = run([
      [0, { type: "typed" }],
      [10, target("k1")],
    ]);
    assert.equal(r.state.phase, "waiting");
    assert.deepEqual(r.log, [[10, { type: "wake", at: QUIET }]]);
    const later = run([[QUIET, { type: "tick" }]], r.state);
    assert.deepEqual(later.types, ["start"]);
  });

  it("does not wake itself while a request is in flight: the request's end does", () => {
    const r = run([
      [0, { type: "request", delta: 1 }],
      [10, target("k1")],
      [20, { type: "typed" }],
    ]);
    assert.equal(r.state.phase, "waiting");
    assert.deepEqual(r.types, []);
    assert.deepEqual(run([[2000, { type: "request", delta: -1 }]], r.state).types, ["start"]);
  });

  it("resumes from a saved record: ready heads at once, a stopped job stays stopped, a partial one starts with its fraction", () => {
    const ready = run([[0, { type: "target", target: { key: "k1" }, saved: { status: "ready", fraction: 1, heads: { a: "/h/a.gguf" }, experts: 3 } }]]);
    assert.equal(ready.state.phase, "ready");
    assert.deepEqual(ready.state.outcome, { heads: 1, experts: 3 });
    assert.deepEqual(ready.types, ["use-heads"]);
    const stopped = run([[0, { type: "target", target: { key: "k1" }, saved: { status: "stopped", fraction: 0.4, heads: {}, experts: 0 } }]]);
    assert.equal(stopped.state.phase, "stopped");
    assert.deepEqual(stopped.types, []);
    const partial = run([[0, { type: "target", target: { key: "k1" }, saved: { status: "partial", fraction: 0.4, heads: {}, experts: 0 } }]]);
    assert.equal(partial.state.phase, "running");
    assert.equal(partial.state.fraction, 0.4);
    assert.deepEqual(partial.types, ["start"]);
  });

  it("a changed key cancels the job or drops the heads of the old one, then starts the new one", () => {
    const running = run([
      [0, target("k1")],
      [10, target("k2")],
    ]);
    assert.deepEqual(running.types, ["start", "cancel", "start"]);
    assert.equal(running.state.key, "k2");
    const ready = run([
      [0, target("k1")],
      [10, { type: "finished", heads: 2, experts: 3 }],
      [20, target(null)],
    ]);
    assert.deepEqual(ready.types, ["start", "use-heads", "drop-heads"]);
    assert.equal(ready.state.phase, "idle");
    assert.equal(ready.state.outcome, null);
    // The same key again changes nothing.
    assert.deepEqual(run([[30, target("k1")]], run([[0, target("k1")]]).state).types, []);
  });

  it("stop cancels and saves; resume saves and starts again; both are ignored where they mean nothing", () => {
    const r = run([
      [0, target("k1")],
      [10, { type: "progress", fraction: 0.3, etaSeconds: 60 }],
      [20, { type: "stop" }],
    ]);
    assert.deepEqual(r.log.slice(1), [
      [20, { type: "cancel" }],
      [20, { type: "save", status: "stopped" }],
    ]);
    assert.equal(r.state.phase, "stopped");
    assert.equal(r.state.fraction, 0.3);
    // A late progress report of the cancelled job does not move it.
    const late = run([[25, { type: "progress", fraction: 0.4, etaSeconds: 50 }]], r.state);
    assert.equal(late.state.fraction, 0.3);
    const resumed = run([[30, { type: "resume" }]], r.state);
    assert.deepEqual(resumed.types, ["save", "start"]);
    assert.equal(resumed.state.phase, "running");
    assert.deepEqual(run([[0, { type: "resume" }]], resumed.state).types, []);
    assert.deepEqual(run([[0, { type: "stop" }]], initialSchedule(true)).types, []);
  });

  it("a failure is kept with its message until resume; a late outcome of a cancelled job is ignored", () => {
    const failed = run([
      [0, target("k1")],
      [10, { type: "failed", message: "out of memory" }],
    ]);
    assert.equal(failed.state.phase, "failed");
    assert.equal(failed.state.reason, "out of memory");
    assert.deepEqual(run([[20, { type: "resume" }]], failed.state).types, ["save", "start"]);
    const stopped = run([[20, { type: "stop" }]], failed.state);
    assert.equal(stopped.state.phase, "stopped");
    assert.deepEqual(run([[30, { type: "finished", heads: 2, experts: 3 }]], stopped.state).types, []);
  });

  it("turning the setting off cancels and drops the heads; on again picks the saved record up", () => {
    const off = run([
      [0, target("k1")],
      [10, { type: "enabled", enabled: false }],
    ]);
    assert.deepEqual(off.types, ["start", "cancel"]);
    assert.equal(off.state.phase, "idle");
    assert.match(off.state.reason, /turned off/);
    // While off, a new target is remembered but nothing runs.
    const moved = run([[20, target("k2")]], off.state);
    assert.deepEqual(moved.types, []);
    assert.equal(moved.state.key, "k2");
    const on = run([[30, { type: "enabled", enabled: true, saved: { status: "ready", fraction: 1, heads: { a: "/h/a.gguf" }, experts: 3 } }]], moved.state);
    assert.deepEqual(on.types, ["use-heads"]);
  });

  it("counts overlapping requests and never below zero", () => {
    const r = run([
      [0, target("k1")],
      [10, { type: "request", delta: 1 }],
      [20, { type: "request", delta: 1 }],
      [30, { type: "request", delta: -1 }],
      [5000, { type: "tick" }],
    ]);
    assert.equal(r.state.phase, "paused", "one request is still in flight");
    const done = run([
      [5010, { type: "request", delta: -1 }],
      [5020, { type: "request", delta: -1 }],
    ], r.state);
    assert.equal(done.state.busy, 0);
    assert.deepEqual(done.types, ["continue"]);
  });
});
