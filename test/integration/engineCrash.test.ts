// The client around engine crashes: a crash during a load is not replayed, concurrent requests after a crash share
// one restarted engine, sends after the channel closed fail the request instead of throwing, and dispose() ends
// every process the client started. Real engine processes; crashes are SIGKILLs at chosen moments.
import * as assert from "node:assert/strict";
import { execFileSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { readGguf, readTensorBytes } from "../../src/core/gguf/reader";
import { GgmlType } from "../../src/core/gguf/types";
import { writeGguf } from "../../src/core/gguf/writer";
import type { LoadParams, PolicySpec } from "../../src/engine/protocol";
import { syntheticModelCache } from "../../src/core/gguf/synthetic";
import { engineClient, headAdapter, MODEL_CACHE, TINY, tinyModel } from "../support/engine";

const load = (modelPath: string, policies: PolicySpec[] = []): LoadParams => ({
  modelPath,
  gpu: "off",
  gpuLayers: 0,
  threads: 1,
  contextSize: 256,
  basis: { kind: "policies", id: "crash", version: "1", policies },
});
const prompt = { kind: "raw" as const, text: "a" };
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** Engine processes forked by this test process, seen by the OS (not by the client's own bookkeeping). */
const enginePids = () =>
  execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes("engine/main.ts"))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("engine client after crashes (real engine processes)", function () {
  let model: string;
  let other: string;
  let heads: string[];
  before(async () => {
    model = await tinyModel();
    other = await syntheticModelCache(MODEL_CACHE, { ...TINY, seed: 8 });
    heads = await Promise.all([31, 32, 33, 34].map((s) => headAdapter(s)));
  });

  it("a crash while loading names the files, is not replayed, and waits for a different load", async () => {
    const c = engineClient();
    try {
      await c.load(load(model));
      const adapters = heads.map((p, i) => ({ id: `h${i}`, kind: "adapter" as const, path: p }));
      let killed: number | undefined;
      const crashing = c.load(load(other, adapters), {
        // After the first adapter context, three more are still to come: the load is in flight.
        onProgress: (stage) => {
          if (stage === "basis" && killed === undefined) process.kill((killed = c.pid!), "SIGKILL");
        },
      });
      await assert.rejects(crashing, (e: Error) => /load failed: the engine crashed while loading/.test(e.message) && e.message.includes(other) && /\(SIGKILL\)/.test(e.message));
      await until("the engine exited", () => !c.running);
      // Neither another request nor the same load starts an engine that would crash again.
      await assert.rejects(c.generate({ prompt, mode: "explicit", weights: {}, maxTokens: 2, temperature: 0 }), /the engine crashed while loading/);
      await assert.rejects(c.load(load(other, adapters)), /the engine crashed while loading/);
      assert.equal(c.running, false, "no engine was started for the crashed load");
      assert.deepEqual(enginePids(), []);
      // A different load is served.
      await c.load(load(model));
      const r = await c.generate({ prompt, mode: "explicit", weights: {}, maxTokens: 2, temperature: 0 });
      assert.ok(r.tokens.length > 0);
    } finally {
      c.dispose();
    }
  });

  it("a model llama.cpp rejects says why, not just \"Failed to load model\"", async () => {
    const f = await readGguf(model);
    const tensors = [];
    for (const t of f.tensors) tensors.push({ name: t.name, dims: t.dims, ggmlType: t.type, bytes: await readTensorBytes(f, t.name) });
    // A tensor the llama loader does not create: our checks let it pass, llama.cpp counts tensors and refuses.
    tensors.push({ name: "blk.0.extra.weight", dims: [32], ggmlType: GgmlType.F32, bytes: new Uint8Array(128) });
    const dir = await mkdtemp(path.join(os.tmpdir(), "soup-reject-"));
    const file = path.join(dir, "extra-tensor.gguf");
    await writeGguf(file, { metadata: [...f.metadata.values()], tensors });
    const c = engineClient();
    try {
      await assert.rejects(c.load(load(file)), /extra-tensor\.gguf: llama\.cpp could not load this model \(Failed to load model: .*wrong number of tensors/);
      assert.ok(c.running, "a rejection is not a crash");
    } finally {
      c.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("requests arriving during the restart backoff share one engine, and dispose() ends it", async () => {
    const c = engineClient();
    let pids: number[] = [];
    try {
      await c.load(load(model));
      const first = c.pid!;
      process.kill(first, "SIGKILL");
      await until("the engine exited", () => !c.running);
      const results = await Promise.all(
        Array.from({ length: 4 }, () => c.generate({ prompt, mode: "explicit", weights: {}, maxTokens: 2, temperature: 0 })),
      );
      assert.equal(results.length, 4);
      pids = enginePids();
      assert.deepEqual(pids, [c.pid], "one engine after the restart");
      assert.notEqual(pids[0], first);
    } finally {
      pids = enginePids();
      c.dispose();
    }
    await until("every engine process exited", () => pids.every((p) => !alive(p)));
  });

  it("a request or a cancel sent as the engine dies fails that request, nothing is thrown", async () => {
    const uncaught: Error[] = [];
    const onUncaught = (e: Error) => uncaught.push(e);
    process.on("uncaughtException", onUncaught);
    const c = engineClient();
    try {
      await c.load(load(model));
      const ac = new AbortController();
      const running = c.generate({ prompt, mode: "explicit", weights: {}, maxTokens: 200, temperature: 1, seed: 1 }, { signal: ac.signal });
      running.catch(() => {});
      // A dying engine's channel closes before its exit is seen: the cancel and the next request go to a closed channel.
      (c as unknown as { child: ChildProcess }).child.disconnect();
      ac.abort();
      const sentLate = c.generate({ prompt, mode: "explicit", weights: {}, maxTokens: 2, temperature: 0 });
      sentLate.catch(() => {});
      await until("the engine exited", () => !c.running);
      await assert.rejects(running, (e: Error & { code?: string }) => e.code === "engine-crashed" || e.code === "cancelled");
      // The late request either failed with the crash or was served by the restarted engine.
      await sentLate.then(
        (r) => assert.ok(r.tokens.length > 0),
        (e: Error & { code?: string }) => assert.equal(e.code, "engine-crashed", e.message),
      );
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(uncaught.map((e) => e.message), []);
    } finally {
      process.off("uncaughtException", onUncaught);
      c.dispose();
    }
  });
});
