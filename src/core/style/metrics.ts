// Four code-style metrics of a completion, read in the context of the prefix it continues: comment share, single-
// quote share, indentation (mean and the 2-space signature), and semicolon share. A small lexer for JS/TS and Python
// decides what is comment, string, template or regex, so a `;` inside a string or a `//` inside a URL does not count.
// Each metric is a ratio of counts; over many completions, sum the counts (`addStyleCounts`) and divide once, so a
// completion with one line weighs less than one with ten.

export type StyleLanguage = "js" | "python";

/** The lexer family of a VS Code language id or file extension; undefined for anything else. */
export function styleLanguage(idOrExtension: string): StyleLanguage | undefined {
  const s = idOrExtension.replace(/^\./, "").toLowerCase();
  if (["javascript", "javascriptreact", "typescript", "typescriptreact", "js", "mjs", "cjs", "jsx", "ts", "tsx", "mts", "cts"].includes(s)) return "js";
  if (s === "python" || s === "py") return "python";
  return undefined;
}

/** Character classes of lexed text (0, the initial value, is code). */
const COMMENT = 1;
const STRING = 2;

interface Literal {
  start: number;
  quote: "'" | '"';
  closed: boolean;
}

interface Lexed {
  /** One class per character of the text. */
  kind: Uint8Array;
  /** One-line quoted literals ('...' and "..."), where they start and whether they close. */
  literals: Literal[];
}

const JS_REGEX_AFTER = new Set([..."(,=:[!&|?{};+-*%<>~^"]);
const JS_REGEX_KEYWORDS = new Set(["return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "instanceof", "yield", "await"]);

/** Marks a one-line literal opened by `quote` at `start` (backslash escapes honoured): where it ends, and whether it closed. */
function lexQuoted(text: string, start: number, quote: string, kind: Uint8Array): { end: number; closed: boolean } {
  let i = start;
  kind[i++] = STRING;
  while (i < text.length && text[i] !== "\n") {
    kind[i] = STRING;
    if (text[i] === "\\") {
      i += 2;
      if (i - 1 < text.length) kind[i - 1] = STRING;
      continue;
    }
    if (text[i++] === quote) return { end: i, closed: true };
  }
  return { end: i, closed: false };
}

function lexJs(text: string): Lexed {
  const kind = new Uint8Array(text.length);
  const literals: Literal[] = [];
  // Brace depth of each open `${` of a template literal: a `}` at that depth returns to the template.
  const templates: number[] = [];
  let depth = 0;
  let lastSignificant = -1;
  const regexAllowed = () => {
    if (lastSignificant < 0) return true;
    const c = text[lastSignificant];
    if (JS_REGEX_AFTER.has(c)) return true;
    if (!/[A-Za-z_$]/.test(c)) return false;
    let s = lastSignificant;
    while (s > 0 && /[A-Za-z_$0-9]/.test(text[s - 1])) s--;
    return JS_REGEX_KEYWORDS.has(text.slice(s, lastSignificant + 1));
  };
  const template = (from: number): number => {
    // From just after an opening backtick or a closing `}`: to the closing backtick or the next `${`.
    let i = from;
    while (i < text.length) {
      const c = text[i];
      kind[i] = STRING;
      if (c === "\\") {
        if (i + 1 < text.length) kind[i + 1] = STRING;
        i += 2;
        continue;
      }
      if (c === "`") return i + 1;
      if (c === "$" && text[i + 1] === "{") {
        kind[i + 1] = STRING;
        templates.push(depth);
        depth++;
        return i + 2;
      }
      i++;
    }
    return i;
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === "/" && next === "/") {
      while (i < text.length && text[i] !== "\n") kind[i++] = COMMENT;
      continue;
    }
    if (c === "/" && next === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? text.length : end + 2;
      while (i < stop) kind[i++] = COMMENT;
      continue;
    }
    if (c === "'" || c === '"') {
      const start = i;
      let closed: boolean;
      ({ end: i, closed } = lexQuoted(text, start, c, kind));
      literals.push({ start, quote: c, closed });
      lastSignificant = i - 1;
      continue;
    }
    if (c === "`") {
      kind[i] = STRING;
      i = template(i + 1);
      lastSignificant = i - 1;
      continue;
    }
    if (c === "/" && regexAllowed()) {
      // A regex literal runs to an unescaped `/` outside a character class on the same line; without one it was
      // a division after all.
      let j = i + 1;
      let inClass = false;
      let closed = false;
      while (j < text.length && text[j] !== "\n") {
        const d = text[j];
        if (d === "\\") j += 2;
        else {
          if (d === "[") inClass = true;
          else if (d === "]") inClass = false;
          else if (d === "/" && !inClass) {
            closed = true;
            break;
          }
          j++;
        }
      }
      if (closed) {
        kind.fill(STRING, i, j + 1);
        i = j + 1;
        lastSignificant = j;
        continue;
      }
    }
    if (c === "{") depth++;
    else if (c === "}") {
      depth--;
      if (templates.length && templates[templates.length - 1] === depth) {
        templates.pop();
        kind[i] = STRING;
        i = template(i + 1);
        lastSignificant = i - 1;
        continue;
      }
    }
    if (!/\s/.test(c)) lastSignificant = i;
    i++;
  }
  return { kind, literals };
}

function lexPython(text: string): Lexed {
  const kind = new Uint8Array(text.length);
  const literals: Literal[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "#") {
      while (i < text.length && text[i] !== "\n") kind[i++] = COMMENT;
      continue;
    }
    if (c === "'" || c === '"') {
      const triple = text.startsWith(c.repeat(3), i);
      if (triple) {
        // A triple-quoted string that opens its line is a docstring (or a comment block): it counts as a comment.
        const lineStart = text.lastIndexOf("\n", i - 1) + 1;
        const docstring = /^[ \t]*[rRuUbBfF]{0,2}$/.test(text.slice(lineStart, i));
        const end = text.indexOf(c.repeat(3), i + 3);
        const stop = end < 0 ? text.length : end + 3;
        kind.fill(docstring ? COMMENT : STRING, i, stop);
        i = stop;
        continue;
      }
      const start = i;
      let closed: boolean;
      ({ end: i, closed } = lexQuoted(text, start, c, kind));
      literals.push({ start, quote: c, closed });
      continue;
    }
    i++;
  }
  return { kind, literals };
}

