import * as assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { EngineClient } from "../../src/engine/client";
import { SoupEngine } from "../../src/engine/soupEngine";
import { blockAdapter, engineClient, hasSharedModels, headAdapter, loadParams, SPARKY, STORIES, tinyModel } from "../support/engine";

const load = loadParams;

function maxAbsDiff(a: { id: number; p: number }[], b: { id: number; p: number }[]): number {
  const pb = new Map(b.map((t) => [t.id, t.p]));
  let d = 0;
  for (const t of a) d = Math.max(d, Math.abs(t.p - (pb.get(t.id) ?? 0)));
  return d;
}

describe("engine (real llama.cpp on generated models)", function () {
  let client: EngineClient;
  let model: string;
  let heads: string[];
  before(async () => {
    model = await tinyModel();
    heads = await Promise.all([headAdapter(11), headAdapter(12), headAdapter(13, [6 + 0x61, 6 + 0x62])]);
    client = engineClient();
    await client.load(load(model, heads.map((p, i) => ({ id: `h${i}`, kind: "adapter" as const, path: p }))));
  });
  after(() => client.dispose());

  const prompt = { kind: "raw" as const, text: "function add(a, b) {" };

  it("parameter souping of head adapters equals explicit souping (max |dp| <= 1e-4), negative weights included", async () => {
    const vocab = 263;
    for (const w of [
      { h0: 0.7, h1: -0.4, h2: 1.3 },
      { h0: -0.5, h1: 1.9, h2: 0.2 },
      { h0: 1, h1: 0, h2: 0 },
    ]) {
      const explicit = await client.next({ prompt, mode: "explicit", weights: w, top: vocab });
      const parameter = await client.next({ prompt, mode: "parameter", weights: w, top: vocab });
      assert.ok(explicit.tokens.length > 100, "full distributions on a small vocabulary");
      const d = maxAbsDiff(explicit.tokens, parameter.tokens);
      assert.ok(d <= 1e-4, `max |dp| = ${d} for ${JSON.stringify(w)}`);
    }
  });

  it("the souped adapter written in the background gives the same distribution as the K adapters", async () => {
    const engine = new SoupEngine();
    const signal = new AbortController().signal;
    try {
      await engine.load(load(model, heads.map((p, i) => ({ id: `h${i}`, kind: "adapter" as const, path: p }))), () => {});
      const w = { h0: 0.9, h1: -0.3, h2: 0.6 };
      const separate = await engine.next({ prompt, mode: "parameter", weights: w, top: 263 }, signal);
      await engine.settled();
      const souped = await engine.next({ prompt, mode: "parameter", weights: w, top: 263 }, signal);
      const explicit = await engine.next({ prompt, mode: "explicit", weights: w, top: 263 }, signal);
      assert.ok(maxAbsDiff(separate.tokens, souped.tokens) <= 1e-4, "souped == separate adapters");
      assert.ok(maxAbsDiff(explicit.tokens, souped.tokens) <= 1e-4, "souped == explicit soup");
    } finally {
      await engine.unload();
    }
  });

  it("weight 0 is the base model", async () => {
    const zero = { h0: 0, h1: 0, h2: 0 };
    const base = await client.next({ prompt, mode: "explicit", weights: zero, top: 263 });
    const parameter = await client.next({ prompt, mode: "parameter", weights: zero, top: 263 });
    const moved = await client.next({ prompt, mode: "parameter", weights: { h0: 1 }, top: 263 });
    assert.ok(maxAbsDiff(base.tokens, parameter.tokens) <= 1e-5);
    assert.ok(maxAbsDiff(base.tokens, moved.tokens) > 1e-3, "a non-zero weight changes the distribution");
  });

  it("a boost adapter raises its bytes in generated text", async () => {
    const gen = (w: number) =>
      client.generate({ prompt, mode: "parameter", weights: { h2: w }, maxTokens: 48, temperature: 1, seed: 3 });
    const share = (s: string) => [...s].filter((c) => c === "a" || c === "b").length / Math.max(1, s.length);
    const [plain, boosted] = [await gen(0), await gen(3)];
    assert.ok(share(boosted.text) > share(plain.text) + 0.2, `${JSON.stringify(plain.text)} vs ${JSON.stringify(boosted.text)}`);
  });

  it("features of explicit generation equal a separate score (<= 1e-3)", async () => {
    const r = await client.generate({ prompt, mode: "explicit", weights: { h0: 0.5, h2: 1 }, maxTokens: 24, temperature: 0.8, seed: 5 });
    assert.ok(r.features && r.tokens.length > 0);
    const s = await client.score({ prompt, response: r.text, responseTokens: r.tokens });
    for (const id of ["h0", "h1", "h2"]) assert.ok(Math.abs(r.features[id] - s.features[id]) <= 1e-3, `${id}: ${r.features[id]} vs ${s.features[id]}`);
    // FIM: one definition in every mode (the response given the prefix).
    const fim = { kind: "fim" as const, prefix: "function add(a, b) {\n  return ", suffix: "\n}\n" };
    const rf = await client.generate({ prompt: fim, mode: "explicit", weights: { h2: 1 }, maxTokens: 12, temperature: 0.8, seed: 6 });
    const sf = await client.score({ prompt: fim, response: rf.text, responseTokens: rf.tokens });
    for (const id of ["h0", "h1", "h2"]) assert.ok(Math.abs(rf.features![id] - sf.features[id]) <= 1e-3, `fim ${id}`);
  });

  it("head adapters: parameter mode and scoring run on the base context alone; explicit mode creates adapter contexts on first use", async () => {
    const engine = new SoupEngine();
    const signal = new AbortController().signal;
    try {
      const loaded = await engine.load(load(model, heads.map((p, i) => ({ id: `h${i}`, kind: "adapter" as const, path: p }))), () => {});
      const w = { h0: 0.5, h1: -0.2, h2: 1 };
      const zero = { h0: 0, h1: 0, h2: 0 };
      const reference = await engine.next({ prompt, mode: "parameter", weights: zero, top: 263 }, signal);
      const r = await engine.generate({ prompt, mode: "parameter", weights: w, maxTokens: 12, temperature: 0, withFeatures: true }, signal, () => {});
      const s = await engine.score({ prompt, response: r.text, responseTokens: r.tokens }, signal);
      assert.equal(loaded.memory.contexts, 1, "the base context only");
      assert.equal((await engine.status()).memory.contexts, 1, "parameter mode and scoring made no context");
      for (const id of ["h0", "h1", "h2"]) assert.ok(Math.abs(r.features![id] - s.features[id]) <= 1e-6, id);
      assert.ok(r.timings.scoreMs > 0, "scoring time is reported apart from decoding");
      // The shared context is back to no adapter for the reference policy after the soup and scoring ran on it.
      await engine.next({ prompt, mode: "parameter", weights: w, top: 263 }, signal);
      const rerun = await engine.next({ prompt, mode: "explicit", weights: zero, top: 263 }, signal);
      assert.ok(maxAbsDiff(reference.tokens, rerun.tokens) <= 1e-6, "reference unchanged by the soup");
      const e = await engine.generate({ prompt, mode: "explicit", weights: w, maxTokens: 12, temperature: 0 }, signal, () => {});
      assert.equal((await engine.status()).memory.contexts, 1 + heads.length, "explicit mode made the adapter contexts");
      // The explicit decode's features (adapter contexts) agree with scoring through the base context.
      const se = await engine.score({ prompt, response: e.text, responseTokens: e.tokens }, signal);
      for (const id of ["h0", "h1", "h2"]) assert.ok(Math.abs(e.features![id] - se.features[id]) <= 1e-3, `explicit ${id}`);
    } finally {
      await engine.unload();
    }
  });

  it("streams tokens, honours stop strings, and rerank returns candidates best first", async () => {
    const streamed: string[] = [];
    const r = await client.generate(
      { prompt, mode: "explicit", weights: { h1: 1 }, maxTokens: 40, temperature: 1, seed: 9, stop: ["e"] },
      { onToken: (t) => streamed.push(t) },
    );
    assert.equal(streamed.join(""), r.text);
    assert.ok(!r.text.includes("e"));
    const rr = await client.generate({ prompt, mode: "rerank", weights: { h2: 2 }, maxTokens: 16, temperature: 1, seed: 2, candidates: 4 });
    const rewards = rr.candidates!.map((c) => c.reward);
    assert.deepEqual(rewards, [...rewards].sort((a, b) => b - a));
    assert.equal(rr.text, rr.candidates![0].text);
  });

  it("cancels an in-flight request and stays usable", async () => {
    const ac = new AbortController();
    const p = client.generate({ prompt, mode: "explicit", weights: {}, maxTokens: 400, temperature: 1, seed: 1 }, { signal: ac.signal, onToken: () => ac.abort() });
    await assert.rejects(p, (e: Error & { code?: string }) => e.code === "cancelled");
    const ok = await client.generate({ prompt, mode: "parameter", weights: {}, maxTokens: 4, temperature: 0 });
    assert.ok(ok.tokens.length > 0);
  });

  it("FIM and chat prompts run in every mode", async () => {
    const fim = { kind: "fim" as const, prefix: "function add(a, b) {\n  return ", suffix: "\n}\n" };
    const chat = { kind: "chat" as const, messages: [{ role: "user" as const, content: "Write a function that adds two numbers." }] };
    for (const p of [fim, chat]) {
      for (const mode of ["explicit", "parameter", "rerank"] as const) {
        const r = await client.generate({ prompt: p, mode, weights: { h0: 0.5 }, maxTokens: 8, temperature: 0.5, seed: 4 });
        assert.ok(r.tokens.length > 0 || r.finishReason === "eog", `${p.kind}/${mode}`);
      }
    }
  });

  it("a prompted expert sees its header: its features differ from the reference policy's", async () => {
    const c = engineClient();
    try {
      await c.load(load(model, [{ id: "commented", kind: "prompted", chat: "Comment every line.", fim: "// Every line has a comment." }]));
      const r = await c.generate({ prompt, mode: "explicit", weights: { commented: 1 }, maxTokens: 16, temperature: 0 });
      assert.ok(Math.abs(r.features!.commented) > 1e-3);
      // FIM headers follow the file's comment syntax; a language without comments gets none (the expert is pi_0).
      const fim = (language: string) => ({ kind: "fim" as const, prefix: "x = 1\n", suffix: "\n", language });
      const py = await c.generate({ prompt: fim("python"), mode: "explicit", weights: { commented: 1 }, maxTokens: 8, temperature: 0 });
      const txt = await c.generate({ prompt: fim("plaintext"), mode: "explicit", weights: { commented: 1 }, maxTokens: 8, temperature: 0 });
      assert.ok(Math.abs(py.features!.commented) > 1e-3);
      assert.equal(txt.features!.commented, 0);
      await assert.rejects(
        c.generate({ prompt, mode: "parameter", weights: { commented: 1 }, maxTokens: 4, temperature: 0 }),
        /parameter souping cannot apply prompted expert "commented"/,
      );
    } finally {
      c.dispose();
    }
  });

  it("gpu: a backend this machine lacks is a clear error; off runs on the CPU", async () => {
    const c = engineClient();
    try {
      const off = await c.load(load(model, [], { gpu: "off" }));
      assert.equal(off.backend!.backend, "cpu");
      const st = await c.status();
      assert.equal(st.state, "ready");
      assert.equal(st.backend!.threads, 1);
      assert.ok(st.memory.modelBytes > 0 && st.memory.contextBytes > 0 && st.memory.rssBytes > 0);
      assert.equal(st.memory.vramUsedBytes, 0, "no VRAM on the CPU backend");
      try {
        const st = await c.load(load(model, [], { gpu: "metal" }));
        assert.equal(st.backend!.backend, "metal");
      } catch (e) {
        assert.match((e as Error).message, /GPU backend "metal" is not available on this machine .*set gpu to "auto" or "off"/);
      }
    } finally {
      c.dispose();
    }
  });

  it("rejects weights for unknown policies, naming them", async () => {
    await assert.rejects(
      client.generate({ prompt, mode: "explicit", weights: { nope: 1 }, maxTokens: 4, temperature: 0 }),
      /unknown policies: nope \(basis "test" has: h0, h1, h2\)/,
    );
  });

  it("restarts after the engine process is killed mid-request and replays the load", async () => {
    const c = engineClient();
    try {
      await c.load(load(model, [{ id: "h0", kind: "adapter", path: heads[0] }]));
      const pid = c.pid!;
      const p = c.generate(
        { prompt, mode: "explicit", weights: { h0: 1 }, maxTokens: 400, temperature: 1, seed: 1 },
        { onToken: () => process.kill(pid, "SIGKILL") },
      );
      await assert.rejects(p, (e: Error & { code?: string }) => e.code === "engine-crashed" && /killed \(SIGKILL\)/.test(e.message));
      const r = await c.generate({ prompt, mode: "parameter", weights: { h0: 1 }, maxTokens: 4, temperature: 0 });
      assert.ok(r.tokens.length > 0);
      assert.notEqual(c.pid, pid);
    } finally {
      c.dispose();
    }
  });

  it("souping adapters on attention/FFN weights runs in both modes", async () => {
    const block = await blockAdapter(21);
    const c = engineClient();
    try {
      await c.load(load(model, [{ id: "b", kind: "adapter", path: block }]));
      const e = await c.generate({ prompt, mode: "explicit", weights: { b: 1 }, maxTokens: 8, temperature: 0 });
      const p = await c.generate({ prompt, mode: "parameter", weights: { b: 1 }, maxTokens: 8, temperature: 0 });
      assert.equal(e.text, p.text, "at weight 1 the explicit soup is the adapter policy itself");
    } finally {
      c.dispose();
    }
  });
});

