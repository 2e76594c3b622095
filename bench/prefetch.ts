// What the speculative completion buys after Tab: `npx tsx bench/prefetch.ts [--lines 12] [--read-ms 500]`.
// The editor's CompletionSession (product settings: debounce 150 ms, multi-line at a line end, <= 32 tokens) on an
// engine process each, tinycoder (../shared/models), with the speculative request on and off, interleaved line by
// line. On each chosen line of a real TypeScript file (this repository's src/core/adapt/store.ts; the line's text
// removed after its first 4 characters): ask for a suggestion, let the user read it for --read-ms, accept it (the
// document now holds it) and time the request at the new cursor until the session answers. Also reported: how many
// speculative requests ran, and how many of those the accepts used.
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { CompletionSession, type CompletionRequest, type CompletionSessionSettings } from "../src/core/completion/session";
import type { GenerateOptions, Generator } from "../src/core/soup/weights";
import { EngineClient } from "../src/engine/client";
import type { GenerateParams, GenerateResult, ScoreResult } from "../src/engine/protocol";

const v = parseArgs({ options: { lines: { type: "string", default: "12" }, "read-ms": { type: "string", default: "500" } } }).values;
const model = path.resolve(__dirname, "../../shared/models/tinycoder/tinycoder.gguf");
if (!existsSync(model)) {
  console.log(`skipped: ${model} is absent`);
  process.exit(0);
}
const FILE = "src/core/adapt/store.ts";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Counting implements Generator {
  readonly policies = [];
  requests = 0;
  constructor(readonly client: EngineClient) {}
  generate(params: GenerateParams, options: GenerateOptions): Promise<GenerateResult> {
    this.requests++;
    return this.client.generate(params, options);
  }
  async score(): Promise<ScoreResult | null> {
    return null;
  }
}

function settings(prefetch: boolean): CompletionSessionSettings {
  return {
    // tinycoder reads single characters as tokens and has a 1024-token context: 8 lines above, 8 below.
    completions: { enabled: true, languages: { "*": true }, debounceMs: 150, prefixLines: 8, suffixLines: 8, maxTokens: 32, timeBudgetMs: 10_000, candidates: 1, multiline: "auto", prefetch },
    soupMode: "parameter",
    exploration: false,
    episodeCompletions: 20,
    episodeMinutes: 10,
  };
}

async function main(): Promise<void> {
  const doc = readFileSync(path.resolve(__dirname, "..", FILE), "utf8").split("\n");
  const fits = (i: number) => doc.slice(Math.max(0, i - 8), i + 9).join("\n").length <= 800;
  const candidates = doc.map((_, i) => i).filter((i) => doc[i].trim().length >= 16 && fits(i));
  const chosen = Array.from({ length: Number(v.lines) }, (_, k) => candidates[Math.floor(((k + 0.5) * candidates.length) / Number(v.lines))]);
  const sides = await Promise.all(
    [true, false].map(async (prefetch) => {
      const client = new EngineClient({ entry: path.resolve(__dirname, "../src/engine/main.ts"), execArgv: ["--import", "tsx"] });
      await client.load({ modelPath: model, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "policies", id: "bench", version: "1", policies: [] } });
      const generator = new Counting(client);
      const session = new CompletionSession({ generator, weights: { policyIds: [], weights: () => ({}), vector: () => [], record: async () => {} }, feedback: { record: async () => "recorded" as const }, settings: () => settings(prefetch), log: { info: () => {}, warn: () => {} } });
      return { prefetch, client, generator, session, ms: [] as number[], served: 0 };
    }),
  );
  const signal = new AbortController().signal;
  const request = (lines: string[], cursorLine: number, character: number): CompletionRequest => ({ lines, cursor: { line: cursorLine, character }, languageId: "typescript", file: FILE });
  for (const line of chosen) {
    const indent = doc[line].length - doc[line].trimStart().length;
    const typed = doc[line].slice(0, indent + 4);
    const base = [...doc.slice(0, line), typed, ...doc.slice(line + 1)];
    // Each side accepts its own suggestion (sampled at the pipeline's temperature, so the two may differ).
    for (const s of sides) {
      const shown = await s.session.complete(request(base, line, typed.length), signal);
      if (!shown?.length) continue;
      await sleep(Number(v["read-ms"]));
      const inserted = (typed + shown[0]!.text).split("\n");
      const after = [...doc.slice(0, line), ...inserted, ...doc.slice(line + 1)];
      const before = s.generator.requests;
      const t0 = performance.now();
      await s.session.complete(request(after, line + inserted.length - 1, inserted.at(-1)!.length), signal);
      s.ms.push(performance.now() - t0);
      // Served without a new request (a request after it is the next speculative one).
      if (s.generator.requests - before <= (s.prefetch ? 1 : 0)) s.served++;
      // The next speculative request finishes or is aborted during a pause, as while reading.
      await sleep(Number(v["read-ms"]));
    }
  }
  const [on, off] = sides;
  console.log(`tinycoder, CompletionSession on an engine process each, ${on.ms.length} / ${off.ms.length} accepted suggestions (prefetch on / off) on ${chosen.length} lines of ${FILE}, read ${v["read-ms"]} ms before Tab, 1 thread`);
  console.log(`request after Tab, p50: prefetch on ${median(on.ms).toFixed(1)} ms, off ${median(off.ms).toFixed(1)} ms = ${(median(on.ms) / median(off.ms)).toFixed(2)}x`);
  console.log(`engine requests: on ${on.generator.requests} (accepts served without a new request: ${on.served}/${on.ms.length}), off ${off.generator.requests}`);
  for (const s of sides) s.client.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
