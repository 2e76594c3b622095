import assert from "node:assert/strict";
import { completionsEnabledFor, parseGpuLayers } from "../../../src/core/editor/settings";

describe("settings helpers", () => {
  it("parses GPU layers: auto, max or a whole number; anything else is auto", () => {
    assert.equal(parseGpuLayers("auto"), "auto");
    assert.equal(parseGpuLayers("max"), "max");
    assert.equal(parseGpuLayers("0"), 0);
    assert.equal(parseGpuLayers("33"), 33);
    for (const bad of ["", " ", "-1", "2.5", "all"]) assert.equal(parseGpuLayers(bad), "auto", bad);
  });

  it("switches completions per language, with * as the default and the global switch first", () => {
    const languages = { "*": true, markdown: false };
    assert.equal(completionsEnabledFor({ enabled: true, languages }, "typescript"), true);
    assert.equal(completionsEnabledFor({ enabled: true, languages }, "markdown"), false);
    assert.equal(completionsEnabledFor({ enabled: true, languages: { "*": false, python: true } }, "python"), true);
    assert.equal(completionsEnabledFor({ enabled: true, languages: { "*": false } }, "go"), false);
    assert.equal(completionsEnabledFor({ enabled: true, languages: {} }, "go"), true);
    assert.equal(completionsEnabledFor({ enabled: false, languages }, "typescript"), false);
  });
});
