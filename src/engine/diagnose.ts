// Basis diagnostics, the engine side: calibration responses (the base model's own continuations of built-in
// prompts, windows of the user's code, or given pairs) scored under every basis policy, and their features
// diagnosed (src/core/basis/diagnose). Used by `soup basis diagnose` and the preferences view's Basis tab.
import type { Token } from "node-llama-cpp";
import { readCorpus, sampleWindows, type CorpusFilter } from "../core/basis/corpus";
import { diagnoseBasis, type BasisDiagnosis } from "../core/basis/diagnose";
import type { PromptSpec } from "./protocol";
import { SoupEngine } from "./soupEngine";

/** Built-in prompts whose base-model continuations serve as calibration responses when none are given. */
const DEFAULT_PROMPTS = [
  "function parseConfig(text) {",
  "def load_users(path):",
  "// Returns the sum of the numbers in a list",
  "class Cache {\n  constructor(size) {",
  "Once upon a time",
  "import os\n\ndef main():",
  "const result = items.map((item) =>",
  "# Sort the records by date",
];

export interface DiagnoseOptions {
  modelPath: string;
  packPath: string;
  /** A folder or text file of code (prompt/response pairs cut from it), or a .jsonl of {prompt, response}. */
  calibration?: string;
  /** Which files of a calibration folder are read (default: every text file). */
  calibrationFilter?: CorpusFilter;
  responses?: number;
  threshold?: number;
  threads?: number;
}

/** Scores calibration responses under every basis policy and diagnoses the features. */
export async function diagnosePack(o: DiagnoseOptions, signal: AbortSignal): Promise<BasisDiagnosis> {
  const n = o.responses ?? 48;
  const engine = new SoupEngine();
  const status = await engine.load(
    { modelPath: o.modelPath, gpu: "off", gpuLayers: 0, threads: o.threads, contextSize: 512, basis: { kind: "pack", path: o.packPath } },
    () => {},
  );
  try {
    const ids = status.basis!.policies.map((p) => p.id);
    const model = engine.model();
    const pairs: { prompt: PromptSpec; response: string; tokens?: number[] }[] = [];
    if (o.calibration?.endsWith(".jsonl")) {
      const files = await readCorpus(o.calibration);
      for (const line of files[0].text.split("\n").filter((l) => l.trim())) {
        const r = JSON.parse(line) as { prompt: string; response: string };
        pairs.push({ prompt: { kind: "raw", text: r.prompt }, response: r.response });
      }
    } else if (o.calibration) {
      // Windows of the user's text: the first 32 tokens are the prompt, the next 16 the response.
      for (const w of sampleWindows(await readCorpus(o.calibration, o.calibrationFilter), n, 48, 7, (t) => model.tokenize(t))) {
        pairs.push({ prompt: { kind: "raw", text: model.detokenize(w.slice(0, 32) as Token[]) }, response: "", tokens: w.slice(32) });
      }
    } else {
      for (let i = 0; i < n; i++) {
        const prompt: PromptSpec = { kind: "raw", text: DEFAULT_PROMPTS[i % DEFAULT_PROMPTS.length] };
        const r = await engine.generate({ prompt, mode: "explicit", weights: {}, maxTokens: 24, temperature: 1, seed: i }, signal, () => {});
        if (r.tokens.length) pairs.push({ prompt, response: r.text, tokens: r.tokens });
      }
    }
    const features: number[][] = [];
    const tokens: number[] = [];
    for (const p of pairs) {
      const s = await engine.score({ prompt: p.prompt, response: p.response, responseTokens: p.tokens }, signal);
      features.push(ids.map((id) => s.features[id]));
      tokens.push(s.tokens);
    }
    return diagnoseBasis(ids, features, tokens, { redundancy: o.threshold });
  } finally {
    await engine.unload();
  }
}
