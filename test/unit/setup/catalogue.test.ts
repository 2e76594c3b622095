import assert from "node:assert/strict";
import * as path from "node:path";
import { CatalogueError, loadCatalogue, validateCatalogue } from "../../../src/core/setup/catalogue";

const CATALOGUE = path.resolve(__dirname, "../../../models/catalogue.json");

const model = {
  id: "m",
  name: "M",
  url: "https://example.org/m.gguf",
  sizeBytes: 10,
  sha256: "a".repeat(64),
  license: "apache-2.0",
  contextLength: 4096,
  note: "n",
  verified: true,
};

function problems(raw: unknown): string {
  try {
    validateCatalogue(raw, "catalogue.json");
  } catch (e) {
    assert.ok(e instanceof CatalogueError);
    return e.message;
  }
  assert.fail("catalogue was accepted");
}

describe("model catalogue", () => {
  it("loads the shipped catalogue: laptop-sized FIM models, unverified values left null", async () => {
    const cat = await loadCatalogue(CATALOGUE);
    assert.ok(cat.models.length >= 3);
    assert.ok(cat.models.some((m) => m.verified));
    for (const m of cat.models) {
      if (m.sizeBytes !== null) assert.ok(m.sizeBytes < 4e9, `${m.id} fits a laptop`);
      if (m.verified) assert.ok(m.sizeBytes !== null && m.sha256 !== null, m.id);
    }
  });

  it("names the JSON path of each problem", () => {
    const msg = problems({
      version: "1",
      models: [
        { ...model, sha256: "XYZ" },
        { ...model, url: "http://example.org/m.bin", sizeBytes: -1, verified: "yes" },
        { ...model, verified: true, sizeBytes: null },
      ],
    });
    assert.match(msg, /\$\.models\[0\]\.sha256 must be 64 lowercase hex digits or null/);
    assert.match(msg, /\$\.models\[1\]\.id "m" is used twice/);
    assert.match(msg, /\$\.models\[1\]\.url must be an https URL of a \.gguf file/);
    assert.match(msg, /\$\.models\[1\]\.sizeBytes must be a positive integer or null/);
    assert.match(msg, /\$\.models\[1\]\.verified must be true or false/);
    assert.match(msg, /\$\.models\[2\]\.verified is true but sizeBytes or sha256 is null/);
  });

  it("rejects an empty catalogue and unreadable files", async () => {
    assert.match(problems({ version: "1", models: [] }), /\$\.models must be a non-empty array/);
    await assert.rejects(loadCatalogue(path.join(__dirname, "missing.json")), /missing\.json: cannot read model catalogue \(ENOENT\)/);
  });
});