describe("engine: bad input", function () {
  let client: EngineClient;
  let dir: string;
  before(async () => {
    client = engineClient();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "soup-bad-"));
  });
  after(() => client.dispose());

  it("missing model file", async () => {
    const f = path.join(dir, "missing.gguf");
    await assert.rejects(client.load(load(f, [])), (e: Error & { code?: string }) => e.code === "bad-model" && e.message.includes(`${f}: file not found`));
  });

  it("wrong magic", async () => {
    const f = path.join(dir, "wrong.gguf");
    await fs.writeFile(f, "PK\x03\x04 this is a zip");
    await assert.rejects(client.load(load(f, [])), new RegExp(`${f}: not a GGUF`));
  });

  it("truncated model", async () => {
    const f = path.join(dir, "truncated.gguf");
    const full = await fs.readFile(await tinyModel());
    await fs.writeFile(f, full.subarray(0, Math.floor(full.length / 2)));
    await assert.rejects(client.load(load(f, [])), (e: Error) => e.message.startsWith(f) && /past the end of the file/.test(e.message));
  });

  it("a tensor of unknown type", async () => {
    const f = path.join(dir, "unknown-type.gguf");
    const bytes = Buffer.from(await fs.readFile(await tinyModel()));
    // The first tensor's type field follows its name, dimension count and dimensions in the tensor index.
    const name = Buffer.from("token_embd.weight");
    const at = bytes.indexOf(name) + name.length;
    const nDims = bytes.readUInt32LE(at);
    bytes.writeUInt32LE(77, at + 4 + nDims * 8);
    await fs.writeFile(f, bytes);
    await assert.rejects(client.load(load(f, [])), new RegExp(`${f}: tensor "token_embd.weight" has unknown type 77`));
  });

  it("an adapter given as the model", async () => {
    const head = await headAdapter(11);
    await assert.rejects(client.load(load(head, [])), /is a LoRA adapter, not a model/);
  });

  it("empty basis pack", async () => {
    const f = path.join(dir, "empty-pack.json");
    await fs.writeFile(f, JSON.stringify({ id: "e", version: "1", label: "Empty", policies: [] }));
    await assert.rejects(
      client.load({ ...load(await tinyModel(), []), basis: { kind: "pack", path: f } }),
      /empty basis has nothing to soup/,
    );
  });

  it("adapter made for another model shape", async () => {
    const other = await headAdapter(5, undefined, { seed: 9, nEmbd: 32, nLayer: 2, nHead: 4, nHeadKv: 4, nFf: 64 });
    await assert.rejects(
      client.load(load(await tinyModel(), [{ id: "x", kind: "adapter", path: other }])),
      (e: Error & { code?: string }) =>
        e.code === "bad-basis" && e.message.includes(path.basename(other)) && /output\.weight\.lora_a has input size 32 but the base tensor has 64/.test(e.message),
    );
    // The engine is still usable afterwards.
    const st = await client.load(load(await tinyModel(), []));
    assert.equal(st.state, "ready");
  });
});

