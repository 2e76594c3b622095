// Shared by the style benchmarks and the tinycoder integration tests: the held-out FIM prompts of bench/data/style,
// sampled completions of them through the real engine, and their style metrics (src/core/style/metrics).
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { addStyleCounts, EMPTY_STYLE_COUNTS, styleCounts, styleLanguage, type StyleCounts, type StyleLanguage } from "../src/core/style/metrics";
import type { Learner } from "../src/core/adapt/posterior";
import type { Rng } from "../src/core/random";
import type { GenerateResult, SoupMode } from "../src/engine/protocol";
import type { SoupEngine } from "../src/engine/soupEngine";

export const STYLE_DATA = path.resolve(__dirname, "data", "style");
export const STYLES = ["comments", "single-quotes", "four-spaces", "no-semicolons"] as const;
export type Style = (typeof STYLES)[number];

export interface StylePrompt {
  file: string;
  /** VS Code language id. */
  language: string;
  family: StyleLanguage;
  prefix: string;
  suffix: string;
}

const LANGUAGE: Record<string, string> = { ".ts": "typescript", ".js": "javascript", ".py": "python" };

/**
 * The held-out prompts: whole lines above the hole as prefix (at most `prefixChars`, dropping lines from the top)
 * and whole lines below it as suffix (at most `suffixChars`), as tinycoder's README measured its adapters.
 */
