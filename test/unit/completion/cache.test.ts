import assert from "node:assert/strict";
import { CompletionCache } from "../../../src/core/completion/cache";

describe("CompletionCache", () => {
  it("serves exact hits keyed by prefix and suffix", () => {
    const cache = new CompletionCache();
    cache.set("const x = ", ";\n", ["42", "foo()"]);
    assert.deepEqual(cache.get("const x = ", ";\n"), ["42", "foo()"]);
    assert.equal(cache.get("const x = ", ";\nmore"), undefined);
    assert.equal(cache.get("const y = ", ";\n"), undefined);
  });

  it("evicts the least recently used entry", () => {
    const cache = new CompletionCache(2);
    cache.set("a", "", ["1"]);
    cache.set("b", "", ["2"]);
    cache.get("a", "");
    cache.set("c", "", ["3"]);
    assert.equal(cache.size, 2);
    assert.deepEqual(cache.get("a", ""), ["1"]);
    assert.equal(cache.get("b", ""), undefined);
    assert.deepEqual(cache.get("c", ""), ["3"]);
  });

  it("overwrites an entry set twice", () => {
    const cache = new CompletionCache();
    cache.set("a", "", ["1"]);
    cache.set("a", "", ["2"]);
    assert.equal(cache.size, 1);
    assert.deepEqual(cache.get("a", ""), ["2"]);
  });

  it("serves the rest of a suggestion while the user types through it", () => {
    const cache = new CompletionCache();
    const prefix = "function add(a, b) {\n  ";
    cache.set(prefix, "\n}", ["return a + b;"]);
    let typed = "";
    for (const ch of "return a + b") {
      typed += ch;
      assert.deepEqual(cache.lookup(prefix + typed, "\n}"), ["return a + b;".slice(typed.length)], typed);
    }
  });

  it("drops suggestions that do not start with the typed text, and ones typed in full", () => {
    const cache = new CompletionCache();
    cache.set("x = ", "", ["foo()", "bar()", "fo"]);
    assert.deepEqual(cache.lookup("x = fo", ""), ["o()"]);
    assert.equal(cache.lookup("x = baz", ""), undefined);
    assert.equal(cache.lookup("x = foo()", ""), undefined);
  });

  it("prefers an exact hit, then the nearest earlier prefix", () => {
    const cache = new CompletionCache();
    cache.set("x = ", "", ["abcdef"]);
    cache.set("x = ab", "", ["cXYZ"]);
    assert.deepEqual(cache.lookup("x = ab", ""), ["cXYZ"]);
    assert.deepEqual(cache.lookup("x = abc", ""), ["XYZ"]);
    // "x = ab" suggests "c...", "x = " suggests "abc...": neither continues "abd".
    assert.equal(cache.lookup("x = abd", ""), undefined);
  });

  it("requires the same suffix and walks back at most maxWalkBack characters", () => {
    const cache = new CompletionCache(10, 3);
    cache.set("p", "s", ["abcdef"]);
    assert.equal(cache.lookup("pab", "other"), undefined);
    assert.deepEqual(cache.lookup("pabc", "s"), ["def"]);
    assert.equal(cache.lookup("pabcd", "s"), undefined);
  });
});
