// Prompt tokens per keystroke and what the prompt layout costs in quality: `npx tsx bench/keystrokes.ts [--lines 3]
// [--keys 12] [--threads 1]`. On tinycoder (../shared/models), real TypeScript it never saw (this repository's
// src/core files listed below): in each file, a few lines are typed again character by character after their
// indentation (the rest of the line removed, as when writing it), and after each keystroke a one-line FIM
// completion is asked of the plain engine (greedy, <= 24 tokens, stop at a newline). Windows come from fimWindow, as
// the editor's pipeline builds them. Variants, each on an engine of its own, run interleaved (each keystroke, every
// variant in turn) so machine load hits them alike:
//  - where the cursor line goes: at the end of the prefix (prefix-suffix-middle: each typed character moves the
//    whole suffix, which is evaluated again), or after the FIM middle token (as llama.vscode sends it to
//    llama-server: the prefix and suffix stay cached and a keystroke evaluates the typed characters);
//  - how many lines of suffix. tinycoder's tokens are single characters and its context 1024 tokens (trained on
//    256), so the windows are 8 lines above and 8 or 2 below (the defaults, 256 and 64, are for real models), and
//    only lines whose 8 + 8 window fits in 900 characters are typed.
// Reported per variant: prompt tokens the engine evaluated per keystroke (median, and mean with the line changes),
// prompt and request p50 with the per-keystroke ratio to the first variant, tokens generated (mean), and quality against the real line: the
// share of keystrokes whose completion is exactly the rest of the line, and the mean share of its characters
// the completion got right from the start.
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { fimWindow } from "../src/core/completion/fim";
import { vocabularySize } from "../src/engine/loaded";
import { PromptBuilder } from "../src/engine/prompts";
import { distributionOptions, responseLogProb } from "../src/engine/sequences";
import { SoupEngine } from "../src/engine/soupEngine";
import type { PromptSpec } from "../src/shared/generation";

const v = parseArgs({ options: { lines: { type: "string", default: "3" }, keys: { type: "string", default: "12" }, threads: { type: "string", default: "1" } } }).values;
const model = path.resolve(__dirname, "../../shared/models/tinycoder/tinycoder.gguf");
if (!existsSync(model)) {
  console.log(`skipped: ${model} is absent`);
  process.exit(0);
}
const FILES = ["src/core/adapt/posterior.ts", "src/core/adapt/store.ts", "src/core/gguf/reader.ts", "src/core/chat/session.ts"];

