import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Feedback } from "../../../src/core/adapt/feedback";
import { choleskyJittered } from "../../../src/core/adapt/linalg";
import { SoupPosterior } from "../../../src/core/adapt/posterior";
import { seededRng } from "../../../src/core/adapt/rng";
import { AdaptStore, MAX_LOG_LINE, type LogRecord, type StoreOptions } from "../../../src/core/adapt/store";

const DIMS = 3;
const basis = { id: "coding", version: "1", dims: DIMS };
const WORKSPACE = "file:///project";
const WRITER = path.join(__dirname, "..", "..", "support", "adaptWriter.ts");

function ratings(n: number, seed = 1): Feedback[] {
  const rng = seededRng(seed);
  return Array.from({ length: n }, (): Feedback => {
    const features = [rng.normal(), rng.normal(), rng.normal()];
    return { type: "rating", features, up: features[0]! > 0, surface: "chat" };
  });
}

/** A second window: a process appending through its own store; resolves with its final posterior mean. */
function writer(dir: string, count: number, seed: number, snapshotEvery: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WRITER, dir, WORKSPACE, String(count), String(seed), String(DIMS), String(snapshotEvery)]);
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`writer exited ${code}: ${err}`))));
  });
}

describe("adapt/store under races and hostile files", function () {
  this.timeout(240_000);
  let dir: string;
  let messages: string[];
  const options = (extra: Partial<StoreOptions> = {}): StoreOptions => ({ basis, workspace: WORKSPACE, log: (m) => messages.push(m), ...extra });
  const wsFolder = () => path.join(dir, "workspaces", fs.readdirSync(path.join(dir, "workspaces"))[0]!);
  const logFile = () => path.join(wsFolder(), "events.jsonl");
  /** The valid records in the log, as a reader that knows nothing of the store would count them. */
  const validRecords = (): LogRecord[] =>
    fs.readFileSync(logFile(), "utf8").split("\n").flatMap((l) => {
      try {
        const r = JSON.parse(l) as LogRecord;
        return r && typeof r === "object" && r.event ? [r] : [];
      } catch {
        return [];
      }
    });
  const fit = (events: Feedback[]) => {
    const p = new SoupPosterior({ dims: DIMS });
    p.observeAll(events);
    return p.mean();
  };
  const close = (a: number[], b: number[], tol = 1e-6) => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < tol, `${a} vs ${b}`));

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "soup-adapt-hard-"));
    messages = [];
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reading a log with damaged lines while another process appends loses no record", async () => {
    AdaptStore.open(dir, options()).record(ratings(1)[0]!);
    const appending = writer(dir, 2000, 7, 100_000);
    let opens = 0;
    let done = false;
    void appending.finally(() => (done = true));
    while (!done) {
      // Fresh damage before every open: the old reader rewrote the whole log each time it saw some.
      fs.appendFileSync(logFile(), "not json\n");
      AdaptStore.open(dir, options()).dispose();
      opens++;
      await new Promise(setImmediate);
    }
    await appending;
    assert.ok(opens > 1, `the reader ran ${opens} time(s) during the appends`);
    assert.equal(validRecords().length, 1 + 2000, "records lost");
    AdaptStore.open(dir, options()).dispose();
    assert.equal(AdaptStore.open(dir, options()).posterior.eventCount, 2001);
  });

  it("a torn append is one damaged line: the record appended after it is kept", () => {
    const evs = ratings(10);
    const store = AdaptStore.open(dir, options());
    evs.slice(0, 9).forEach((e) => store.record(e));
    const whole = fs.readFileSync(logFile(), "utf8");
    fs.appendFileSync(logFile(), whole.split("\n")[0]!.slice(0, 40)); // a window killed mid-write
    store.record(evs[9]!);
    const reopened = AdaptStore.open(dir, options());
    assert.equal(reopened.posterior.eventCount, 10);
    close(reopened.posterior.mean(), fit(evs));
    // The torn line is left in the log (set aside once), not rewritten away.
    assert.equal(fs.readFileSync(logFile(), "utf8").split("\n").filter(Boolean).length, 11);
    assert.match(messages.join("\n"), /1 damaged line\(s\) set aside/);
    messages = [];
    AdaptStore.open(dir, options());
    assert.deepEqual(messages, [], "damage is reported once");
  });

  it("a record glued to a torn line by an older writer is recovered", () => {
    const evs = ratings(3);
    const store = AdaptStore.open(dir, options());
    evs.forEach((e) => store.record(e));
    const [a, b, c] = fs.readFileSync(logFile(), "utf8").trim().split("\n");
    fs.writeFileSync(logFile(), `${a}\n${b!.slice(0, 25)}${c}\n`);
    close(AdaptStore.open(dir, options()).posterior.mean(), fit([evs[0]!, evs[2]!]));
  });

  it("open never throws where damage cannot be set aside, and says so", () => {
    const evs = ratings(5);
    const store = AdaptStore.open(dir, options({ now: () => 42 }));
    evs.forEach((e) => store.record(e));
    store.flush();
    fs.appendFileSync(logFile(), "garbage\n");
    fs.writeFileSync(path.join(wsFolder(), "snapshot.json"), "{broken");
    // Where the set-aside copies would go, something that cannot be written (a read-only folder as root sees it).
    fs.mkdirSync(`${logFile()}.corrupt-42`);
    fs.mkdirSync(path.join(wsFolder(), "snapshot.json.corrupt-42"));
    const reopened = AdaptStore.open(dir, options({ now: () => 42 }));
    close(reopened.posterior.mean(), fit(evs));
    assert.match(messages.join("\n"), /1 damaged line\(s\) skipped; cannot set them aside/);
    assert.match(messages.join("\n"), /damaged snapshot ignored \(cannot set it aside/);
  });

  it("an unreadable log (a folder in its place) is reported, not silently empty", () => {
    fs.mkdirSync(path.join(dir, "workspaces", "x"), { recursive: true });
    AdaptStore.open(dir, options()).record(ratings(1)[0]!);
    fs.rmSync(logFile());
    fs.mkdirSync(logFile());
    const store = AdaptStore.open(dir, options());
    assert.equal(store.posterior.eventCount, 0);
    assert.match(messages.join("\n"), /events\.jsonl: cannot read the feedback log \(not a regular file\)/);
  });

  it("features beyond the bound are refused at the door and an Infinity Hessian ends the jitter loop", () => {
    const store = AdaptStore.open(dir, options());
    store.record(ratings(1)[0]!);
    assert.throws(() => store.record({ type: "rating", features: [1.5e154, 0, 0], up: true, surface: "chat" }), /within \+-1000000/);
    // Written by hand (an older version or an attacker): the line is set aside, open returns.
    const huge: LogRecord = { v: 1, t: 0, basis, event: { type: "rating", features: [1.5e154, 1, 1], up: true, surface: "chat" } };
    fs.appendFileSync(logFile(), JSON.stringify(huge) + "\n");
    store.record(ratings(2)[1]!);
    assert.equal(AdaptStore.open(dir, options()).posterior.eventCount, 2);
    assert.match(messages.join("\n"), /1 damaged line/);
    const inf = Float64Array.from([Infinity, 1, 1, Infinity]);
    assert.throws(() => choleskyJittered(inf, 2), /non-finite/);
    assert.throws(() => choleskyJittered(Float64Array.from([NaN, 0, 0, 1]), 2), /non-finite/);
    const indefinite = choleskyJittered(Float64Array.from([0, 1, 1, 0]), 2);
    assert.ok(indefinite.every(Number.isFinite));
  });

  it("an over-long line is skipped with a message naming its size, without reading it into memory whole", () => {
    const store = AdaptStore.open(dir, options());
    store.record(ratings(1)[0]!);
    fs.appendFileSync(logFile(), "x".repeat(3 * MAX_LOG_LINE) + "\n");
    store.record(ratings(2)[1]!);
    assert.equal(AdaptStore.open(dir, options()).posterior.eventCount, 2);
    assert.match(messages.join("\n"), /1 damaged line/);
    const aside = fs.readdirSync(wsFolder()).find((f) => f.startsWith("events.jsonl.corrupt-"))!;
    assert.match(fs.readFileSync(path.join(wsFolder(), aside), "utf8"), /a line of 3145728 bytes, over the 1048576-byte limit/);
  });

  for (const [name, damage] of [
    ["absurd weights", (s: { theta: number[] }) => ({ ...s, theta: s.theta.map(() => 1e6) })],
    ["an all-zero Hessian", (s: { hessian: number[] }) => ({ ...s, hessian: s.hessian.map(() => 0) })],
    ["plausible but wrong weights", (s: { theta: number[] }) => ({ ...s, theta: s.theta.map((_, i) => (i === 0 ? 1.9 : 0)) })],
  ] as const) {
    it(`a well-formed snapshot with ${name} is checked against the log`, () => {
      const evs = ratings(40, 5);
      const store = AdaptStore.open(dir, options());
      evs.forEach((e) => store.record(e));
      store.flush();
      const file = path.join(wsFolder(), "snapshot.json");
      const snap = JSON.parse(fs.readFileSync(file, "utf8"));
      fs.writeFileSync(file, JSON.stringify({ ...snap, state: damage(snap.state) }));
      const reopened = AdaptStore.open(dir, options());
      close(reopened.posterior.mean(), fit(evs));
      reopened.posterior.std().forEach((s) => assert.ok(Number.isFinite(s) && s > 0 && s < 2, `std ${s}`));
    });
  }

  it("a snapshot written with a slider the next session no longer has does not leak into the reopened state", () => {
    const evs = ratings(30, 9);
    const store = AdaptStore.open(dir, options());
    evs.forEach((e) => store.record(e));
    store.posterior.observe({ type: "slider", dim: 1, value: 1.5, locked: false }); // as the editor applies settings
    store.flush();
    close(AdaptStore.open(dir, options()).posterior.mean(), fit(evs));
  });

  it("reopened many times while another window appends, the state always equals the fit of the log it read", async () => {
    const evs = ratings(20, 3);
    const first = AdaptStore.open(dir, options({ snapshotEvery: 1 }));
    evs.forEach((e) => first.record(e));
    first.dispose();
    const appending = writer(dir, 150, 11, 1);
    let done = false;
    void appending.finally(() => (done = true));
    let reopens = 0;
    while (!done || reopens < 5) {
      const store = AdaptStore.open(dir, options());
      store.dispose();
      const n = store.posterior.eventCount;
      // The log only grows: what this open read is its first n records.
      close(store.posterior.mean(), fit(validRecords().slice(0, n).map((r) => r.event)));
      reopens++;
      await new Promise(setImmediate);
    }
    const written = await appending;
    const last = AdaptStore.open(dir, options());
    assert.equal(last.posterior.eventCount, 170);
    close(last.posterior.mean(), written);
    assert.ok(reopens >= 5, `${reopens} reopens`);
  });
});