export function loadStylePrompts(dir = STYLE_DATA, prefixChars = 140, suffixChars = 60): StylePrompt[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".txt") && LANGUAGE[path.extname(f.slice(0, -4))])
    .sort()
    .map((file) => {
      const lines = readFileSync(path.join(dir, file), "utf8").split("\n");
      const hole = lines.findIndex((l) => /^(\/\/|#) <hole>$/.test(l));
      if (hole < 0) throw new Error(`${path.join(dir, file)}: no "// <hole>" or "# <hole>" line`);
      const above = lines.slice(0, hole);
      while (above.length > 1 && above.join("\n").length + 1 > prefixChars) above.shift();
      const below: string[] = [];
      for (const l of lines.slice(hole + 1)) {
        if ([...below, l].join("\n").length > suffixChars) break;
        below.push(l);
      }
      const language = LANGUAGE[path.extname(file.slice(0, -4))];
      return { file, language, family: styleLanguage(language)!, prefix: above.join("\n") + "\n", suffix: below.join("\n") };
    });
}

export interface Sampled {
  prompt: StylePrompt;
  result: GenerateResult;
}

/** Sampling as the README's measurements: temperature 0.8, top-k 40, top-p 0.95, 48 tokens, one seed per prompt. */
export const STYLE_SAMPLING = { maxTokens: 48, temperature: 0.8, topK: 40, topP: 0.95 } as const;

export async function sampleCompletions(
  engine: SoupEngine,
  prompts: readonly StylePrompt[],
  opts: { mode: SoupMode; weights: Record<string, number>; seed: number; withFeatures?: boolean; candidates?: number; maxTokens?: number },
): Promise<Sampled[]> {
  const signal = new AbortController().signal;
  const out: Sampled[] = [];
  for (const [i, prompt] of prompts.entries()) {
    const result = await engine.generate(
      {
        ...STYLE_SAMPLING,
        maxTokens: opts.maxTokens ?? STYLE_SAMPLING.maxTokens,
        prompt: { kind: "fim", prefix: prompt.prefix, suffix: prompt.suffix, language: prompt.language },
        mode: opts.mode,
        weights: opts.weights,
        seed: opts.seed + i,
        candidates: opts.candidates,
        withFeatures: opts.withFeatures ?? false,
      },
      signal,
      () => {},
    );
    out.push({ prompt, result });
  }
  return out;
}

export function countsOfCompletion(prompt: StylePrompt, text: string, stopped: boolean): StyleCounts {
  return styleCounts(prompt.prefix, text, prompt.family, stopped);
}

export function countsOf(samples: readonly Sampled[]): StyleCounts {
  return samples.reduce((acc, s) => addStyleCounts(acc, countsOfCompletion(s.prompt, s.result.text, s.result.finishReason === "eog")), EMPTY_STYLE_COUNTS);
}

/** The metric a style moves, as a number that rises toward the style (so "toward" reads the same for all four). */
export function styleScore(style: Style, c: StyleCounts): number | null {
  const r = (n: number, d: number) => (d > 0 ? n / d : null);
  switch (style) {
    case "comments":
      return r(c.commentLines, c.lines);
    case "single-quotes":
      return r(c.singleQuoted, c.singleQuoted + c.doubleQuoted);
    case "four-spaces":
      return r(c.indentedLines - c.indent2mod4, c.indentedLines);
    case "no-semicolons":
      return r(c.statements - c.semicolons, c.statements);
  }
}

/** A scripted user's hidden taste: the style it likes, as a rule on the counts of one completion. */
export function likes(style: Style, c: StyleCounts): boolean {
  switch (style) {
    case "comments":
      return c.commentLines > 0;
    case "single-quotes":
      return c.singleQuoted > 0 && c.doubleQuoted === 0;
    case "four-spaces":
      return c.indentedLines > 0 && c.indent2mod4 === 0;
    case "no-semicolons":
      return c.statements > 0 && c.semicolons === 0;
  }
}

export interface LoopCheckpoint {
  events: number;
  /** The liked style's score (styleScore) of completions under the posterior mean. */
  score: number | null;
  mean: number[];
}

export interface LoopResult {
  checkpoints: LoopCheckpoint[];
  accepted: number;
  /** Shown draws whose weight on the liked style was negative (pushed away from the taste). */
  drawsAgainst: number;
}

/**
 * The closed loop on real text: each event shows a completion of a random held-out prompt, generated in parameter
 * mode at a Thompson draw of the posterior (with its features phi); the scripted user accepts it when `likes` holds
 * (flipped with probability `noise`), otherwise dismisses it; the posterior observes that. At each checkpoint the
 * liked style's score is measured over `measure` prompts under the posterior mean, at the measurement seeds.
 */
export async function runStyleLoop(opts: {
  engine: SoupEngine;
  ids: readonly string[];
  style: Style;
  prompts: readonly StylePrompt[];
  measure: readonly StylePrompt[];
  checkpoints: readonly number[];
  seed: number;
  noise: number;
  /** The rule that learns: the editor's SoupPosterior or `soup adapt`'s AgingPosterior. */
  posterior: Learner;
  rng: Rng;
}): Promise<LoopResult> {
  const { engine, ids, style, rng } = opts;
  const liked = ids.indexOf(style);
  const signal = new AbortController().signal;
  const last = Math.max(...opts.checkpoints);
  const checkpoints: LoopCheckpoint[] = [];
  let accepted = 0;
  let drawsAgainst = 0;
  for (let event = 1; event <= last; event++) {
    const w = opts.posterior.sample(rng);
    if (liked >= 0 && w[liked] < 0) drawsAgainst++;
    const prompt = opts.prompts[Math.floor(rng.next() * opts.prompts.length)];
    const r = await engine.generate(
      {
        ...STYLE_SAMPLING,
        prompt: { kind: "fim", prefix: prompt.prefix, suffix: prompt.suffix, language: prompt.language },
        mode: "parameter",
        weights: Object.fromEntries(ids.map((id, k) => [id, w[k]])),
        seed: Math.floor(rng.next() * 1e9),
        withFeatures: true,
      },
      signal,
      () => {},
    );
    if (!r.features) throw new Error("parameter mode with withFeatures returned no features");
    let up = likes(style, countsOfCompletion(prompt, r.text, r.finishReason === "eog"));
    if (rng.next() < opts.noise) up = !up;
    accepted += up ? 1 : 0;
    opts.posterior.observe({
      type: "rating",
      features: ids.map((id) => r.features![id]),
      up,
      surface: "completion",
      signal: up ? "accepted" : "dismissed",
    });
    if (opts.checkpoints.includes(event)) {
      const mean = opts.posterior.mean();
      const weights = Object.fromEntries(ids.map((id, k) => [id, mean[k]]));
      const s = await sampleCompletions(engine, opts.measure, { mode: "parameter", weights, seed: MEASURE_SEED });
      checkpoints.push({ events: event, score: styleScore(style, countsOf(s)), mean });
    }
  }
  return { checkpoints, accepted, drawsAgainst };
}

/** Seeds of the measurement completions (per prompt: MEASURE_SEED + index), the same in every condition. */
export const MEASURE_SEED = 1000;

/** The liked style's score at the base model and with its adapter at weight 1, on the measurement prompts. */
export async function loopReference(engine: SoupEngine, style: Style, measure: readonly StylePrompt[]): Promise<{ base: number | null; adapter: number | null }> {
  const base = await sampleCompletions(engine, measure, { mode: "parameter", weights: {}, seed: MEASURE_SEED });
  const adapter = await sampleCompletions(engine, measure, { mode: "parameter", weights: { [style]: 1 }, seed: MEASURE_SEED });
  return { base: styleScore(style, countsOf(base)), adapter: styleScore(style, countsOf(adapter)) };
}
