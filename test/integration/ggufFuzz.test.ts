// Mutated GGUF models (llama and qwen2, the architectures checked in full) and adapters through the path the
// extension takes: the checks in the calling process, then a real llama.cpp load and a few decoded tokens in the
// engine process. Every case must end in a clear error naming the file or in a load that serves; the engine must
// never crash and nothing may hang.
// SOUP_FUZZ_CASES (default 30) and SOUP_FUZZ_SEED (default 1) run more or other cases.
import * as assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { EngineClient } from "../../src/engine/client";
import { checkAdapters, checkModelFile } from "../../src/engine/loaded";
import type { LoadParams } from "../../src/engine/protocol";
import { asQwen2, makeCase, type FuzzCase } from "../support/ggufFuzz";
import { engineClient, headAdapter, SHARED_MODELS, tinyModel } from "../support/engine";

const CASES = Number(process.env.SOUP_FUZZ_CASES ?? 30);
const SEED = Number(process.env.SOUP_FUZZ_SEED ?? 1);
const CHECK_TIMEOUT_MS = 10_000;
const LOAD_TIMEOUT_MS = 60_000;

class Hang extends Error {}
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Hang(`${what} took more than ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

describe("GGUF fuzzing: mutated models and adapters", function () {
  this.timeout(Math.max(120_000, CASES * 20_000));
  let dir: string;
  before(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "soup-fuzz-"))));
  after(() => rm(dir, { recursive: true, force: true }));

  it(`${CASES} seeded cases (seed ${SEED}): a clean error naming the file or a load that serves, never a crash or a hang`, async () => {
    const tinycoder = path.join(SHARED_MODELS, "tinycoder", "tinycoder.gguf");
    const tinycoderLora = path.join(SHARED_MODELS, "tinycoder", "tinycoder-comments.gguf");
    const shared = existsSync(tinycoder) && existsSync(tinycoderLora);
    // The trained F16 model when present (real layout and vocabulary), the generated one otherwise; as llama and qwen2.
    const llama = shared ? tinycoder : await tinyModel();
    const bases = { models: [llama, await asQwen2(llama, path.join(dir, "qwen2-base.gguf"))], adapter: shared ? tinycoderLora : await headAdapter(3) };
    const counts = { cases: 0, rejectedByChecks: 0, rejectedByLlama: 0, served: 0, crashes: 0, hangs: 0 };
    const failures: string[] = [];
    let client: EngineClient = engineClient();
    const params = (c: FuzzCase): LoadParams => ({
      modelPath: c.kind === "model" ? c.file : llama,
      gpu: "off",
      gpuLayers: 0,
      threads: 1,
      contextSize: 256,
      basis: { kind: "policies", id: "fuzz", version: "1", policies: c.kind === "adapter" ? [{ id: "fuzz", kind: "adapter", path: c.file }] : [] },
    });
    const namesFile = (c: FuzzCase, message: string) => message.includes(path.basename(c.file));
    try {
      for (let i = 0; i < CASES; i++) {
        const c = await makeCase(SEED, i, bases, dir);
        counts.cases++;
        const label = `case ${i} (${c.kind}, ${c.mutation})`;
        let problem: string | undefined;
        try {
          const basis = params(c).basis;
          const policies = basis.kind === "policies" ? basis.policies : [];
          await within(CHECK_TIMEOUT_MS, "the checks", c.kind === "model" ? checkModelFile(c.file) : checkAdapters(llama, policies));
        } catch (e) {
          problem = (e as Error).message;
          if (e instanceof Hang) {
            counts.hangs++;
            failures.push(`${label}: ${problem}`);
            continue;
          }
        }
        if (problem !== undefined) {
          counts.rejectedByChecks++;
          if (!namesFile(c, problem)) failures.push(`${label}: the message does not name the file: ${problem}`);
          continue;
        }
        try {
          await within(LOAD_TIMEOUT_MS, "load and generate", (async () => {
            await client.load(params(c));
            const r = await client.generate({ prompt: { kind: "raw", text: "a" }, mode: "explicit", weights: c.kind === "adapter" ? { fuzz: 1 } : {}, maxTokens: 3, temperature: 0 });
            assert.ok(r.tokens.length > 0 || r.finishReason === "eog", "a served load decodes");
          })());
          counts.served++;
        } catch (e) {
          const message = (e as Error).message;
          if (e instanceof Hang) {
            counts.hangs++;
            failures.push(`${label}: ${message}`);
            client.dispose();
            client = engineClient();
          } else if (/crashed|engine process/.test(message)) {
            counts.crashes++;
            failures.push(`${label}: ${message}`);
          } else {
            counts.rejectedByLlama++;
            if (!namesFile(c, message)) failures.push(`${label}: the message does not name the file: ${message}`);
          }
        }
      }
    } finally {
      client.dispose();
    }
    console.log(`      fuzz seed ${SEED}: ${JSON.stringify(counts)}`);
    assert.deepEqual(failures, [], failures.join("\n"));
    assert.equal(counts.cases, CASES);
  });
});
