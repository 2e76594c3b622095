import assert from "node:assert/strict";
import {
  DEFAULT_FIM_LIMITS,
  applyFimHeader,
  commentSyntax,
  fimHeader,
  fimWindow,
} from "../../../src/core/completion/fim";

const doc = (n: number) => Array.from({ length: n }, (_, i) => `line ${i}`);

describe("fimWindow", () => {
  it("splits the cursor line at the cursor", () => {
    const w = fimWindow(["function f() {", "  return 1;", "}"], { line: 1, character: 9 });
    assert.equal(w.prefix, "function f() {\n  return ");
    assert.equal(w.suffix, "1;\n}");
    assert.equal(w.linePrefix, "  return ");
    assert.equal(w.lineSuffix, "1;");
  });

  it("uses llama.vscode's limits by default: 256 lines before, 64 after", () => {
    assert.deepEqual(DEFAULT_FIM_LIMITS, { prefixLines: 256, suffixLines: 64 });
    const w = fimWindow(doc(1000), { line: 500, character: 4 });
    const before = w.prefix.split("\n");
    assert.equal(before.length, 257);
    assert.equal(before[0], "line 244");
    assert.equal(before[256], "line");
    const after = w.suffix.split("\n");
    assert.equal(after.length, 65);
    assert.equal(after[0], " 500");
    assert.equal(after[64], "line 564");
  });

  it("honours custom limits, including zero", () => {
    const w = fimWindow(doc(10), { line: 5, character: 0 }, { prefixLines: 2, suffixLines: 0 });
    assert.equal(w.prefix, "line 3\nline 4\n");
    assert.equal(w.suffix, "line 5");
  });

  it("clamps a cursor outside the document and handles an empty one", () => {
    assert.deepEqual(fimWindow([], { line: 3, character: 7 }), { prefix: "", above: "", suffix: "", linePrefix: "", lineSuffix: "" });
    const w = fimWindow(["ab", "cd"], { line: 9, character: 99 });
    assert.equal(w.prefix, "ab\ncd");
    assert.equal(w.suffix, "");
  });

  it("keeps the whole document when prefix + suffix is reassembled", () => {
    const lines = ["a", "bc", "", "def"];
    const w = fimWindow(lines, { line: 1, character: 1 });
    assert.equal(w.prefix + w.suffix, lines.join("\n"));
    assert.equal(w.above + w.linePrefix, w.prefix);
    assert.equal(w.above, "a\n");
  });
});

describe("FIM style headers", () => {
  const fim = "// Style: every function has a doc comment.";

  it("keeps // comments for C-family languages", () => {
    for (const lang of ["typescript", "javascript", "java", "c", "cpp", "go", "rust", "csharp"]) {
      assert.equal(fimHeader(fim, lang), fim, lang);
    }
  });

  it("rewrites the // marker to the language's line comment", () => {
    assert.equal(fimHeader(fim, "python"), "# Style: every function has a doc comment.");
    assert.equal(fimHeader(fim, "sql"), "-- Style: every function has a doc comment.");
    assert.equal(fimHeader(fim, "clojure"), "; Style: every function has a doc comment.");
  });

  it("wraps lines in a block comment where the language has no line comment", () => {
    assert.equal(fimHeader(fim, "html"), "<!-- Style: every function has a doc comment. -->");
    assert.equal(fimHeader(fim, "css"), "/* Style: every function has a doc comment. */");
  });

  it("keeps exemplar lines that are not // comments and rewrites each comment line", () => {
    const multi = "// Style: tests follow.\nassert f(1) == 2\n// Style: one per case.";
    assert.equal(fimHeader(multi, "python"), "# Style: tests follow.\nassert f(1) == 2\n# Style: one per case.");
  });

  it("gives no header for languages without a known comment syntax", () => {
    assert.equal(commentSyntax("plaintext"), undefined);
    assert.equal(fimHeader(fim, "plaintext"), "");
    assert.equal(fimHeader("", "python"), "");
  });

  it("puts the header on its own line before the prefix, as the engine joins them", () => {
    assert.equal(applyFimHeader("x = ", fim, "python"), "# Style: every function has a doc comment.\nx = ");
    assert.equal(applyFimHeader("x = ", fim, "plaintext"), "x = ");
  });
});
