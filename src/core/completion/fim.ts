// Fill-in-the-middle prompts: the window of the document around the cursor, and a prompted expert's style header
// in the comment syntax of the file's language (the engine renders the model's own FIM tokens around them).

/** Lines of context around the cursor; llama.vscode's defaults. */
export interface FimLimits {
  prefixLines: number;
  suffixLines: number;
}
export const DEFAULT_FIM_LIMITS: Readonly<FimLimits> = { prefixLines: 256, suffixLines: 64 };

export interface Cursor {
  line: number;
  character: number;
}

export interface FimWindow {
  /** Up to `prefixLines` whole lines above the cursor, then the cursor line up to the cursor. */
  prefix: string;
  /** The prefix without the cursor line: the part of it that stays the same while the user types in a line. */
  above: string;
  /** The cursor line after the cursor, then up to `suffixLines` whole lines below it. */
  suffix: string;
  /** The cursor line before the cursor (the part the user is typing). */
  linePrefix: string;
  /** The cursor line after the cursor (decides one-line vs multi-line completions). */
  lineSuffix: string;
}

/** The prefix/suffix window of `lines` around `cursor` (clamped into the document). */
export function fimWindow(lines: readonly string[], cursor: Cursor, limits: FimLimits = DEFAULT_FIM_LIMITS): FimWindow {
  const doc = lines.length ? lines : [""];
  const line = Math.min(Math.max(cursor.line, 0), doc.length - 1);
  const text = doc[line];
  const ch = Math.min(Math.max(cursor.character, 0), text.length);
  const linePrefix = text.slice(0, ch);
  const lineSuffix = text.slice(ch);
  const above = doc.slice(Math.max(0, line - limits.prefixLines), line);
  const below = doc.slice(line + 1, line + 1 + limits.suffixLines);
  const whole = above.map((l) => `${l}\n`).join("");
  return {
    prefix: whole + linePrefix,
    above: whole,
    suffix: [lineSuffix, ...below].join("\n"),
    linePrefix,
    lineSuffix,
  };
}

/** How a language writes a one-line comment: a line opener, or a block pair for languages that have none. */
export type CommentSyntax = { line: string } | { block: [open: string, close: string] };

const COMMENTS: ReadonlyArray<[CommentSyntax, readonly string[]]> = [
  [
    { line: "//" },
    [
      "c", "cpp", "csharp", "cuda-cpp", "dart", "fsharp", "go", "groovy", "java", "javascript", "javascriptreact",
      "jsonc", "kotlin", "less", "objective-c", "objective-cpp", "php", "proto3", "rust", "scala", "scss", "solidity",
      "swift", "typescript", "typescriptreact", "zig",
    ],
  ],
  [
    { line: "#" },
    [
      "coffeescript", "cmake", "dockerfile", "elixir", "graphql", "julia", "makefile", "nim", "perl", "powershell",
      "python", "r", "ruby", "shellscript", "terraform", "toml", "yaml",
    ],
  ],
  [{ line: "--" }, ["elm", "haskell", "lua", "sql"]],
  [{ line: ";" }, ["clojure", "commonlisp", "ini", "scheme"]],
  [{ line: "%" }, ["erlang", "latex", "matlab", "tex"]],
  [{ line: "'" }, ["vb"]],
  [{ block: ["<!--", "-->"] }, ["html", "markdown", "svelte", "vue", "xml"]],
  [{ block: ["/*", "*/"] }, ["css"]],
  [{ block: ["(*", "*)"] }, ["ocaml"]],
];
const COMMENT_BY_LANGUAGE = new Map(COMMENTS.flatMap(([syntax, ids]) => ids.map((id) => [id, syntax] as const)));

/** Comment syntax for a VS Code language id; undefined where unknown (plain text, JSON, ...). */
export function commentSyntax(languageId: string): CommentSyntax | undefined {
  return COMMENT_BY_LANGUAGE.get(languageId);
}

/** `text` as one comment line in `syntax`. */
export function commentLine(syntax: CommentSyntax, text: string): string {
  return "line" in syntax ? `${syntax.line} ${text}` : `${syntax.block[0]} ${text} ${syntax.block[1]}`;
}

/**
 * A prompted expert's FIM header for a file of `languageId`. Convention for pack authors: a header line that
 * starts with `// ` is a comment in no particular language and is rewritten to the language's comment syntax;
 * other lines (code exemplars) are kept as written. So a pack header used verbatim (as the engine does when
 * the caller passes it unexpanded) is still a sensible comment in the C family. Returns "" for languages
 * without a known comment syntax: a header in the wrong syntax would teach the model to write garbage.
 */
export function fimHeader(fim: string, languageId: string): string {
  const syntax = commentSyntax(languageId);
  if (!syntax || !fim.trim()) return "";
  return fim
    .split("\n")
    .map((l) => (l.startsWith("// ") ? commentLine(syntax, l.slice(3)) : l))
    .join("\n");
}

/** The prefix a prompted expert sees: its header, a newline, then the prefix (the same join the engine uses). */
export function applyFimHeader(prefix: string, fim: string, languageId: string): string {
  const header = fimHeader(fim, languageId);
  return header ? `${header}\n${prefix}` : prefix;
}
