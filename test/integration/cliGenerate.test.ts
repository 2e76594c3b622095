// `soup generate` runs the model in an engine process: a good model generates, a bad one ends the command with one
// line naming the file and the reason (never a stack or a native assertion of this process).
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import { readGguf, readTensorBytes } from "../../src/core/gguf/reader";
import { kv } from "../../src/core/gguf/types";
import { writeGguf } from "../../src/core/gguf/writer";
import { tinyModel } from "../support/engine";

const CLI = path.resolve(__dirname, "../../src/cli/main.ts");
const soup = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], { encoding: "utf8", timeout: 120_000 });

describe("soup generate (engine in a child process)", function () {
  it("generates from a model, and names the file and the reason for one llama.cpp would not survive", async () => {
    const model = await tinyModel();
    const ok = soup("generate", "--model", model, "--prompt", "a", "--max-tokens", "3", "--gpu", "off", "--threads", "1", "--json");
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(JSON.parse(ok.stdout.trim().split("\n").pop()!).tokens.length > 0);

    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "soup-cli-"));
    try {
      const f = await readGguf(model);
      const tensors = [];
      for (const t of f.tensors) tensors.push({ name: t.name, dims: t.dims, ggmlType: t.type, bytes: await readTensorBytes(f, t.name) });
      const bad = path.join(dir, "bert-tokenizer.gguf");
      await writeGguf(bad, { metadata: [...f.metadata.values()].map((m) => (m.key === "tokenizer.ggml.model" ? kv.str(m.key, "bert") : m)), tensors });
      const r = soup("generate", "--model", bad, "--prompt", "a", "--gpu", "off", "--threads", "1");
      assert.equal(r.signal, null);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr.trim(), /^soup: .*bert-tokenizer\.gguf: tokenizer\.ggml\.model is "bert"; a generation model needs one of llama, gpt2$/m);
      assert.doesNotMatch(r.stderr, /GGML_ASSERT|\n\s+at /);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
