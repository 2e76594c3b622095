import * as assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { kv } from "../../../src/core/gguf/types";
import { writeSyntheticModel } from "../../../src/core/gguf/synthetic";
import { writeGguf } from "../../../src/core/gguf/writer";
import { validateLocalModel } from "../../../src/core/setup/localModel";

describe("validateLocalModel", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "soup-local-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("accepts a llama model with a large vocabulary", async () => {
    const file = path.join(dir, "ok.gguf");
    await writeSyntheticModel(file, { seed: 1, nEmbd: 16, nLayer: 1, nHead: 2, vocabSize: 20_000 });
    const check = await validateLocalModel(file);
    assert.equal(check.ok, true, check.message);
    assert.equal(check.architecture, "llama");
    assert.match(check.message, /ok\.gguf: GGUF v3, architecture llama, 12 tensors/);
  });

  it("rejects a container that llama.cpp's loader would not survive, naming the key", async () => {
    const file = path.join(dir, "novocab.gguf");
    await writeGguf(file, {
      metadata: [kv.str("general.architecture", "llama")],
      tensors: [{ name: "output.weight", dims: [4, 2], type: "f32", data: new Float32Array(8) }],
    });
    const check = await validateLocalModel(file);
    assert.equal(check.ok, false);
    assert.match(check.message, /novocab\.gguf: tokenizer\.ggml\.model is missing; llama\.cpp cannot load it/);
  });

  it("rejects a missing file", async () => {
    const check = await validateLocalModel(path.join(dir, "nope.gguf"));
    assert.equal(check.ok, false);
    assert.match(check.message, /nope\.gguf: file not found; choose a GGUF model file/);
  });

  it("rejects a file without the GGUF magic", async () => {
    const file = path.join(dir, "model.safetensors");
    await writeFile(file, "{\"not\": \"gguf\"}");
    const check = await validateLocalModel(file);
    assert.equal(check.ok, false);
    assert.match(check.message, /model\.safetensors: not a GGUF file/);
  });

  it("rejects an unsupported version", async () => {
    const file = path.join(dir, "v1.gguf");
    const header = Buffer.alloc(24);
    header.write("GGUF", 0, "latin1");
    header.writeUInt32LE(1, 4);
    await writeFile(file, header);
    const check = await validateLocalModel(file);
    assert.equal(check.ok, false);
    assert.match(check.message, /unsupported GGUF version 1 \(supported: 2, 3\)/);
  });

  it("rejects a truncated header and a file that is not a model", async () => {
    const truncated = path.join(dir, "cut.gguf");
    await writeFile(truncated, Buffer.from("GGUF\x03\x00\x00\x00\x01", "latin1"));
    const a = await validateLocalModel(truncated);
    assert.equal(a.ok, false);
    assert.match(a.message, /cut\.gguf: truncated/);

    const noArch = path.join(dir, "noarch.gguf");
    await writeGguf(noArch, { metadata: [kv.u32("general.alignment", 32)], tensors: [] });
    const b = await validateLocalModel(noArch);
    assert.equal(b.ok, false);
    assert.match(b.message, /no general\.architecture/);

    const noTensors = path.join(dir, "empty.gguf");
    await writeGguf(noTensors, { metadata: [kv.str("general.architecture", "llama")], tensors: [] });
    assert.match((await validateLocalModel(noTensors)).message, /has no tensors/);
  });

  it("rejects a model cut short, as an interrupted copy would be", async () => {
    const full = path.join(dir, "full.gguf");
    await writeGguf(full, {
      metadata: [kv.str("general.architecture", "llama")],
      tensors: [{ name: "output.weight", dims: [64, 64], type: "f32", data: new Float32Array(64 * 64) }],
    });
    const cut = path.join(dir, "half.gguf");
    const bytes = await readFile(full);
    await writeFile(cut, bytes.subarray(0, bytes.length / 2));
    const check = await validateLocalModel(cut);
    assert.equal(check.ok, false);
    assert.match(check.message, /extends past the end of the file/);
  });
});