interface Variant {
  name: string;
  middle: boolean;
  suffixLines: number;
}
const PREFIX_LINES = 8;
const VARIANTS: Variant[] = [
  { name: "cursor line in prefix, suffix 8", middle: false, suffixLines: 8 },
  { name: "cursor line in prefix, suffix 2", middle: false, suffixLines: 2 },
  { name: "cursor line in middle, suffix 8", middle: true, suffixLines: 8 },
  { name: "cursor line in middle, suffix 2", middle: true, suffixLines: 2 },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** Lines to type: evenly spread through the file, code of at least 16 characters whose window fits tinycoder. */
function linesToType(lines: string[], n: number): number[] {
  const fits = (i: number) => lines.slice(Math.max(0, i - PREFIX_LINES), i + 9).join("\n").length <= 900;
  const code = (l: string) => l.trim().length >= 16 && !l.trim().startsWith("//") && !l.trim().startsWith("*");
  const candidates = lines.map((l, i) => [l, i] as const).filter(([l, i]) => code(l) && fits(i));
  return Array.from({ length: n }, (_, k) => candidates[Math.floor(((k + 0.5) * candidates.length) / n)][1]);
}

async function main(): Promise<void> {
  const engines = await Promise.all(
    VARIANTS.map(async () => {
      const e = new SoupEngine();
      await e.load({ modelPath: model, gpu: "off", gpuLayers: 0, threads: Number(v.threads), contextSize: 1024, basis: { kind: "policies", id: "bench", version: "1", policies: [] } }, () => {});
      return e;
    }),
  );
  const signal = new AbortController().signal;
  const stats = VARIANTS.map(() => ({ tokens: [] as number[], promptMs: [] as number[], ms: [] as number[], exact: [] as number[], chars: [] as number[], out: [] as number[] }));
  const samples: { prompts: PromptSpec[]; truth: string }[] = [];
  let keystrokes = 0;
  for (const file of FILES) {
    const doc = readFileSync(path.resolve(__dirname, "..", file), "utf8").split("\n");
    for (const line of linesToType(doc, Number(v.lines))) {
      const full = doc[line];
      const indent = full.length - full.trimStart().length;
      const keys = Math.min(Number(v.keys), full.length - indent - 1);
      for (let k = 0; k <= keys; k++) {
        const typed = full.slice(0, indent + k);
        const truth = full.slice(indent + k);
        const lines = [...doc.slice(0, line), typed, ...doc.slice(line + 1)];
        keystrokes++;
        const prompts = VARIANTS.map((x): PromptSpec => {
          const win = fimWindow(lines, { line, character: typed.length }, { prefixLines: PREFIX_LINES, suffixLines: x.suffixLines });
          return x.middle
            ? { kind: "fim", prefix: win.above, middle: win.linePrefix, suffix: win.suffix, language: "typescript" }
            : { kind: "fim", prefix: win.prefix, suffix: win.suffix, language: "typescript" };
        });
        samples.push({ prompts, truth });
        for (const [j, prompt] of prompts.entries()) {
          const t0 = performance.now();
          const r = await engines[j].generate({ prompt, mode: "parameter", weights: {}, maxTokens: 24, temperature: 0, stop: ["\n"] }, signal, () => {});
          const s = stats[j];
          s.ms.push(performance.now() - t0);
          s.promptMs.push(r.timings.promptMs);
          s.tokens.push(r.timings.promptTokensEvaluated);
          s.out.push(r.tokens.length);
          const text = r.text.trimEnd();
          s.exact.push(text === truth.trimEnd() ? 1 : 0);
          let same = 0;
          while (same < truth.length && same < text.length && text[same] === truth[same]) same++;
          s.chars.push(same / truth.length);
        }
      }
    }
  }
  for (const e of engines) await e.unload();
  const logLik = await likelihoods(samples);
  console.log(`tinycoder, plain engine, ${keystrokes} keystrokes on ${Number(v.lines)} lines of each of ${FILES.join(", ")}; prefix ${PREFIX_LINES} lines; one-line greedy completions`);
  console.log("variant                            prompt tokens/key p50 (mean)  prompt p50 ms (ratio)  request p50 ms (ratio)  tokens out  exact rest of line  chars right  log-lik/char");
  const ratio = (key: "ms" | "promptMs", j: number) => median(stats[j][key].map((m, i) => m / stats[0][key][i])).toFixed(2);
  for (const [j, x] of VARIANTS.entries()) {
    const s = stats[j];
    const cols = [
      `${median(s.tokens)} (${mean(s.tokens).toFixed(0)})`.padStart(28),
      `${median(s.promptMs).toFixed(1)} (${ratio("promptMs", j)}x)`.padStart(21),
      `${median(s.ms).toFixed(1)} (${ratio("ms", j)}x)`.padStart(22),
      `${mean(s.out).toFixed(1)}`.padStart(10),
      `${(100 * mean(s.exact)).toFixed(1)}%`.padStart(18),
      `${(100 * mean(s.chars)).toFixed(1)}%`.padStart(11),
      logLik[j].toFixed(3).padStart(12),
    ];
    console.log(`${x.name.padEnd(34)} ${cols.join("  ")}`);
  }
}

/** Mean over samples of log p(real rest of the line | prompt) per character, per variant (teacher-forced). */
async function likelihoods(samples: { prompts: PromptSpec[]; truth: string }[]): Promise<number[]> {
  const nlc = await import("node-llama-cpp");
  const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: nlc.LlamaLogLevel.error });
  const m = await llama.loadModel({ modelPath: model, gpuLayers: 0 });
  const context = await m.createContext({ contextSize: 1024, threads: Number(v.threads) });
  const sequence = context.getSequence();
  const builder = new PromptBuilder(nlc, m, model);
  const vocabSize = vocabularySize(m);
  const sums = VARIANTS.map(() => 0);
  for (const { prompts, truth } of samples) {
    const response = m.tokenize(truth.slice(0, 40));
    for (const [j, prompt] of prompts.entries()) {
      sums[j] += (await responseLogProb(sequence, builder.tokens(prompt), response, vocabSize, distributionOptions(vocabSize))) / truth.slice(0, 40).length;
    }
  }
  await m.dispose();
  return sums.map((x) => x / samples.length);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
