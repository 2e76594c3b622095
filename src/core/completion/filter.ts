// What of a generated completion to show: one line when the cursor has text after it on its line (a
// multi-line insertion there would split the line), at most `maxLines` otherwise, and nothing when the
// suggestion merely repeats the text below the cursor.

export interface CompletionShapeOptions {
  maxLines: number;
}
export const DEFAULT_COMPLETION_SHAPE: Readonly<CompletionShapeOptions> = { maxLines: 16 };

/** Whether a completion at this cursor should stop at the end of the line. */
export function isSingleLine(lineSuffix: string): boolean {
  return lineSuffix.trim().length > 0;
}

const meaningfulLines = (text: string) =>
  text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);

/**
 * True when the completion only restates what follows the cursor: its non-blank lines are, trimmed, the same
 * as the first non-blank lines of the suffix (the rest of the cursor line, then the lines below).
 */
export function repeatsSuffix(completion: string, suffix: string): boolean {
  const c = meaningfulLines(completion);
  if (c.length === 0) return false;
  const s = meaningfulLines(suffix);
  return c.every((line, i) => line === s[i]);
}

/**
 * The completion to show, or undefined when nothing is worth showing. `lineSuffix` is the cursor line after
 * the cursor; `suffix` is that plus the lines below (fimWindow's fields).
 */
export function shapeCompletion(
  completion: string,
  cursor: { lineSuffix: string; suffix: string },
  options: CompletionShapeOptions = DEFAULT_COMPLETION_SHAPE,
): string | undefined {
  const lines = completion.split("\n").slice(0, isSingleLine(cursor.lineSuffix) ? 1 : options.maxLines);
  while (lines.length > 1 && !lines[lines.length - 1].trim()) lines.pop();
  const shaped = lines.join("\n");
  if (!shaped.trim() || repeatsSuffix(shaped, cursor.suffix)) return undefined;
  return shaped;
}
