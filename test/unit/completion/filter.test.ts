import assert from "node:assert/strict";
import { DEFAULT_COMPLETION_SHAPE, isSingleLine, repeatsSuffix, shapeCompletion } from "../../../src/core/completion/filter";
import { fimWindow } from "../../../src/core/completion/fim";

describe("completion filter", () => {
  it("is single-line only when the cursor line has text after the cursor", () => {
    assert.equal(isSingleLine(""), false);
    assert.equal(isSingleLine("   "), false);
    assert.equal(isSingleLine(")"), true);
  });

  it("stops at the end of the line when text follows the cursor", () => {
    const w = fimWindow(["print()", "x = 1"], { line: 0, character: 6 });
    assert.equal(shapeCompletion('"hi"\nprint("again")', w), '"hi"');
  });

  it("keeps multi-line completions up to maxLines, without trailing blank lines", () => {
    const cursor = { lineSuffix: "", suffix: "" };
    const text = Array.from({ length: 30 }, (_, i) => `l${i}`).join("\n");
    assert.equal(shapeCompletion(text, cursor)!.split("\n").length, DEFAULT_COMPLETION_SHAPE.maxLines);
    assert.equal(shapeCompletion(text, cursor, { maxLines: 2 }), "l0\nl1");
    assert.equal(shapeCompletion("a\nb\n\n  \n", cursor), "a\nb");
    assert.equal(shapeCompletion("\n  return 1;", cursor), "\n  return 1;");
  });

  it("drops empty and whitespace-only completions", () => {
    const cursor = { lineSuffix: "", suffix: "" };
    assert.equal(shapeCompletion("", cursor), undefined);
    assert.equal(shapeCompletion("  \n\t", cursor), undefined);
    // One-line mode cannot start a new line inside a line.
    assert.equal(shapeCompletion("\nfoo", { lineSuffix: ")", suffix: ")" }), undefined);
  });

  it("drops a suggestion that repeats the lines below the cursor", () => {
    const w = fimWindow(["def f():", "", "    return 1", "", "x = 2"], { line: 1, character: 0 });
    assert.equal(shapeCompletion("    return 1", w), undefined);
    assert.equal(shapeCompletion("    return 1\n\nx = 2", w), undefined);
    assert.equal(shapeCompletion("    y = 0", w), "    y = 0");
    assert.equal(shapeCompletion("    return 1\n    y = 0", w), "    return 1\n    y = 0");
  });

  it("drops a one-line suggestion that repeats the rest of the cursor line", () => {
    const w = fimWindow(["foo(a, b)"], { line: 0, character: 4 });
    assert.equal(shapeCompletion("a, b)", w), undefined);
    assert.equal(shapeCompletion("x, ", w), "x, ");
  });

  it("repeatsSuffix compares trimmed non-blank lines", () => {
    assert.equal(repeatsSuffix("  }\n", "}\nmore"), true);
    assert.equal(repeatsSuffix("}\n}", "}"), false);
    assert.equal(repeatsSuffix("", "anything"), false);
  });
});
