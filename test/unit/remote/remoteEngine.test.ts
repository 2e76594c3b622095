// Protocol edge cases of the remote engine against a small fake llama-server (HTTP on 127.0.0.1): what goes on
// the wire (every adapter's scale, the bearer token, the user's slot) and what a user sees when a server is
// wrong, refuses the key, is slow, or dies. The real llama-server is exercised in test/integration/server.test.ts.
import * as assert from "node:assert/strict";
import { EngineError, type LoadParams, type PolicySpec } from "../../../src/engine/protocol";
import { normalizeUrl } from "../../../src/engine/remote/http";
import { ServerPool, type PoolHealth } from "../../../src/engine/remote/pool";
import { RemoteEngine } from "../../../src/engine/remote/remoteEngine";
import { fakeServer, type Fake } from "../../support/fakeLlamaServer";

const policies: PolicySpec[] = [
  { id: "quotes", kind: "adapter", path: "/home/me/pack/quotes.gguf" },
  { id: "terse", kind: "adapter", path: "/home/me/pack/terse.gguf" },
];
const load: LoadParams = { modelPath: "", gpu: "off", gpuLayers: 0, threads: 1, contextSize: 512, basis: { kind: "policies", id: "t", version: "1", policies } };
const fim = { kind: "fim" as const, prefix: "ab", suffix: "c" };
const gen = { prompt: fim, mode: "parameter" as const, weights: { quotes: 0.5 }, maxTokens: 3, temperature: 0 };

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<EngineError> {
  const e = await p.then(
    () => assert.fail("expected an error"),
    (err: unknown) => err,
  );
  assert.ok(e instanceof EngineError, `not an EngineError: ${e}`);
  assert.match(e.message, pattern);
  return e;
}

