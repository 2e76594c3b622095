import assert from "node:assert/strict";
import { completionsEnabledFor } from "../../../src/core/completion/settings";

describe("completion settings", () => {
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
