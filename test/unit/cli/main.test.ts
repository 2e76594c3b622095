import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { writeSyntheticModel } from "../../../src/core/gguf/synthetic";
import { tempDir } from "../gguf/helpers";

const REPO = path.resolve(__dirname, "../../..");
const CLI = path.join(REPO, "dist", "cli.js");

const SUBCOMMANDS = [
  "generate",
  "next",
  "gguf",
  "gguf inspect",
  "gguf merge",
  "adapt",
  "simulate",
  "distill",
  "basis",
  "basis check",
  "basis import",
  "basis diagnose",
  "bench",
  "bench engine",
];

function soup(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 30_000 });
}

describe("soup command line (the built dist/cli.js)", function () {
  before(function () {
    if (!existsSync(CLI)) execFileSync(process.execPath, [path.join(REPO, "esbuild.mjs")], { cwd: REPO, stdio: "ignore" });
  });

  for (const cmd of SUBCOMMANDS) {
    for (const flag of ["generate", "gguf merge", "basis"].includes(cmd) ? ["--help", "-h"] : ["--help"]) {
      it(`soup ${cmd} ${flag} prints its usage and exits 0`, () => {
        const r = soup([...cmd.split(" "), flag]);
        assert.equal(r.status, 0, r.stderr);
        const name = cmd.split(" ")[0];
        assert.match(r.stdout, new RegExp(`^usage: soup ${name}`));
        assert.equal(r.stderr, "");
      });
    }
  }

  it("an unknown option exits 2 with one line naming it", () => {
    const r = soup(["distill", "--model", "m.gguf", "--bogus"]);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "soup: unknown option --bogus (soup distill --help shows the usage)\n");
  });

  it("a bad value names the flag", () => {
    const r = soup(["simulate", "--users", "zero"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^soup: --users: expected an integer >= 1, got "zero"/);
    assert.equal(r.stderr.split("\n").filter(Boolean).length, 1);
  });

  it("delivers all of a long answer to a slow pipe before exiting", async function () {
    const { dir, cleanup } = await tempDir();
    try {
      // 250 blocks: 2,253 tensors, an --json answer of over 100 kB, more than a pipe buffer holds.
      const model = path.join(dir, "many-tensors.gguf");
      await writeSyntheticModel(model, { seed: 1, nEmbd: 8, nLayer: 250, nHead: 2, nFf: 16 });
      // A shell pipe (Node's own child pipes are socket pairs, written synchronously) read only after the writer
      // has filled it and would have exited.
      const cmd = `"${process.execPath}" "${CLI}" gguf inspect "${model}" --json | (sleep 1.5; cat); exit \${PIPESTATUS[0]}`;
      const child = spawn("bash", ["-c", cmd], { stdio: ["ignore", "pipe", "inherit"] });
      const chunks: Buffer[] = [];
      child.stdout.on("data", (c: Buffer) => chunks.push(c));
      const code = await new Promise<number | null>((r) => child.on("close", r));
      assert.equal(code, 0);
      const text = Buffer.concat(chunks).toString("utf8");
      assert.ok(text.length > 100_000, `only ${text.length} bytes`);
      const parsed = JSON.parse(text) as { tensors: unknown[] };
      assert.equal(parsed.tensors.length, 2253);
    } finally {
      await cleanup();
    }
  });
});
