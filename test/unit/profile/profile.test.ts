import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { exportProfile, importProfile, PROFILE_PATH, ProfileError, type CurrentBasis, type Profile } from "../../../src/core/profile/profile";

const basis: CurrentBasis = { id: "coding", version: "1.0.0", dimensions: ["concise", "comments", "tests-first"] };
const profile: Profile = {
  schema: 1,
  basis: { id: "coding", version: "1.0.0" },
  sliders: { concise: { value: 1.5, locked: true }, comments: { value: 0, locked: false } },
  weights: { concise: { mean: 1.2, std: 0.1 }, "tests-first": { mean: -0.2, std: 0.4 } },
};

describe("profile export/import", () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "soup-profile-"));
    file = path.join(dir, PROFILE_PATH);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("round-trips through .vscode/spectral-soup.json, pretty-printed, with no temp file left", async () => {
    await exportProfile(file, profile);
    assert.deepEqual(await importProfile(file, basis), profile);
    const text = await readFile(file, "utf8");
    assert.ok(text.startsWith('{\n  "schema": 1,') && text.endsWith("}\n"), text);
    assert.deepEqual(await readdir(path.dirname(file)), ["spectral-soup.json"]);
  });

  it("accepts a profile without weights and another version of the same basis", async () => {
    const { weights: _omitted, ...noWeights } = profile;
    await exportProfile(file, { ...noWeights, basis: { id: "coding", version: "2.0.0" } });
    const got = await importProfile(file, basis);
    assert.equal(got.weights, undefined);
    assert.equal(got.basis.version, "2.0.0");
  });

  /** Imports `content` and checks the error names the file and the field; the current profile stays as it was. */
  async function rejects(content: string, field: string, pattern: RegExp): Promise<void> {
    await exportProfile(file, profile);
    const before = await readFile(file, "utf8");
    const bad = path.join(dir, "bad.json");
    await writeFile(bad, content);
    await assert.rejects(importProfile(bad, basis), (e: ProfileError) => {
      assert.ok(e instanceof ProfileError);
      assert.equal(e.file, bad);
      assert.equal(e.field, field);
      assert.ok(e.message.startsWith(`${bad}: `), e.message);
      assert.match(e.message, /current profile is kept/);
      assert.match(e.message, pattern);
      return true;
    });
    assert.equal(await readFile(file, "utf8"), before, "the current profile file is untouched");
    assert.equal(await readFile(bad, "utf8"), content, "a failed import leaves the file alone");
  }

  it("rejects a malformed file with a clear error, keeping the current profile", async () => {
    await rejects('{"schema": 1, "basis": ', "$", /not valid JSON/);
    await rejects("[1, 2]", "$", /must be a JSON object/);
  });

  it("rejects a wrong schema and another basis", async () => {
    await rejects(JSON.stringify({ ...profile, schema: 2 }), "$.schema", /\$\.schema must be 1 \(got 2\): written by a newer Spectral Soup/);
    await rejects(JSON.stringify({ ...profile, schema: "1" }), "$.schema", /must be 1 \(got a string \(1 chars\)\)/);
    await rejects(JSON.stringify({ ...profile, basis: { id: "writing", version: "1" } }), "$.basis.id", /for basis "writing", but the current basis is "coding"/);
    await rejects(JSON.stringify({ ...profile, basis: "coding" }), "$.basis", /must be \{id, version\}/);
  });

  it("rejects unknown dimension ids, naming the known ones", async () => {
    await rejects(
      JSON.stringify({ ...profile, sliders: { ...profile.sliders, verbose: { value: 1, locked: false } } }),
      "$.sliders.verbose",
      /\$\.sliders\.verbose unknown dimension id \(the basis "coding" has: concise, comments, tests-first\)/,
    );
    await rejects(JSON.stringify({ ...profile, weights: { __proto__x: { mean: 0, std: 1 } } }), "$.weights.__proto__x", /unknown dimension id/);
  });

  it("rejects non-finite, out-of-range and mistyped values, listing every problem", async () => {
    // JSON has no NaN or Infinity; a huge literal parses to Infinity.
    await rejects('{"schema":1,"basis":{"id":"coding","version":"1"},"sliders":{"concise":{"value":1e999,"locked":false}}}', "$.sliders.concise.value", /must be a finite number \(got Infinity\)/);
    await rejects(JSON.stringify({ ...profile, sliders: { concise: { value: 5, locked: false } } }), "$.sliders.concise.value", /must be in \[-0\.5, 2\]/);
    await rejects(JSON.stringify({ ...profile, sliders: { concise: { value: null, locked: "yes" } } }), "$.sliders.concise.value", /value must be a finite number \(got null\)\n\s+\$\.sliders\.concise\.locked must be true or false/);
    await rejects(JSON.stringify({ ...profile, weights: { concise: { mean: 1, std: -1 } } }), "$.weights.concise.std", /std must be in \[0, Infinity\]/);
    await rejects(JSON.stringify({ ...profile, extra: true }), "$.extra", /is not a profile field/);
  });

  it("names an unreadable file", async () => {
    await assert.rejects(importProfile(path.join(dir, "missing.json"), basis), (e: ProfileError) => /missing\.json: cannot read the profile \(ENOENT\)/.test(e.message));
  });

  it("never blocks on a FIFO, never quotes a symlink target's bytes, and truncates echoed ids", async function () {
    const fifo = path.join(dir, "fifo.json");
    try {
      execFileSync("mkfifo", [fifo]);
    } catch {
      this.skip(); // no mkfifo here
    }
    await assert.rejects(importProfile(fifo, basis), /fifo\.json: cannot read the profile \(not a regular file\)/);
    const secret = path.join(dir, "secret.txt");
    await writeFile(secret, "SECRET-TOKEN-abc123 not json");
    const link = path.join(dir, "link.json");
    await symlink(secret, link);
    await assert.rejects(importProfile(link, basis), (e: Error) => {
      assert.match(e.message, /link\.json: not valid JSON/);
      assert.ok(!/SECRET|abc123/.test(e.message), e.message);
      return true;
    });
    await writeFile(secret, JSON.stringify({ schema: 1, basis: { id: "coding", version: "1" }, sliders: { ["x".repeat(5000)]: { value: 1, locked: false }, concise: { value: "SECRET-TOKEN" } } }));
    await assert.rejects(importProfile(link, basis), (e: Error) => {
      assert.ok(e.message.length < 600 && !/SECRET|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/.test(e.message), e.message);
      assert.match(e.message, /<an id of 5000 characters>/);
      return true;
    });
  });
});
