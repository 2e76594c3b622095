// Prompt tokens per keystroke: `npx tsx bench/keystrokes.ts [--keys 24] [--threads 1]`. Types characters one by
// one in the middle of a file and asks for a FIM completion after each, on tinycoder (../shared/models), for
// several suffix windows; reports the prompt tokens the engine evaluated (not found in its KV cache) and the
// latency per keystroke, as medians and as ratios to the full-suffix baseline. Variants run interleaved
// (each keystroke, every variant in turn) so machine load hits them alike. With prefix-suffix-middle prompts,
// each typed character moves the whole suffix, so the suffix window is what a keystroke costs.
import { existsSync } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { PolicySpec } from "../src/engine/protocol";
import { SoupEngine } from "../src/engine/soupEngine";

const v = parseArgs({ options: { keys: { type: "string", default: "24" }, threads: { type: "string", default: "1" } } }).values;
const KEYS = Number(v.keys);
const dir = path.resolve(__dirname, "../../shared/models/tinycoder");
const model = path.join(dir, "tinycoder.gguf");
if (!existsSync(model)) {
  console.log(`skipped: ${model} is absent`);
  process.exit(0);
}

const lines = Array.from({ length: 24 }, (_, i) => `  const v${i} = items[${i}];`);
const prefix = `function build(items) {\n${lines.slice(0, 12).join("\n")}\n  `;
const suffix = `\n${lines.slice(12).join("\n")}\n  return [v0, v1, v2];\n}\n`;
const typed = "const total = item1 + item2 + item3;".slice(0, KEYS);
const suffixWindow = (lines: number | null) => (lines === null ? suffix : suffix.split("\n").slice(0, lines + 1).join("\n"));

interface Variant {
  name: string;
  engine: SoupEngine;
  suffixLines: number | null;
  mode: "parameter";
  weights: Record<string, number>;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const adapters: PolicySpec[] = ["comments", "four-spaces", "no-semicolons", "single-quotes"].map((id) => ({ id, kind: "adapter", path: path.join(dir, `tinycoder-${id}.gguf`) }));
  const load = async (policies: PolicySpec[]) => {
    const e = new SoupEngine();
    await e.load({ modelPath: model, gpu: "off", gpuLayers: 0, threads: Number(v.threads), contextSize: 1024, basis: { kind: "policies", id: "bench", version: "1", policies } }, () => {});
    return e;
  };
  const plain = await load([]);
  const plain8 = await load([]);
  const plain2 = await load([]);
  const plain0 = await load([]);
  const souped = await load(adapters);
  const weights = Object.fromEntries(adapters.map((a, k) => [a.id, 0.3 + 0.2 * k]));
  const variants: Variant[] = [
    { name: "plain, whole suffix", engine: plain, suffixLines: null, mode: "parameter", weights: {} },
    { name: "plain, suffix 8 lines", engine: plain8, suffixLines: 8, mode: "parameter", weights: {} },
    { name: "plain, suffix 2 lines", engine: plain2, suffixLines: 2, mode: "parameter", weights: {} },
    { name: "plain, no suffix", engine: plain0, suffixLines: 0, mode: "parameter", weights: {} },
    { name: "4 adapters, whole suffix", engine: souped, suffixLines: null, mode: "parameter", weights },
  ];
  const signal = new AbortController().signal;
  const tokens = variants.map(() => [] as number[]);
  const ms = variants.map(() => [] as number[]);
  const promptMs = variants.map(() => [] as number[]);
  const generated = variants.map(() => [] as number[]);
  const promptLen = variants.map(() => 0);
  for (let i = 0; i <= typed.length; i++) {
    for (const [j, x] of variants.entries()) {
      const prompt = { kind: "fim" as const, prefix: prefix + typed.slice(0, i), suffix: suffixWindow(x.suffixLines) };
      const t0 = performance.now();
      const r = await x.engine.generate({ prompt, mode: x.mode, weights: x.weights, maxTokens: 16, temperature: 0 }, signal, () => {});
      const elapsed = performance.now() - t0;
      x.engine.afterRequest();
      // The first request fills the cache: keystrokes are the ones after it.
      if (i > 0) {
        tokens[j].push(r.timings.promptTokensEvaluated);
        ms[j].push(elapsed);
        promptMs[j].push(r.timings.promptMs);
        generated[j].push(r.tokens.length);
      }
      promptLen[j] = r.timings.promptTokensEvaluated > promptLen[j] ? r.timings.promptTokensEvaluated : promptLen[j];
    }
  }
  console.log(`tinycoder, ${typed.length} keystrokes typed mid-file, 16 greedy tokens each, FIM prefix-suffix-middle`);
  console.log("variant                      prompt tokens/keystroke (cold)  prompt p50 ms (ratio)  request p50 ms (ratio)  tokens out");
  const r0 = (xs: number[][], j: number) => median(xs[j].map((m, i) => m / xs[0][i])).toFixed(2);
  for (const [j, x] of variants.entries()) {
    const tk = `${median(tokens[j])} (${promptLen[j]})`;
    const pm = `${median(promptMs[j]).toFixed(1)} (${r0(promptMs, j)}x)`;
    const rq = `${median(ms[j]).toFixed(1)} (${r0(ms, j)}x)`;
    console.log(`${x.name.padEnd(28)} ${tk.padStart(16)}  ${pm.padStart(20)}  ${rq.padStart(20)}  ${median(generated[j])}`);
  }
  for (const e of [plain, plain8, plain2, plain0, souped]) await e.unload();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
