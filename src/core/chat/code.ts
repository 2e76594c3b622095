// Chat on a base code model (a GGUF without a chat template): such a model continues files, it does not follow a
// conversation. The question becomes a doc comment in the code's language after the attached code, the model's
// continuation is its answer, and the page shows it as one fenced block in that language (copy / insert apply to
// exactly the model's text). Pure: the session decides, the engine only tokenizes the text.
import type { PromptSpec } from "../../shared/generation";
import { commentLine, commentSyntax } from "../completion/fim";

/** Said once in the chat view while the loaded model is a base code model. */
export const BASE_MODEL_NOTICE =
  "This model is a base code model (its file has no chat template): it answers in code. Your question is written as a comment in the file's language after the attached code, and the model's continuation is shown as a code block.";

/**
 * Where a code answer ends: two blank lines close the unit the doc comment described (a base model would go on to
 * write the rest of an imagined file).
 */
export const CODE_ANSWER_STOP = "\n\n\n";

/** The question written where a code model expects a description of the code that follows it. */
export function questionComment(question: string, language: string): string {
  const lines = question.trim().split(/\r?\n/);
  if (language === "python") return `"""\n${lines.map((l) => l.replaceAll('"""', "'''")).join("\n")}\n"""`;
  const syntax = commentSyntax(language) ?? { line: "//" };
  // A doc comment in the C family: a code model writes the declaration a doc comment describes, where after line
  // comments it tends to write more comments.
  if ("line" in syntax && syntax.line === "//") return ["/**", ...lines.map((l) => ` * ${l.replaceAll("*/", "* /")}`), " */"].join("\n");
  return lines.map((l) => commentLine(syntax, "block" in syntax ? l.replaceAll(syntax.block[1], "") : l)).join("\n");
}

/**
 * The prompt for a question to a base code model: the attached code, then the question as a comment, then a new
 * line for the answer to start on. Of the code, the last `room.lines` whole lines that fit in `room.chars` next to
 * the question: like a completion's prefix, the code nearest the question matters most.
 */
export function codePrompt(question: string, language: string, code: string, room: { chars: number; lines: number }): PromptSpec {
  const comment = `${questionComment(question, language)}\n`;
  const lines = room.lines > 0 ? code.replace(/\n$/, "").split("\n").slice(-room.lines) : [];
  const context = code && lines.length ? lastLines(`${lines.join("\n")}\n`, room.chars - comment.length - 1) : "";
  return { kind: "raw", text: context ? `${context}\n${comment}` : comment, ...(language ? { language } : {}) };
}

/** The whole lines at the end of `text` (which ends with a new line) that fit in `maxChars`. */
function lastLines(text: string, maxChars: number): string {
  const from = text.length - maxChars;
  if (from <= 0) return text;
  const start = text[from - 1] === "\n" ? from : text.indexOf("\n", from) + 1;
  return start === 0 ? "" : text.slice(start);
}

/**
 * The opening fence of a code answer: as many backticks as needed so that no line of `code` closes it (one more
 * than its longest run), at least three, and the language tag.
 */
export function openingFence(code: string, language: string): string {
  const longest = Math.max(0, ...[...code.matchAll(/`+/g)].map((m) => m[0].length));
  return `${"`".repeat(Math.max(3, longest + 1))}${language}`;
}

/**
 * `code` as a fenced Markdown block. A new line always separates the code from the closing fence, so the block's
 * content (what the page copies and inserts) is `code` exactly, and `unfence` gives it back.
 */
export function fence(code: string, language: string): string {
  const open = openingFence(code, language);
  return `${open}\n${code}\n${closingFence(open)}`;
}

/** The fence that closes the block `open` opened: its backticks without the language tag. */
export function closingFence(open: string): string {
  return open.replace(/[^`]+$/, "");
}

/** The code inside a block written by `fence`. */
export function unfence(block: string): string {
  const start = block.indexOf("\n") + 1;
  return block.slice(start, block.lastIndexOf("\n"));
}
