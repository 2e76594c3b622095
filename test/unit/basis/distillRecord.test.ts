import * as assert from "node:assert/strict";
import { existsSync, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseDistillRecord, readDistillRecord, writeDistillRecord } from "../../../src/core/basis/distillRecord";

describe("background distillation record", () => {
  const good = { key: "k1", status: "ready" as const, fraction: 1, heads: { concise: "/s/concise.gguf" }, experts: 3, updated: "2026-01-01T00:00:00Z" };

  it("reads a well-formed record", () => {
    assert.deepEqual(parseDistillRecord(good, "k1"), good);
  });

  it("counts a record from before the expert count was kept as every expert having its head", () => {
    const { experts: _e, ...old } = good;
    assert.deepEqual(parseDistillRecord(old, "k1"), { ...good, experts: 1 });
  });

  it("names what is wrong with one that cannot be used", () => {
    const cases: [unknown, RegExp][] = [
      [null, /not a JSON object/],
      [[1], /not a JSON object/],
      [{ ...good, key: "k2" }, /another model, pack or workspace/],
      [{ ...good, status: "done" }, /status/],
      [{ ...good, fraction: 2 }, /fraction/],
      [{ ...good, fraction: "0.5" }, /fraction/],
      [{ ...good, heads: { concise: 3 } }, /heads/],
      [{ ...good, experts: 0 }, /experts/],
      [{ ...good, experts: 1.5 }, /experts/],
    ];
    for (const [raw, pattern] of cases) {
      const r = parseDistillRecord(raw, "k1");
      assert.ok("problem" in r, `accepted ${JSON.stringify(raw)}`);
      assert.match(r.problem, pattern);
    }
  });

  describe("on disk", () => {
    let dir: string;
    beforeEach(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), "distill-record-"))));
    afterEach(() => fs.rm(dir, { recursive: true, force: true }));

    it("round-trips a record; no file is no record", async () => {
      const file = path.join(dir, "progress.json");
      assert.deepEqual(await readDistillRecord(file, "k1"), {});
      const head = path.join(dir, "concise.gguf");
      await fs.writeFile(head, "x");
      const record = { ...good, heads: { concise: head } };
      await writeDistillRecord(file, record);
      assert.deepEqual(await readDistillRecord(file, "k1"), { record });
    });

    it("sets a record it cannot use aside, names it and why, and keeps what was beside it", async () => {
      const file = path.join(dir, "progress.json");
      const cache = path.join(dir, "cache", "h-0.gguf");
      await fs.mkdir(path.dirname(cache));
      await fs.writeFile(cache, "collected");
      const cases: [string, RegExp][] = [
        ['{"key": "k1", "status": "rea', /not valid JSON/],
        [JSON.stringify({ ...good, key: "other" }), /another model, pack or workspace/],
        [JSON.stringify(good), /head adapter \/s\/concise\.gguf is gone/],
      ];
      for (const [text, pattern] of cases) {
        await fs.writeFile(file, text);
        const r = await readDistillRecord(file, "k1");
        assert.equal(r.record, undefined);
        assert.ok(r.setAside, `not set aside: ${text}`);
        assert.match(r.setAside.problem, pattern);
        assert.ok(r.setAside.problem.includes(file), "the message names the file");
        assert.equal(await fs.readFile(r.setAside.to, "utf8"), text, "the record is kept under its new name");
        assert.ok(!existsSync(file), "the next run starts over");
      }
      assert.equal(await fs.readFile(cache, "utf8"), "collected");
    });
  });
});
