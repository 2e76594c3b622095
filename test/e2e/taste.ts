// The scripted person of the tinycoder e2e flow, shared with the benchmark that sizes it (bench/editorLoop.ts):
// the lines they type, what they like in a suggestion, and how the style of a set of suggestions is scored.
import { styleCounts } from "../../src/core/style/metrics";

/**
 * Line starts the person types, each in the emptied file below the same HEADER line, so that a probe's prompt is
 * the same whenever it is typed: before and after learning the suggestions differ only by the weights.
 */
export const PROBES = [
  "export function total(items) {", "const names = [];", "if (count > 0) {", "export class Queue {",
  "function parse(text) {", "for (const item of list) {", "const result = [];", "export function reset(state) {",
  "export async function load(path) {", "let index = 0;", "while (index < limit) {", "class Parser {",
];

/**
 * The person's taste: a suggestion with a comment that says something. A `//#` directive (the model often writes
 * `//# sourceMappingURL=`) or an empty `//` is not a comment anyone asked for.
 */
export function likes(typed: string, ghost: string): boolean {
  return styleCounts(typed, ghost, "js").commentLines > 0 && ghost.split("\n").some((l) => /^\s*(\/\/(?!#)|\/\*\*?|\*)\s*[A-Za-z@]/.test(l));
}

/** How many of a set of suggestions the person likes, and the share of comment lines among their lines. */
export interface TasteScore {
  liked: number;
  shown: number;
  commentLines: number;
  lines: number;
}

export function scoreTaste(suggestions: readonly { typed: string; ghost: string }[]): TasteScore {
  const s = { liked: 0, shown: 0, commentLines: 0, lines: 0 };
  for (const { typed, ghost } of suggestions) {
    const c = styleCounts(typed, ghost, "js");
    s.shown++;
    if (likes(typed, ghost)) s.liked++;
    s.commentLines += c.commentLines;
    s.lines += c.lines;
  }
  return s;
}

/** Typed above each probe in the emptied file, so that the model sees a line of ordinary code first. */
export const HEADER = "const limit = 10;";

/** The text above a probe's suggestion, as the person's taste reads it (test/e2e and the benchmark alike). */
export const typedText = (probe: string) => `${HEADER}\n${probe}\n`;

/**
 * The document after emptying the file, typing HEADER, Enter, `probe`, Enter, with VS Code's defaults (brackets
 * and quotes closed as they are typed, 2-space indentation): a `{` typed at the end is closed by the editor and Enter
 * opens an indented line between the braces.
 */
export function typedProbe(probe: string): { lines: string[]; cursor: { line: number; character: number } } {
  const above = [HEADER, probe];
  if (probe.endsWith("{")) return { lines: [...above, "  ", "}"], cursor: { line: above.length, character: 2 } };
  return { lines: [...above, ""], cursor: { line: above.length, character: 0 } };
}