describe("engine on ../shared/models (stories260K + Sparky LoRA)", function () {
  before(function () {
    if (!hasSharedModels()) {
      console.log(`    skipped: ${STORIES} or ${SPARKY} not present`);
      this.skip();
    }
  });
  let client: EngineClient;
  before(async () => {
    client = engineClient();
    await client.load(load(STORIES, [{ id: "sparky", kind: "adapter", path: SPARKY }]));
  });
  after(() => client?.dispose());
  const prompt = { kind: "raw" as const, text: "Once upon a time" };
  const greedy = (mode: "explicit" | "parameter", w: number) =>
    client.generate({ prompt, mode, weights: { sparky: w }, maxTokens: 24, temperature: 0 });

  it("a FIM prompt on a model without FIM tokens is a clear error", async () => {
    await assert.rejects(
      client.generate({ prompt: { kind: "fim", prefix: "a", suffix: "b" }, mode: "parameter", weights: {}, maxTokens: 4, temperature: 0 }),
      /has no fill-in-the-middle tokens/,
    );
  });

  it("parameter mode: weight 1 gives Sparky, weight 0 gives Lily", async () => {
    assert.match((await greedy("parameter", 1)).text, /Sparky/);
    assert.match((await greedy("parameter", 0)).text, /Lily/);
  });

  it("explicit mode with the adapter as one expert at weight 1 gives Sparky", async () => {
    assert.match((await greedy("explicit", 1)).text, /Sparky/);
  });
});
