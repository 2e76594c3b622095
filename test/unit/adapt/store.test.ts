import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Feedback } from "../../../src/core/adapt/feedback";
import { SoupPosterior } from "../../../src/core/adapt/posterior";
import { seededRng } from "../../../src/core/random";
import { AdaptStore, type StoreOptions } from "../../../src/core/adapt/store";

const basis = { id: "coding", version: "1", dims: 3 };

function events(n: number, seed = 1): Feedback[] {
  const rng = seededRng(seed);
  return Array.from({ length: n }, (_, i): Feedback => {
    const phi = [rng.normal(), rng.normal(), rng.normal()];
    return i % 2
      ? { type: "rating", features: phi, up: phi[0] - phi[2] > 0, surface: "chat" }
      : { type: "choice", winner: phi, loser: [0, 0, 0] };
  });
}

describe("adapt/store", () => {
  let dir: string;
  let messages: string[];
  const options = (extra: Partial<StoreOptions> = {}): StoreOptions => ({
    basis,
    workspace: "file:///project",
    log: (m) => messages.push(m),
    ...extra,
  });
  const wsFolder = () => path.join(dir, "workspaces", fs.readdirSync(path.join(dir, "workspaces"))[0]);
  const fresh = (evs: Feedback[]) => {
    const p = new SoupPosterior({ dims: 3 });
    p.observeAll(evs);
    return p.mean();
  };
  const close = (a: number[], b: number[]) => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-6, `${a} vs ${b}`));

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "soup-adapt-"));
    messages = [];
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reopens to the same posterior, from the snapshot or from the log alone", () => {
    const evs = events(45);
    const store = AdaptStore.open(dir, options());
    evs.forEach((e) => store.record(e));
    store.flush();
    const mean = store.posterior.mean();
    close(AdaptStore.open(dir, options()).posterior.mean(), mean);
    fs.rmSync(path.join(wsFolder(), "snapshot.json"));
    close(AdaptStore.open(dir, options()).posterior.mean(), mean);
    close(mean, fresh(evs));
    assert.deepEqual(messages, []);
  });

  it("sets aside a half-written last log line and keeps every complete event", () => {
    const evs = events(10);
    const store = AdaptStore.open(dir, options({ now: () => 42 }));
    evs.forEach((e) => store.record(e));
    const log = path.join(wsFolder(), "events.jsonl");
    const full = fs.readFileSync(log, "utf8");
    fs.writeFileSync(log, full + full.split("\n")[0].slice(0, 30)); // killed while writing an 11th record
    const reopened = AdaptStore.open(dir, options({ now: () => 42 }));
    close(reopened.posterior.mean(), fresh(evs));
    assert.ok(fs.existsSync(`${log}.corrupt-42`));
    assert.match(messages.join("\n"), /1 damaged line\(s\) set aside/);
    // The log is whole again: the next record lands on its own line.
    reopened.record(evs[0]);
    messages = [];
    close(AdaptStore.open(dir, options()).posterior.mean(), fresh([...evs, evs[0]]));
    assert.deepEqual(messages, []);
  });

  it("sets aside a garbage line in the middle of the log", () => {
    const evs = events(6);
    const store = AdaptStore.open(dir, options());
    evs.slice(0, 3).forEach((e) => store.record(e));
    fs.appendFileSync(path.join(wsFolder(), "events.jsonl"), '{"v":1,"t":0,"basis":{"id":"coding","version":"1"},"event":{"type":"rating"}}\nnot json\n');
    evs.slice(3).forEach((e) => store.record(e));
    close(AdaptStore.open(dir, options()).posterior.mean(), fresh(evs));
    assert.match(messages.join("\n"), /2 damaged line/);
  });

  it("sets aside a corrupt snapshot and rebuilds it from the log", () => {
    const evs = events(30);
    const store = AdaptStore.open(dir, options({ now: () => 7 }));
    evs.forEach((e) => store.record(e));
    store.flush();
    const snapshot = path.join(wsFolder(), "snapshot.json");
    fs.writeFileSync(snapshot, fs.readFileSync(snapshot, "utf8").slice(0, 100));
    close(AdaptStore.open(dir, options({ now: () => 7 })).posterior.mean(), fresh(evs));
    assert.ok(fs.existsSync(`${snapshot}.corrupt-7`));
    assert.match(messages.join("\n"), /damaged snapshot set aside/);
  });

  it("a basis change keeps the log but resets the posterior to the slider prior; the old basis comes back intact", () => {
    const evs = events(30);
    const store = AdaptStore.open(dir, options());
    evs.forEach((e) => store.record(e));
    store.flush();
    const before = store.posterior.mean();
    const v2 = { ...basis, version: "2", dims: 4 };
    const changed = AdaptStore.open(dir, options({ basis: v2 }));
    assert.deepEqual(changed.posterior.mean(), [0, 0, 0, 0]);
    assert.match(messages.join("\n"), /basis changed/);
    changed.record({ type: "slider", dim: 3, value: 0.8, locked: true });
    changed.record({ type: "rating", features: [1, 2, 3, 4], up: true, surface: "completion" });
    assert.equal(changed.posterior.mean()[3], 0.8);
    const lines = fs.readFileSync(path.join(wsFolder(), "events.jsonl"), "utf8").trim().split("\n");
    assert.equal(lines.length, 32);
    close(AdaptStore.open(dir, options()).posterior.mean(), before);
  });

  it("after a schema bump, an old snapshot is rebuilt from the log and newer records are kept unused", () => {
    const evs = events(25);
    const store = AdaptStore.open(dir, options());
    evs.forEach((e) => store.record(e));
    store.flush();
    const snapshot = path.join(wsFolder(), "snapshot.json");
    const snap = JSON.parse(fs.readFileSync(snapshot, "utf8"));
    fs.writeFileSync(snapshot, JSON.stringify({ ...snap, schema: 0, state: { ...snap.state, theta: snap.state.theta.map(() => 1.5) } }));
    const future = JSON.stringify({ v: 99, t: 0, basis: { id: "coding", version: "1" }, event: { type: "hologram" } });
    fs.appendFileSync(path.join(wsFolder(), "events.jsonl"), future + "\n");
    close(AdaptStore.open(dir, options()).posterior.mean(), fresh(evs));
    assert.match(messages.join("\n"), /schema 0 \(now 1\)/);
    assert.match(messages.join("\n"), /newer schema/);
    assert.ok(fs.readFileSync(path.join(wsFolder(), "events.jsonl"), "utf8").includes(future));
  });

  it("a new workspace starts from the user level learned in the others", () => {
    const a = AdaptStore.open(dir, options({ workspace: "a" }));
    events(300, 3).forEach((e) => a.record(e));
    a.flush();
    const b = AdaptStore.open(dir, options({ workspace: "b" }));
    // The user-level mean, except that the workspace's own penalty shrinks negative weights further toward 0 (and, through the prior correlations, the others a little).
    const user = a.userPosterior.mean();
    b.posterior.mean().forEach((w, i) =>
      assert.ok(user[i] >= 0 ? Math.abs(w - user[i]) < 0.02 : w > user[i] && w <= 0, `${b.posterior.mean()} vs ${user}`),
    );
    assert.ok(b.posterior.mean()[0] > 0.3, `${b.posterior.mean()}`);
    // Workspace a's own prior excludes its own events: reopening it gives the same fit as before.
    close(AdaptStore.open(dir, options({ workspace: "a" })).posterior.mean(), a.posterior.mean());
  });

  it("keeps hashes always and texts only when allowed", () => {
    AdaptStore.open(dir, options()).record(events(1)[0], ["secret code", "other"]);
    AdaptStore.open(dir, options({ workspace: "kept", keepText: true })).record(events(1)[0], ["kept code", "x"]);
    const logs = fs.readdirSync(path.join(dir, "workspaces")).map((w) => fs.readFileSync(path.join(dir, "workspaces", w, "events.jsonl"), "utf8"));
    const all = logs.join("");
    assert.ok(!all.includes("secret code") && all.includes("kept code"));
    logs.forEach((l) => assert.equal(JSON.parse(l).hashes.length, 2));
  });
});
