import assert from "node:assert/strict";
import * as path from "node:path";
import { ggufCommand } from "../../../src/cli/gguf";
import { readLoraAdapter } from "../../../src/core/gguf/lora";
import { metaValue, readGguf } from "../../../src/core/gguf/reader";
import { writeSyntheticAdapter, writeSyntheticModel } from "../../../src/core/gguf/synthetic";
import { kv } from "../../../src/core/gguf/types";
import { writeGguf } from "../../../src/core/gguf/writer";
import { tempDir } from "./helpers";

const BASE = { seed: 1, nEmbd: 32, nLayer: 1, nHead: 2, nFf: 64 };

async function run(args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await ggufCommand(args, (l) => lines.push(l));
  return { code, lines };
}

describe("soup gguf", function () {
  let dir: string;
  let cleanup: () => Promise<void>;
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeSyntheticModel(file("base.gguf"), BASE);
    await writeSyntheticModel(file("expert.gguf"), { ...BASE, seed: 2 });
    await writeSyntheticAdapter(file("a1.gguf"), { seed: 1, base: BASE, rank: 2 });
    await writeSyntheticAdapter(file("a2.gguf"), { seed: 2, base: BASE, target: "attn_ffn", rank: 3 });
  });
  after(() => cleanup());

  it("inspect prints the architecture, metadata, tensors and parameter count", async () => {
    const { code, lines } = await run(["inspect", file("base.gguf")]);
    assert.equal(code, 0);
    assert.match(lines[0]!, /base\.gguf: GGUF v3, [\d.]+ MB, model, architecture llama/);
    assert.match(lines[1]!, /^parameters: [\d,]+ in 12 tensors \(F32 \d+\)$/);
    assert.ok(lines.includes('  llama.embedding_length = 32'));
    assert.ok(lines.some((l) => /^ {2}tokenizer\.ggml\.tokens = \["<unk>", "<s>", .*\(263 items\)\]$/.test(l)));
    assert.ok(lines.some((l) => /^ {2}output\.weight +F32 +\[32, 263\]$/.test(l)));
  });

  it("inspect escapes control characters and bidi overrides from keys, values and tensor names", async () => {
    const evil = file("evil.gguf");
    await writeGguf(evil, {
      metadata: [kv.str("general.architecture", "llama\u001b[2J"), kv.str("key\u001b]0;pwned\u0007", "v\u009b31m\u202e")],
      tensors: [{ name: "w\r\u001b[1A", dims: [4], type: "f32", data: new Float32Array(4) }],
    });
    const { lines } = await run(["inspect", evil]);
    const text = lines.join("\n");
    assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    assert.match(text, /architecture llama\\u001b\[2J/);
    assert.ok(lines.includes('  key\\u001b]0;pwned\\u0007 = "v\\u009b31m\\u202e"'), text);
    assert.match(text, /^ {2}w\\u000d\\u001b\[1A +F32 +\[4\]$/m);
  });

  it("inspect --json gives one parseable object", async () => {
    const { lines } = await run(["inspect", "--json", file("a1.gguf")]);
    assert.equal(lines.length, 1);
    const j = JSON.parse(lines[0]!);
    assert.equal(j.kind, "adapter");
    assert.equal(j.metadata["adapter.lora.alpha"], 2);
    assert.deepEqual(j.tensors[0], { name: "output.weight.lora_a", type: "F32", dims: [32, 2] });
    assert.equal(j.parameters, 32 * 2 + 2 * 263);
  });

  it("merge writes a merged model of the requested type", async () => {
    const out = file("merged.gguf");
    const { code, lines } = await run(["merge", "--base", file("base.gguf"), "--out", out, "--type", "q8_0", `${file("expert.gguf")}=0.5`, `${file("a1.gguf")}=1`]);
    assert.equal(code, 0);
    assert.match(lines[0]!, /^wrote .*merged\.gguf: model, [\d,]+ parameters/);
    assert.equal(metaValue(await readGguf(out), "general.file_type"), 7);
  });

  it("merge --adapter writes one souped adapter of the summed rank", async () => {
    const out = file("souped.gguf");
    const { code } = await run(["merge", "--adapter", "--base", file("base.gguf"), "--out", out, `${file("a1.gguf")}=0.5`, `${file("a2.gguf")}=-1`]);
    assert.equal(code, 0);
    const souped = await readLoraAdapter(out);
    // a1 adapts output.weight (rank 2), a2 the blocks (rank 3): every target is padded to the larger rank.
    assert.equal(souped.alpha, 3);
    assert.deepEqual(souped.pairs.map((p) => p.rank), [3, 3, 3, 3]);
  });

  it("rejects bad input with a one-line reason", async () => {
    const cases: [string[], RegExp][] = [
      [["frobnicate"], /unknown gguf command "frobnicate"/],
      [["inspect"], /missing argument/],
      [["inspect", file("none.gguf")], /none\.gguf: file not found/],
      [["merge", "--out", file("x.gguf"), "a=1"], /--base is required/],
      [["merge", "--base", file("base.gguf"), "--out", file("x.gguf")], /at least one EXPERT=WEIGHT/],
      [["merge", "--base", file("base.gguf"), "--out", file("x.gguf"), `${file("a1.gguf")}=heavy`], /expected EXPERT=WEIGHT with a finite number/],
      [["merge", "--base", file("base.gguf"), "--out", file("x.gguf"), "--type", "q4_k", `${file("a1.gguf")}=1`], /--type: expected one of f32, f16, q8_0/],
      [["merge", "--adapter", "--base", file("base.gguf"), "--out", file("x.gguf"), `${file("expert.gguf")}=1`], /expert\.gguf: not an adapter/],
    ];
    for (const [args, reason] of cases) {
      await assert.rejects(run(args), (err: Error) => {
        assert.match(err.message.split("\n")[0]!, reason, args.join(" "));
        return true;
      });
    }
  });
});