/** Counts behind the four metrics; sum them over completions, then take the ratios. */
export interface StyleCounts {
  /** Non-blank lines of the completion, and those whose first non-space character is in a comment. */
  lines: number;
  commentLines: number;
  /** Closed one-line quoted literals that open inside the completion. */
  singleQuoted: number;
  doubleQuoted: number;
  /** JS/TS lines that start inside the completion and are indented with spaces: their count, the sum of their
   * indents, and how many of them are indented 2 mod 4 (the 2-space signature). */
  indentedLines: number;
  indentSum: number;
  indent2mod4: number;
  /** Complete JS/TS statement lines the completion wrote, and those whose last code character is `;`. */
  statements: number;
  semicolons: number;
}

export const EMPTY_STYLE_COUNTS: Readonly<StyleCounts> = {
  lines: 0,
  commentLines: 0,
  singleQuoted: 0,
  doubleQuoted: 0,
  indentedLines: 0,
  indentSum: 0,
  indent2mod4: 0,
  statements: 0,
  semicolons: 0,
};

export function addStyleCounts(a: StyleCounts, b: StyleCounts): StyleCounts {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof StyleCounts)[]) out[k] += b[k];
  return out;
}

/** The metrics of summed counts; a ratio with no lines to count is null, not 0. */
export interface StyleMetrics {
  commentShare: number | null;
  singleQuoteShare: number | null;
  meanIndent: number | null;
  indent2mod4Share: number | null;
  semicolonShare: number | null;
}

export function styleMetrics(c: StyleCounts): StyleMetrics {
  const ratio = (num: number, den: number) => (den > 0 ? num / den : null);
  return {
    commentShare: ratio(c.commentLines, c.lines),
    singleQuoteShare: ratio(c.singleQuoted, c.singleQuoted + c.doubleQuoted),
    meanIndent: ratio(c.indentSum, c.indentedLines),
    indent2mod4Share: ratio(c.indent2mod4, c.indentedLines),
    semicolonShare: ratio(c.semicolons, c.statements),
  };
}

/** A line ending like this continues on the next line: it is not a complete statement. */
const CONTINUES = /(?:[{[(,:=+\-*/&|?<>.!]|=>)$/;
const CONTROL = /^(?:if|else|for|while|do|switch|case|default|try|catch|finally|function|class|interface|enum|namespace|module)\b/;
const ONLY_CLOSERS = /^[)\]}]+[;,]?$/;

/**
 * Counts of one completion. `stopped` says generation ended by itself (end of text), so its last line is complete
 * even without a newline.
 */
export function styleCounts(prefix: string, completion: string, language: StyleLanguage, stopped = false): StyleCounts {
  const text = prefix + completion;
  const lexed = language === "js" ? lexJs(text) : lexPython(text);
  const counts = { ...EMPTY_STYLE_COUNTS };
  const from = prefix.length;
  for (const lit of lexed.literals) {
    if (lit.start < from || !lit.closed) continue;
    if (lit.quote === "'") counts.singleQuoted++;
    else counts.doubleQuoted++;
  }
  // Lines the completion touches: the first continues the prefix's last line.
  let lineStart = prefix.lastIndexOf("\n") + 1;
  let pos = from;
  while (pos <= text.length) {
    const nl = text.indexOf("\n", pos);
    const lineEnd = nl < 0 ? text.length : nl;
    const complete = nl >= 0 || stopped;
    const startsInCompletion = lineStart >= from;
    const own = text.slice(Math.max(lineStart, from), lineEnd);
    if (own.trim()) measureLine(text, lexed.kind, lineStart, lineEnd, startsInCompletion, complete, language, counts);
    if (nl < 0) break;
    lineStart = pos = nl + 1;
    if (pos === text.length) break;
  }
  return counts;
}

function measureLine(
  text: string,
  kind: Uint8Array,
  start: number,
  end: number,
  startsInCompletion: boolean,
  complete: boolean,
  language: StyleLanguage,
  counts: StyleCounts,
): void {
  const line = text.slice(start, end);
  const first = line.search(/\S/);
  counts.lines++;
  const isComment = kind[start + first] === COMMENT;
  if (isComment) counts.commentLines++;
  if (language !== "js") return;
  if (startsInCompletion && first > 0 && line[0] === " ") {
    const spaces = /^ */.exec(line)![0].length;
    counts.indentedLines++;
    counts.indentSum += spaces;
    if (spaces % 4 === 2) counts.indent2mod4++;
  }
  if (!complete || isComment) return;
  // The line's code: everything outside comments, trailing space dropped.
  let code = "";
  for (let i = start; i < end; i++) code += kind[i] === COMMENT ? " " : text[i];
  code = code.trim();
  if (!code || CONTINUES.test(code) || CONTROL.test(code) || ONLY_CLOSERS.test(code)) return;
  counts.statements++;
  if (code.endsWith(";")) counts.semicolons++;
}
