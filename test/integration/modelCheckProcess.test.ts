// "Set Up Model" checks a chosen file in a process of its own: the extension host never parses it. A process that
// dies (a reader bug, an abort) or runs too long is a failed check with a message, not a dead extension host.
import * as assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { checkModelInProcess, type BasisJobOptions } from "../../src/engine/basisJobClient";
import { sparseHugeKeyFile } from "../support/ggufFuzz";
import { tinyModel } from "../support/engine";

const REPO = path.resolve(__dirname, "../..");
const inProcess: BasisJobOptions = { entry: path.join(REPO, "src/engine/basisJobProcess.ts"), execArgv: ["--import", "tsx"] };

describe("model check in a process of its own", function () {
  let dir: string;
  before(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), "soup-check-"))));
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it("accepts a model and rejects a hostile file, with the file named", async () => {
    const ok = await checkModelInProcess(await tinyModel(), inProcess);
    assert.equal(ok.ok, true, ok.message);
    assert.equal(ok.architecture, "llama");
    const huge = path.join(dir, "huge-key.gguf");
    await sparseHugeKeyFile(huge, 3 * 2 ** 30, 2_500_000_000n);
    const bad = await checkModelInProcess(huge, inProcess);
    assert.equal(bad.ok, false);
    assert.match(bad.message, /huge-key\.gguf: metadata entry 0: key length 2500000000 is more than/);
  });

  it("a check process that aborts is a failed check naming the file", async () => {
    const entry = path.join(dir, "aborts.js");
    await fs.writeFile(entry, "process.on('message', () => process.abort());\n");
    const r = await checkModelInProcess(path.join(dir, "any.gguf"), { entry });
    assert.equal(r.ok, false);
    assert.match(r.message, /any\.gguf: the check of this file failed \(the checkModel process was killed \(SIGABRT\) before it finished\)/);
  });
});