describe("remote engine against a fake llama-server", function () {
  this.timeout(20000);
  const fakes: Fake[] = [];
  const start = async (...a: Parameters<typeof fakeServer>) => {
    const f = await fakeServer(...a);
    fakes.push(f);
    return f;
  };
  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((f) => f.close()));
  });

  it("sends every adapter's scale (0 for the unweighted and for adapters outside the basis), on the user's slot", async () => {
    const f = await start(["/srv/quotes.gguf", "/srv/other.gguf", "/srv/terse.gguf"]);
    const engine = new RemoteEngine(new ServerPool([f.url], { timeoutMs: 2000 }), "alice");
    await engine.load(load);
    const streamed: string[] = [];
    const r = await engine.generate(gen, { onToken: (t) => streamed.push(t) });
    assert.equal(r.text, "abc");
    assert.deepEqual(streamed, ["a", "b", "c"]);
    assert.deepEqual(r.tokens, [300, 301, 302]);
    const body = f.requests.find((q) => q.path === "/completion")!.body;
    assert.deepEqual(body.lora, [
      { id: 0, scale: 0.5 },
      { id: 1, scale: 0 },
      { id: 2, scale: 0 },
    ]);
    // BOS, FIM markers and the text tokenized without special parsing, as the in-process engine builds it.
    assert.deepEqual(body.prompt, [1, 3, 100 + 97, 100 + 98, 4, 100 + 99, 5]);
    assert.equal(body.cache_prompt, true);
    const again = new RemoteEngine(new ServerPool([f.url], { timeoutMs: 2000 }), "alice");
    await again.load(load);
    await again.generate(gen);
    const slots = f.requests.filter((q) => q.path === "/completion").map((q) => q.body.id_slot);
    assert.equal(slots[0], slots[1], "the same user lands on the same slot");
  });

  it("scores by forcing the response tokens with a token-id grammar, one request per policy off the user's slot", async () => {
    const f = await start(["/srv/quotes.gguf", "/srv/terse.gguf"]);
    const engine = new RemoteEngine(new ServerPool([f.url], { timeoutMs: 2000 }), "bob");
    await engine.load(load);
    f.followGrammar = false;
    await assert.rejects(engine.score({ prompt: fim, response: "x", responseTokens: [200, 201] }), /did not follow the forced response tokens/);
    f.followGrammar = true;
    const r = await engine.score({ prompt: fim, response: "x", responseTokens: [200] });
    assert.deepEqual(r.features, { quotes: 0, terse: 0 });
    const scoring = f.requests.filter((q) => q.path === "/completion").slice(-3);
    assert.deepEqual(
      scoring.map((q) => q.body.lora),
      [
        [{ id: 0, scale: 0 }, { id: 1, scale: 0 }],
        [{ id: 0, scale: 1 }, { id: 1, scale: 0 }],
        [{ id: 0, scale: 0 }, { id: 1, scale: 1 }],
      ],
    );
    assert.ok(scoring.every((q) => q.body.grammar === "root ::= <[200]>" && q.body.post_sampling_probs === false));
    // FIM features are given the prefix only: the suffix is empty in the scored prompt.
    assert.deepEqual(scoring[0].body.prompt, [1, 3, 197, 198, 4, 5]);
  });

  it("explicit next: one full-distribution request per policy with unit scales, off the user's slot", async () => {
    const f = await start(["/srv/quotes.gguf", "/srv/terse.gguf"]);
    const engine = new RemoteEngine(new ServerPool([f.url], { timeoutMs: 2000 }), "carol");
    await engine.load(load);
    const r = await engine.next({ prompt: fim, mode: "explicit", weights: { quotes: 1 }, top: 5 });
    assert.deepEqual(r.tokens.map((t) => [t.id, t.text]), [[200, "x"]]);
    const asked = f.requests.filter((q) => q.path === "/completion");
    assert.equal(asked.length, 3);
    assert.ok(asked.every((q) => q.body.n_probs === 400 && q.body.post_sampling_probs === false));
    assert.deepEqual(asked.map((q) => q.body.lora).map((l) => (l as { scale: number }[]).map((a) => a.scale)), [[0, 0], [1, 0], [0, 1]]);
    const generated = await engine.generate(gen).then(() => f.requests.at(-1)!.body.id_slot);
    assert.ok(asked.every((q) => q.body.id_slot !== generated), "policies are scored off the user's own slot");
  });

  it("a pack adapter the server lacks is an error naming the adapter, the policy and the server", async () => {
    const f = await start(["/srv/quotes.gguf"]);
    const engine = new RemoteEngine(new ServerPool([f.url], { timeoutMs: 2000 }));
    const e = await rejects(engine.load(load), /has no adapter terse\.gguf for policy "terse".*it loads: quotes\.gguf/);
    assert.equal(e.code, "bad-basis");
  });

  it("matches a server adapter named by the pack's sha256", async () => {
    const sha = "ab".repeat(32);
    const f = await start([`/srv/${sha}.gguf`, "/srv/terse.gguf"]);
    const engine = new RemoteEngine(new ServerPool([f.url], { timeoutMs: 2000 }));
    const withSha: LoadParams = { ...load, basis: { kind: "policies", id: "t", version: "1", policies: [{ id: "quotes", kind: "adapter", path: "/home/me/pack/quotes.gguf", sha256: sha.toUpperCase() }, policies[1]] } };
    await engine.load(withSha);
    await engine.generate(gen);
    assert.deepEqual(f.requests.find((q) => q.path === "/completion")!.body.lora, [{ id: 0, scale: 0.5 }, { id: 1, scale: 0 }]);
  });

  it("a bad URL is refused with the setting named", () => {
    assert.throws(() => normalizeUrl("localhost:8080"), /spectralSoup\.server\.urls: "localhost:8080" must start with http/);
    assert.throws(() => normalizeUrl("not a url"), /is not a URL/);
    assert.throws(() => normalizeUrl("http://me:secret@host:1"), (e: Error) => !e.message.includes("secret"));
    assert.equal(normalizeUrl(" http://h:1/ "), "http://h:1");
  });

  it("a server that is not running: a clear error, health 0/1, no hang", async () => {
    const f = await start([]);
    await f.close();
    const health: PoolHealth[] = [];
    const engine = new RemoteEngine(new ServerPool([f.url], { timeoutMs: 2000, onHealth: (h) => health.push(h) }));
    const t0 = Date.now();
    await rejects(engine.load(load), /no Spectral Soup server answers .*connection refused/);
    assert.ok(Date.now() - t0 < 2000);
    assert.deepEqual(health.at(-1)?.up, 0);
  });

  it("a wrong API key: the server's refusal, and the key itself in no message", async () => {
    const f = await start(["/srv/quotes.gguf", "/srv/terse.gguf"], { apiKey: "right-key" });
    const logs: string[] = [];
    const pool = new ServerPool([f.url], { timeoutMs: 2000, apiKey: "wrong-key-123", onLog: (_l, m) => logs.push(m) });
    const e = await rejects(new RemoteEngine(pool).load(load), /refused the API key \(HTTP 401/);
    assert.ok(!e.message.includes("wrong-key-123") && !logs.join("\n").includes("wrong-key-123"));
    assert.equal(f.requests[0].auth, "Bearer wrong-key-123");
    const ok = new RemoteEngine(new ServerPool([f.url], { timeoutMs: 2000, apiKey: "right-key" }));
    await ok.load(load);
    assert.equal((await ok.generate(gen)).text, "abc");
  });

  it("a slow server: the request times out with a message, and the server counts as down", async () => {
    const f = await start(["/srv/quotes.gguf", "/srv/terse.gguf"]);
    const health: PoolHealth[] = [];
    const engine = new RemoteEngine(new ServerPool([f.url], { timeoutMs: 300, onHealth: (h) => health.push(h) }));
    await engine.load(load);
    f.delayMs = 1500;
    const t0 = Date.now();
    await rejects(engine.generate(gen), /no answer within 300 ms/);
    assert.ok(Date.now() - t0 < 1200, "gave up at the timeout");
    assert.equal(health.at(-1)?.up, 0);
  });

  it("cancel aborts a request in flight", async () => {
    const f = await start(["/srv/quotes.gguf", "/srv/terse.gguf"]);
    const engine = new RemoteEngine(new ServerPool([f.url], { timeoutMs: 5000 }));
    await engine.load(load);
    f.delayMs = 1000;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const e = await rejects(engine.generate(gen, { signal: ac.signal }), /cancelled/);
    assert.equal(e.code, "cancelled");
  });

  it("failover: a server dying mid-request fails that request clearly; the next goes to the other server", async () => {
    const a = await start(["/srv/quotes.gguf", "/srv/terse.gguf"]);
    const b = await start(["/srv/quotes.gguf", "/srv/terse.gguf"]);
    const health: PoolHealth[] = [];
    const pool = new ServerPool([a.url, b.url], { timeoutMs: 2000, onHealth: (h) => health.push(h) });
    await pool.connect();
    // A user whose first choice is server a.
    let user = 0;
    while ((await pool.serverFor(`u${user}`)).http.url !== a.url) user++;
    const engine = new RemoteEngine(pool, `u${user}`);
    await engine.load(load);
    a.dieMidStream = true;
    await rejects(engine.generate(gen), /server http:\/\/127\.0\.0\.1:\d+: \/completion: the connection was closed/);
    assert.deepEqual(health.at(-1), { up: 1, total: 2, problems: [health.at(-1)!.problems[0]] });
    await a.close();
    const before = b.requests.length;
    assert.equal((await engine.generate(gen)).text, "abc");
    assert.ok(b.requests.length > before, "served by the other server");
    // Scoring (feedback) is retried on the next server instead of failing.
    const r = await engine.score({ prompt: fim, response: "x", responseTokens: [200] });
    assert.deepEqual(r.features, { quotes: 0, terse: 0 });
  });
});
