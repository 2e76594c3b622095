// Engine temp folders (souped adapters): removed when the engine exits on dispose(), and, when it was killed
// before it could clean up, by the next engine that starts.
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { EngineClient } from "../../src/engine/client";
import { removeStaleTempDirs, TEMP_PREFIX } from "../../src/engine/tempDirs";
import { engineClient, headAdapter, tinyModel } from "../support/engine";

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!(await ok())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const dirsOf = async (pid: number) => (await fs.readdir(os.tmpdir())).filter((n) => n.startsWith(`${TEMP_PREFIX}${pid}-`));

describe("engine temp folders", function () {
  it("removes folders whose engine is gone, and old unowned ones, keeping live engines' folders", async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), "soup-tmpdirs-"));
    try {
      const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
      const names = [`${TEMP_PREFIX}${dead}-aaaaaa`, `${TEMP_PREFIX}${process.pid}-bbbbbb`, `${TEMP_PREFIX}cccccc`, `${TEMP_PREFIX}dddddd`];
      for (const n of names) {
        await fs.mkdir(path.join(root, n));
        await fs.writeFile(path.join(root, n, "soup-0.gguf.tmp"), "partial");
      }
      const old = new Date(Date.now() - 2 * 24 * 3600 * 1000);
      await fs.utimes(path.join(root, names[2]!), old, old);
      assert.equal(await removeStaleTempDirs(root), 2);
      assert.deepEqual((await fs.readdir(root)).sort(), [names[1], names[3]].sort());
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it("an engine removes its folder on dispose(), and the next engine removes a killed one's", async () => {
    const model = await tinyModel();
    const heads = await Promise.all([headAdapter(41), headAdapter(42)]);
    const load = {
      modelPath: model,
      gpu: "off" as const,
      gpuLayers: 0,
      threads: 1,
      contextSize: 256,
      basis: { kind: "policies" as const, id: "tmp", version: "1", policies: heads.map((p, i) => ({ id: `h${i}`, kind: "adapter" as const, path: p })) },
    };
    const soupOnce = async (c: EngineClient) => {
      await c.load(load);
      await c.generate({ prompt: { kind: "raw", text: "a" }, mode: "parameter", weights: { h0: 0.5, h1: 0.7 }, maxTokens: 2, temperature: 0 });
      const pid = c.pid!;
      await until("a souped adapter folder exists", async () => (await dirsOf(pid)).length > 0);
      return pid;
    };
    const a = engineClient();
    const pidA = await soupOnce(a);
    a.dispose();
    await until("the disposed engine's folder is gone", async () => (await dirsOf(pidA)).length === 0);

    const b = engineClient();
    const pidB = await soupOnce(b);
    process.kill(pidB, "SIGKILL");
    await until("the killed engine exited", () => !b.running);
    const left = await dirsOf(pidB);
    assert.equal(left.length, 1, "SIGKILL leaves the folder behind");
    b.dispose();
    const c = engineClient();
    try {
      await c.status();
      await until("the next engine removed it", () => !existsSync(path.join(os.tmpdir(), left[0]!)));
    } finally {
      c.dispose();
    }
  });
});
