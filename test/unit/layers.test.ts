import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { checkImport, checkLayers, importsOf } from "../../scripts/check-layers";

const REPO = path.resolve(__dirname, "../..");

describe("layer check", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), "layers-"));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function write(file: string, text: string): void {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  }

  it("passes on this repository", () => {
    assert.deepEqual(checkLayers(REPO), []);
  });

  it("fails on a deliberately wrong import, naming the file, the line and the import", () => {
    write("src/engine/protocol.ts", "export type X = 1;\n");
    write("src/shared/soup.ts", "export type Y = 2;\n");
    write("src/core/soup/mode.ts", '// a comment: import "../../engine/protocol" is not an import\nimport type { Y } from "../../shared/soup";\nimport type { X } from "../../engine/protocol";\n');
    const violations = checkLayers(root);
    assert.equal(violations.length, 1);
    assert.deepEqual(
      { ...violations[0], why: violations[0]!.why.startsWith("core may not import engine") },
      { file: "src/core/soup/mode.ts", line: 3, specifier: "../../engine/protocol", why: true },
    );
  });

  it("exits 1 and prints the wrong import when run as the script", () => {
    write("src/shared/x.ts", 'import { readFile } from "node:fs";\nexport const f = readFile;\n');
    // The script checks the repository it lives in; a copy in the scratch tree checks the scratch tree.
    write("scripts/check-layers.ts", readFileSync(path.join(REPO, "scripts/check-layers.ts"), "utf8"));
    let out = "";
    let status = 0;
    try {
      execFileSync(process.execPath, ["--import", "tsx", path.join(root, "scripts/check-layers.ts")], { cwd: REPO, stdio: "pipe" });
    } catch (e) {
      const err = e as { status: number; stderr: Buffer };
      status = err.status;
      out = err.stderr.toString();
    }
    assert.equal(status, 1);
    assert.match(out, /src\/shared\/x\.ts:1: import "node:fs": src\/shared imports nothing outside itself/);
  });

  it("applies each layer's rule", () => {
    assert.equal(checkImport("src/core/a/b.ts", "vscode"), "only src/extension may import vscode");
    assert.equal(checkImport("src/extension/a.ts", "vscode"), undefined);
    assert.equal(checkImport("src/core/a/b.ts", "../../shared/soup"), undefined);
    assert.match(checkImport("src/core/a/b.ts", "../../../webview/protocol/chat")!, /core may not import webview/);
    assert.equal(checkImport("src/engine/a.ts", "../core/soup/mix"), undefined);
    assert.match(checkImport("src/engine/a.ts", "../extension/session")!, /engine may not import extension/);
    assert.equal(checkImport("webview/chat.ts", "../src/core/chat/markdown"), undefined);
    assert.match(checkImport("webview/chat.ts", "../src/core/chat/history")!, /webview may not import core/);
    assert.equal(checkImport("src/extension/chatView.ts", "../../webview/protocol/chat"), undefined);
    assert.match(checkImport("src/extension/chatView.ts", "../../webview/chat")!, /extension may not import webview pages/);
    assert.match(checkImport("src/cli/main.ts", "../extension/session")!, /cli may not import extension/);
    assert.equal(checkImport("src/cli/main.ts", "../engine/client"), undefined);
    assert.match(checkImport("src/shared/a.ts", "../core/files")!, /shared may not import core/);
  });

  it("finds static, re-exported, side-effect and dynamic imports, and skips comments", () => {
    const src = [
      'import a from "./a";',
      'import type { B } from "./b";',
      'export { c } from "./c";',
      'import "./d";',
      "const e = await import(\"./e\");",
      '/* import "./f" */',
      '// import "./g"',
      'export type * from "./h";',
    ].join("\n");
    assert.deepEqual(
      importsOf(src).map((i) => `${i.line}:${i.specifier}`),
      ["1:./a", "2:./b", "3:./c", "4:./d", "5:./e", "8:./h"],
    );
  });
});
