import * as assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isCorpusFile, readCorpus, selectWithinBudget, WORKSPACE_CORPUS } from "../../../src/core/basis/corpus";

describe("corpus: the workspace file filter", () => {
  it("reads source files by extension (any case), not data, docs, lockfiles or minified bundles", () => {
    for (const name of ["src/a.ts", "lib/B.PY", "x/main.go", "k.rs", "App.tsx", "build.sh", "a/b/c.cpp"]) assert.ok(isCorpusFile(name, WORKSPACE_CORPUS), name);
    for (const name of ["package-lock.json", "README.md", "data.csv", "app.min.js", "style.min.css", "image.png", "Makefile", "notes.txt"]) {
      assert.ok(!isCorpusFile(name, WORKSPACE_CORPUS), name);
    }
  });

  it("keeps everything under the budget, and a stable hash-spread subset over it", () => {
    const files = Array.from({ length: 40 }, (_, i) => ({ path: `/w/dir${i % 4}/f${i}.ts`, size: 100 }));
    assert.equal(selectWithinBudget(files, 4000).length, 40);
    const kept = selectWithinBudget(files, 1000);
    assert.equal(kept.length, 10);
    // Tree order is kept, the choice does not depend on the input order, and it is not just the first folder.
    assert.deepEqual(kept, files.filter((f) => kept.includes(f)));
    assert.deepEqual(selectWithinBudget([...files].reverse(), 1000).map((f) => f.path).sort(), kept.map((f) => f.path).sort());
    assert.ok(new Set(kept.map((f) => path.dirname(f.path))).size > 1);
    // A file larger than what is left is skipped, smaller ones still fill the budget.
    assert.deepEqual(selectWithinBudget([{ path: "big", size: 900 }, { path: "a", size: 60 }, { path: "b", size: 40 }], 100).map((f) => f.path).sort(), ["a", "b"]);
  });

  it("walks a workspace: skips node_modules, .git and dist, applies the filter and the budget", async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), "corpus-"));
    try {
      const write = async (rel: string, text: string) => {
        await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
        await fs.writeFile(path.join(root, rel), text);
      };
      await write("src/a.ts", "export const a = 1;\n");
      await write("src/b.py", "def b():\n    return 2\n");
      await write("README.md", "# docs\n");
      await write("node_modules/dep/index.js", "module.exports = 1;\n");
      await write(".git/HEAD", "ref: refs/heads/main\n");
      await write("dist/bundle.js", "var x=1;\n");
      await write("src/bin.ts", "\0\0binary");
      const rel = (files: { path: string }[]) => files.map((f) => path.relative(root, f.path)).sort();
      assert.deepEqual(rel(await readCorpus(root, WORKSPACE_CORPUS)), ["src/a.ts", "src/b.py"]);
      // Without a filter every text file outside skipped folders is read (the CLI's corpus folders).
      assert.deepEqual(rel(await readCorpus(root)), ["README.md", "src/a.ts", "src/b.py"]);
      // Over budget: one of the two source files (20 and 24 bytes), whichever comes first in hash order.
      await fs.rm(path.join(root, "src/bin.ts"));
      assert.equal((await readCorpus(root, { ...WORKSPACE_CORPUS, maxTotalBytes: 25 })).length, 1);
      await write("docs/guide.md", "# guide\n");
      await assert.rejects(readCorpus(path.join(root, "docs"), WORKSPACE_CORPUS), /no source files to learn from/);
      // A file given as the corpus itself is read whatever its extension.
      assert.deepEqual(rel(await readCorpus(path.join(root, "README.md"), WORKSPACE_CORPUS)), ["README.md"]);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
