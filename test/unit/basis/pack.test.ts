import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BasisPackError, checkPackAgainstModel, fimExemplar, loadBasisPack, validateBasisPack } from "../../../src/core/basis/pack";

const DEFAULT_PACK = path.resolve(__dirname, "../../../models/default-pack.json");

const prompted = (id: string) => ({
  id,
  label: id,
  description: `${id} style`,
  kind: "prompted",
  chat: "Write code this way.",
  fim: "// Style: this way.",
  default: 0,
});

/** The validator's message for a manifest, which must be rejected. */
function problems(raw: unknown): string {
  try {
    validateBasisPack(raw, "pack.json");
  } catch (e) {
    assert.ok(e instanceof BasisPackError);
    return e.message;
  }
  assert.fail("manifest was accepted");
}

describe("default basis pack", () => {
  it("loads and validates with the eight coding dimensions", async () => {
    const pack = await loadBasisPack(DEFAULT_PACK);
    assert.equal(pack.id, "coding-default");
    assert.equal(pack.version, "1");
    const ids = pack.policies.map((p) => p.id);
    for (const id of ["concise", "commented", "typed", "defensive", "functional", "descriptive-names", "tests", "explained"]) {
      assert.ok(ids.includes(id), `missing ${id}`);
    }
  });

  it("has prompted experts with a short line-comment FIM header and a neutral default", async () => {
    const pack = await loadBasisPack(DEFAULT_PACK);
    for (const p of pack.policies) {
      assert.equal(p.kind, "prompted", p.id);
      if (p.kind !== "prompted") continue;
      assert.equal(p.default, 0, p.id);
      assert.ok(p.description.length <= 80 && !p.description.includes("\n"), `${p.id}: description is one short line`);
      const lines = p.fim.split("\n");
      assert.ok(lines.length >= 1 && lines.length <= 3, `${p.id}: 1-3 header lines`);
      // "// " marks a comment line that fimHeader() rewrites to the file's comment syntax.
      for (const line of lines) assert.match(line, /^\/\/ \S/, `${p.id}: header line is a // comment`);
    }
  });
});

describe("basis pack validation", () => {
  const valid = { id: "p", version: "1", label: "P", policies: [prompted("a"), prompted("b")] };

  it("accepts a well-formed manifest", () => {
    assert.equal(validateBasisPack(valid, "pack.json").policies.length, 2);
  });

  it("names the JSON path of missing fields", () => {
    const { chat: _chat, ...noChat } = prompted("a");
    const msg = problems({ version: "1", label: "P", policies: [noChat, { ...prompted("b"), label: "" }] });
    assert.match(msg, /^pack\.json: invalid basis pack/);
    assert.match(msg, /\$\.id must be a non-empty string/);
    assert.match(msg, /\$\.policies\[0\]\.chat must be a non-empty string/);
    assert.match(msg, /\$\.policies\[1\]\.label must be a non-empty string/);
  });

  it("names the second use of a duplicate id", () => {
    const msg = problems({ ...valid, policies: [prompted("a"), prompted("b"), prompted("a")] });
    assert.match(msg, /\$\.policies\[2\]\.id "a" is used twice/);
    assert.doesNotMatch(msg, /policies\[0\]/);
  });

  it("rejects an empty basis", () => {
    assert.match(problems({ ...valid, policies: [] }), /\$\.policies must be a non-empty array/);
  });

  it("names an unknown kind", () => {
    const msg = problems({ ...valid, policies: [prompted("a"), { ...prompted("b"), kind: "magic" }] });
    assert.match(msg, /\$\.policies\[1\]\.kind must be "prompted", "adapter" or "model" \(got "magic"\)/);
  });

  it("reports every problem at once", () => {
    const msg = problems({ ...valid, policies: [{ ...prompted("a"), default: "0" }, { ...prompted("Bad Id") }] });
    assert.match(msg, /\$\.policies\[0\]\.default must be a number/);
    assert.match(msg, /\$\.policies\[1\]\.id must match/);
  });

  it("resolves adapter paths against the manifest folder and names unreadable files", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "pack-"));
    try {
      const file = path.join(dir, "pack.json");
      const adapter = { id: "a", label: "A", description: "A", kind: "adapter", path: "a.gguf", default: 0 };
      await fs.writeFile(file, JSON.stringify({ ...valid, policies: [adapter] }));
      const pack = await loadBasisPack(file);
      assert.deepEqual(pack.policies[0], { ...adapter, path: path.join(dir, "a.gguf") });
      await assert.rejects(loadBasisPack(path.join(dir, "missing.json")), /missing\.json: cannot read basis pack \(ENOENT\)/);
      await fs.writeFile(file, "{ not json");
      await assert.rejects(loadBasisPack(file), /pack\.json: not valid JSON/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe("demo basis packs (tinycoder)", () => {
  const DEMO = path.resolve(__dirname, "../../../models/demo");

  it("the adapter pack names the four style adapters, which exist next to it and fit the model", async () => {
    const pack = await loadBasisPack(path.join(DEMO, "pack.json"));
    assert.deepEqual(pack.policies.map((p) => p.id), ["comments", "single-quotes", "four-spaces", "no-semicolons"]);
    for (const p of pack.policies) {
      assert.equal(p.kind, "adapter");
      if (p.kind === "adapter") await fs.access(p.path);
    }
    assert.deepEqual(await checkPackAgainstModel(pack, path.join(DEMO, "tinycoder.gguf")), []);
  });

  it("the exemplar pack gives code, not prose, per language, and nothing where a style does not apply", async () => {
    const pack = await loadBasisPack(path.join(DEMO, "exemplars.json"));
    for (const p of pack.policies) {
      assert.equal(p.kind, "prompted");
      if (p.kind !== "prompted") continue;
      const ts = fimExemplar(p.exemplars, "typescript");
      assert.ok(ts && /[;{}()=]/.test(ts), `${p.id}: a TypeScript exemplar that is code`);
      assert.doesNotMatch(ts!, /Style:/);
      assert.equal(fimExemplar(p.exemplars, "typescriptreact"), ts);
    }
    const byId = Object.fromEntries(pack.policies.map((p) => [p.id, p]));
    const exemplars = (id: string) => (byId[id].kind === "prompted" ? byId[id].exemplars : undefined);
    assert.equal(fimExemplar(exemplars("no-semicolons"), "python"), "", "no semicolon style to show in Python");
    assert.match(fimExemplar(exemplars("comments"), "python")!, /^# /);
    assert.equal(fimExemplar(exemplars("comments"), undefined), undefined, "no language: the fim field is used");
  });

  it("rejects exemplars that are not language ids to snippets", () => {
    const bad = { ...prompted("x"), exemplars: { "Type Script": "", python: 3 } };
    const msg = problems({ id: "p", version: "1", label: "P", policies: [bad] });
    assert.match(msg, /key "Type Script" must be comma-separated language ids/);
    assert.match(msg, /exemplars\["python"\] must be a non-empty code snippet/);
  });
});
