import * as assert from "node:assert/strict";
import { addStyleCounts, EMPTY_STYLE_COUNTS, styleCounts, styleLanguage, styleMetrics } from "../../../src/core/style/metrics";

describe("style metrics", () => {
  it("maps language ids and extensions to a lexer family", () => {
    assert.equal(styleLanguage("typescriptreact"), "js");
    assert.equal(styleLanguage(".mjs"), "js");
    assert.equal(styleLanguage("py"), "python");
    assert.equal(styleLanguage("rust"), undefined);
  });

  it("comment share: lines whose first character is in a comment, with the prefix's open block comment", () => {
    const c = styleCounts("/**\n", " * Adds.\n */\nfunction add(a, b) {\n  return a + b; // sum\n}\n", "js");
    // " * Adds.", " */", "function ...", "  return ...", "}" : 5 non-blank lines, 2 start in the doc comment.
    assert.equal(c.lines, 5);
    assert.equal(c.commentLines, 2);
    assert.equal(styleMetrics(c).commentShare, 2 / 5);
  });

  it("a // inside a string or a URL is not a comment, a regex with quotes is not a string", () => {
    const c = styleCounts("", "const u = \"http://x\";\nconst r = /'[a-z]\"/g;\n", "js");
    assert.equal(c.commentLines, 0);
    assert.equal(c.doubleQuoted, 1);
    assert.equal(c.singleQuoted, 0);
    assert.equal(c.semicolons, 2);
  });

  it("quote share counts closed one-line literals that open in the completion; templates do not count", () => {
    const c = styleCounts("const a = 'x", "';\nconst b = 'y';\nconst c = \"z\";\nconst t = `${'q'} \"n\"`;\nconst d = 'open\n", "js");
    // The literal opened in the prefix is not the completion's; 'open is not closed; the template's `'q'` is code
    // inside ${} and counts, the template's "n" is template text and does not.
    assert.equal(c.singleQuoted, 2);
    assert.equal(c.doubleQuoted, 1);
    assert.equal(styleMetrics(c).singleQuoteShare, 2 / 3);
  });

  it("indentation: lines that start in the completion, spaces only, with the 2 mod 4 signature", () => {
    const c = styleCounts("if (x) {", "\n  a();\n    b();\n\tc();\n}\n", "js");
    assert.equal(c.indentedLines, 2);
    assert.equal(c.indentSum, 6);
    assert.equal(c.indent2mod4, 1);
    assert.deepEqual([styleMetrics(c).meanIndent, styleMetrics(c).indent2mod4Share], [3, 0.5]);
    // The first line continues the prefix's line: its indent is the prefix's, not the completion's.
    assert.equal(styleCounts("  ", "x = 1;\n", "js").indentedLines, 0);
  });

  it("semicolon share: complete statement lines only; continuations, control lines and closers do not count", () => {
    const c = styleCounts("", "const a = 1;\nconst b = 2\nif (a) {\nfoo(a,\n  b)\n});\nreturn x; // done\nlet z = 3;", "js");
    // statements: a (;), b, "  b)", "return x;" ; the last line has no newline and generation did not stop.
    assert.equal(c.statements, 4);
    assert.equal(c.semicolons, 2);
    const stopped = styleCounts("", "let z = 3;", "js", true);
    assert.deepEqual([stopped.statements, stopped.semicolons], [1, 1]);
  });

  it("python: # comments and docstrings are comments, triple quotes are not quote literals, no JS metrics", () => {
    const c = styleCounts("def f(x):\n", "    \"\"\"Doc.\n    more\"\"\"\n    # why\n    s = 'a' + \"b\"\n    t = \"\"\"x\"\"\"\n    return x;\n", "python");
    assert.equal(c.lines, 6);
    assert.equal(c.commentLines, 3);
    assert.deepEqual([c.singleQuoted, c.doubleQuoted], [1, 1]);
    assert.deepEqual([c.indentedLines, c.statements], [0, 0]);
  });

  it("sums counts across completions and reports null for a ratio with nothing to count", () => {
    const a = styleCounts("", "// a\nx();\n", "js");
    const b = styleCounts("", "y();\nz();\n", "js");
    const sum = addStyleCounts(addStyleCounts(EMPTY_STYLE_COUNTS, a), b);
    assert.equal(styleMetrics(sum).commentShare, 1 / 4);
    assert.equal(styleMetrics(sum).semicolonShare, 1);
    assert.equal(styleMetrics(sum).singleQuoteShare, null);
    assert.equal(styleMetrics(EMPTY_STYLE_COUNTS).commentShare, null);
  });

  it("never throws and keeps every count within its denominator on arbitrary text", () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const alphabet = ["/", "*", "'", '"', "`", "$", "{", "}", "\\", "\n", " ", "  ", ";", "#", "a", "=", "(", ")", "[", "]"];
    for (let i = 0; i < 500; i++) {
      const text = Array.from({ length: 40 }, () => alphabet[Math.floor(rand() * alphabet.length)]).join("");
      const cut = Math.floor(rand() * text.length);
      for (const lang of ["js", "python"] as const) {
        const c = styleCounts(text.slice(0, cut), text.slice(cut), lang, rand() < 0.5);
        assert.ok(c.commentLines <= c.lines && c.semicolons <= c.statements && c.indent2mod4 <= c.indentedLines, JSON.stringify({ text, cut, c }));
        for (const v of Object.values(c)) assert.ok(Number.isInteger(v) && v >= 0);
      }
    }
  });
});
