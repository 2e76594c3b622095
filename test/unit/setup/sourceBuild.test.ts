import * as assert from "node:assert/strict";
import { sourceBuildProgress } from "../../../src/core/setup/sourceBuild";

describe("source build progress", () => {
  it("reads the last ninja step counter of a chunk of output", () => {
    const chunk = "[3/277] Building CXX object CMakeFiles/llama-addon.dir/addon/AddonGrammar.cpp.o\n[4/277] Building CXX object x.o\n";
    assert.equal(sourceBuildProgress(chunk), 4 / 277);
    assert.equal(sourceBuildProgress("[277/277] Linking CXX shared library Release/llama-addon.node"), 1);
  });

  it("ignores output without a counter and counters that cannot be one", () => {
    assert.equal(sourceBuildProgress("-- Build files have been written to: /x"), undefined);
    assert.equal(sourceBuildProgress("[5/0] [9/3]"), undefined);
  });
});
