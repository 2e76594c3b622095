// Markdown for chat answers, rendered to HTML the webview can insert as is. Model output is untrusted (a prompt
// can make it echo anything), so every character of input reaches the HTML escaped; the only markup is the fixed
// tags emitted here. A deliberate subset: headings, paragraphs, lists, quotes, rules, inline code, bold/italic,
// links shown as text (no navigation from a webview), fenced code with a small keyword highlighter.

export type Segment =
  | { kind: "text"; text: string }
  /** `closed` is false for a fence still streaming in. */
  | { kind: "code"; language: string; code: string; closed: boolean };

const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})/;
const LANGUAGE = /^[A-Za-z0-9_+#.-]{1,32}$/;

/** A fence opening line: its closing pattern and info word, or undefined (no backtick may follow the fence). */
function fenceOpen(line: string): { close: RegExp; info: string } | undefined {
  const m = FENCE_OPEN.exec(line);
  if (!m) return undefined;
  const rest = line.slice(m[0].length);
  if (rest.includes("`")) return undefined;
  const fence = m[1]!;
  const info = /^\S*/.exec(rest.trimStart())![0];
  return { close: new RegExp(`^ {0,3}${fence[0] === "`" ? "`" : "~"}{${fence.length},}\\s*$`), info };
}

/** Splits an answer into text and fenced code blocks, in order; code blocks are what copy/insert/replace act on. */
export function splitAnswer(markdown: string): Segment[] {
  const segments: Segment[] = [];
  const lines = markdown.replace(/\r\n?/g, "\n").split("\n");
  let text: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = fenceOpen(lines[i]!);
    if (!open) {
      text.push(lines[i]!);
      continue;
    }
    if (text.length) segments.push({ kind: "text", text: text.join("\n") });
    text = [];
    const { close, info } = open;
    const code: string[] = [];
    let closed = false;
    for (i++; i < lines.length; i++) {
      if (close.test(lines[i]!)) {
        closed = true;
        break;
      }
      code.push(lines[i]!);
    }
    segments.push({ kind: "code", language: LANGUAGE.test(info) ? info.toLowerCase() : "", code: code.join("\n"), closed });
  }
  if (text.length) segments.push({ kind: "text", text: text.join("\n") });
  return segments;
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/**
 * Renders markdown to safe HTML. Code blocks carry `data-block` (their index among the code segments of
 * `splitAnswer`, counted from `firstBlock`) so the webview's copy/insert/replace buttons send the original code,
 * not scraped HTML.
 */
export function renderMarkdown(markdown: string, firstBlock = 0): string {
  let block = firstBlock;
  return splitAnswer(markdown)
    .map((s) => {
      if (s.kind === "text") return renderBlocks(s.text);
      const cls = s.language ? ` class="language-${escapeHtml(s.language)}"` : "";
      return `<pre class="code-block" data-block="${block++}"><code${cls}>${highlight(s.code, s.language)}</code></pre>`;
    })
    .filter(Boolean)
    .join("\n");
}

/** Rendered markdown and the code blocks it holds, numbered from `firstBlock`. */
export interface RenderedPart {
  html: string;
  firstBlock: number;
  code: Extract<Segment, { kind: "code" }>[];
}

/**
 * An answer rendered while it streams in, in time linear in its length: the text up to the last point where no
 * later text can change how it renders (after a blank line outside a fence, or after a closing fence) is rendered
 * once and never again; only the tail after it is rendered on each update. The finished parts joined with "\n",
 * then the tail, give exactly `renderMarkdown` of the whole answer.
 */
export class MarkdownStream {
  private text = "";
  private settled = 0; // text[0, settled) is rendered for good
  private scanned = 0; // start of the first line not yet scanned for boundaries
  private fence: RegExp | undefined; // the open fence's closing pattern at `scanned`
  private blocks = 0;

  /** Adds streamed text; returns the parts that became final (to append once) and the current tail (to replace). */
  push(delta: string): { settled: RenderedPart[]; tail: RenderedPart } {
    this.text += delta;
    let boundary = this.settled;
    // Line ends as splitAnswer reads them; a "\r" last may still become "\r\n".
    const ends = /\r\n|\r(?!$)|\n/g;
    ends.lastIndex = this.scanned;
    for (let m = ends.exec(this.text); m; m = ends.exec(this.text)) {
      const line = this.text.slice(this.scanned, m.index);
      this.scanned = m.index + m[0].length;
      if (this.fence) {
        if (this.fence.test(line)) {
          this.fence = undefined;
          boundary = this.scanned;
        }
      } else {
        const open = fenceOpen(line);
        if (open) this.fence = open.close;
        else if (line.trim() === "") boundary = this.scanned;
      }
    }
    const settled: RenderedPart[] = [];
    if (boundary > this.settled) {
      settled.push(this.part(this.text.slice(this.settled, boundary)));
      this.settled = boundary;
      this.blocks += settled[0]!.code.length;
    }
    return { settled, tail: this.part(this.text.slice(this.settled)) };
  }

  private part(markdown: string): RenderedPart {
    const code = splitAnswer(markdown).filter((seg): seg is Extract<Segment, { kind: "code" }> => seg.kind === "code");
    return { html: renderMarkdown(markdown, this.blocks), firstBlock: this.blocks, code };
  }
}

type Block = { kind: "p" | "quote"; lines: string[] } | { kind: "list"; tag: "ul" | "ol"; items: string[] };

function renderBlocks(text: string): string {
  const out: string[] = [];
  let current: Block | undefined;
  const flush = () => {
    const b = current;
    if (!b) return;
    if (b.kind === "list") {
      out.push(`<${b.tag}>${b.items.map((it) => `<li>${inline(it)}</li>`).join("")}</${b.tag}>`);
    } else {
      const p = `<p>${inline(b.lines.join(" "))}</p>`;
      out.push(b.kind === "quote" ? `<blockquote>${p}</blockquote>` : p);
    }
    current = undefined;
  };
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    let m: RegExpExecArray | null;
    if (line.trim() === "") {
      flush();
    } else if ((m = /^ {0,3}(#{1,6})\s+/.exec(line))) {
      flush();
      out.push(`<h${m[1]!.length}>${inline(headingText(line.slice(m[0].length)))}</h${m[1]!.length}>`);
    } else if (/^ {0,3}([-*_])( *\1){2,}$/.test(line)) {
      flush();
      out.push("<hr>");
    } else if ((m = /^\s*(?:([-*+])|\d{1,9}[.)])\s+(.*)$/.exec(line))) {
      const tag = m[1] ? "ul" : "ol";
      if (current?.kind !== "list" || current.tag !== tag) {
        flush();
        current = { kind: "list", tag, items: [] };
      }
      current.items.push(m[2]!);
    } else if ((m = /^ {0,3}>\s?(.*)$/.exec(line))) {
      if (current?.kind !== "quote") {
        flush();
        current = { kind: "quote", lines: [] };
      }
      current.lines.push(m[1]!);
    } else if (current?.kind === "list") {
      // A continuation line of the last list item.
      current.items[current.items.length - 1] += ` ${line.trim()}`;
    } else {
      if (current?.kind !== "p") {
        flush();
        current = { kind: "p", lines: [] };
      }
      current.lines.push(line.trim());
    }
  }
  flush();
  return out.join("\n");
}

/** A heading's text without its optional closing hashes (scanned from the end: a regex here was quadratic). */
function headingText(rest: string): string {
  let end = rest.length;
  while (end > 0 && rest[end - 1] === "#") end--;
  while (end > 0 && /\s/.test(rest[end - 1]!)) end--;
  return rest.slice(0, end);
}

/**
 * Code spans and links are cut out first so emphasis never applies inside them. One left-to-right scan: a run of
 * n backticks closes at the next run of exactly n (found through per-length lists, so unclosed runs cost nothing
 * more), a `[` pairs with the first `]` after it.
 */
function inline(s: string): string {
  const runs = new Map<number, number[]>();
  for (const m of s.matchAll(/`+/g)) {
    const list = runs.get(m[0].length) ?? [];
    list.push(m.index);
    runs.set(m[0].length, list);
  }
  const nextRun = new Map<number, number>(); // per length: index into its list of the first run not yet passed
  // The first `)` or space at or after each position: where a link's address ends.
  const stop = new Int32Array(s.length + 1).fill(-1);
  for (let p = s.length - 1; p >= 0; p--) stop[p] = s[p] === ")" || /\s/.test(s[p]!) ? p : stop[p + 1]!;
  let out = "";
  let last = 0;
  let bracketClose = -1;
  for (let i = 0; i < s.length; ) {
    const c = s[i];
    if (c === "`") {
      let n = 1;
      while (s[i + n] === "`") n++;
      const list = runs.get(n)!;
      let k = nextRun.get(n) ?? 0;
      while (k < list.length && list[k]! <= i) k++;
      nextRun.set(n, k);
      const close = list[k];
      if (close !== undefined) {
        out += emphasis(escapeHtml(s.slice(last, i))) + `<code>${escapeHtml(s.slice(i + n, close).trim())}</code>`;
        i = last = close + n;
      } else i += n;
    } else if (c === "[") {
      if (bracketClose < i) {
        bracketClose = s.indexOf("]", i);
        if (bracketClose === -1) bracketClose = s.length;
      }
      const end = s[bracketClose + 1] === "(" ? stop[bracketClose + 2]! : -1;
      if (bracketClose > i + 1 && end !== -1 && s[end] === ")") {
        const title = escapeHtml(s.slice(bracketClose + 2, end));
        out += emphasis(escapeHtml(s.slice(last, i))) + `<span class="md-link" title="${title}">${escapeHtml(s.slice(i + 1, bracketClose))}</span>`;
        i = last = end + 1;
      } else i++;
    } else i++;
  }
  return out + emphasis(escapeHtml(s.slice(last)));
}

/**
 * Pairs `delim` runs the way a lazy regex would (an opener followed by a non-space, the nearest closer preceded by
 * one), in linear time: the nearest closer at or after each position is precomputed from the right.
 */
function pairUp(s: string, delim: string, tag: string, flanked: boolean): string {
  const d = delim.length;
  const isWord = (ch: string | undefined) => ch !== undefined && /\w/.test(ch);
  const isSpace = (ch: string | undefined) => ch === undefined || /\s/.test(ch);
  const closer = (c: number) => s.startsWith(delim, c) && !isSpace(s[c - 1]) && !(flanked && isWord(s[c + d]));
  const next = new Int32Array(s.length + 2).fill(-1);
  for (let c = s.length - d; c >= 0; c--) next[c] = closer(c) ? c : next[c + 1]!;
  let out = "";
  let last = 0;
  for (let i = 0; i + d <= s.length; ) {
    const open = s.startsWith(delim, i) && !isSpace(s[i + d]) && !(flanked && i > 0 && isWord(s[i - 1]));
    const close = open && i + d + 1 <= s.length ? next[i + d + 1]! : -1;
    if (close === -1) {
      i++;
      continue;
    }
    out += `${s.slice(last, i)}<${tag}>${s.slice(i + d, close)}</${tag}>`;
    i = last = close + d;
  }
  return out + s.slice(last);
}

/** On already-escaped text: only fixed tags are added, so this cannot open an injection. */
function emphasis(escaped: string): string {
  return pairUp(pairUp(escaped, "**", "strong", false), "__", "strong", true)
    .replace(/\*(?=[^\s*])([^*]*?[^\s*])\*/g, "<em>$1</em>")
    .replace(/(^|[^\w])_(?=[^\s_])([^_]*?[^\s_])_(?!\w)/g, "$1<em>$2</em>");
}

interface Grammar {
  keywords: ReadonlySet<string>;
  /** Line comment starters. */
  line: readonly string[];
  /** Whether slash-star block comments exist. */
  block: boolean;
  /** Whether backtick strings exist (template literals, Go raw strings, shell substitutions). */
  backtick: boolean;
}

const words = (s: string): ReadonlySet<string> => new Set(s.split(/\s+/).filter(Boolean));
const C_LIKE = "if else for while do switch case default break continue return goto sizeof struct union enum typedef static const extern void int char short long float double unsigned signed bool true false NULL";
const GRAMMARS: Record<string, Grammar> = {
  js: {
    keywords: words(
      "async await break case catch class const continue debugger default delete do else enum export extends false finally for from function if implements import in instanceof interface let new null of private protected public readonly return static super switch this throw true try type typeof undefined var void while yield as keyof declare namespace abstract",
    ),
    line: ["//"],
    block: true,
    backtick: true,
  },
  python: {
    keywords: words("and as assert async await break class continue def del elif else except False finally for from global if import in is lambda None nonlocal not or pass raise return True try while with yield self match case"),
    line: ["#"],
    block: false,
    backtick: false,
  },
  rust: {
    keywords: words("as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while Some None Ok Err"),
    line: ["//"],
    block: true,
    backtick: false,
  },
  go: {
    keywords: words("break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var nil true false"),
    line: ["//"],
    block: true,
    backtick: true,
  },
  java: {
    keywords: words("abstract boolean break byte case catch char class const continue default do double else enum extends final finally float for if implements import instanceof int interface long new null package private protected public return short static super switch this throw throws true false try void volatile while var record val fun when object"),
    line: ["//"],
    block: true,
    backtick: false,
  },
  c: { keywords: words(C_LIKE), line: ["//"], block: true, backtick: false },
  cpp: {
    keywords: words(`${C_LIKE} class namespace template typename public private protected virtual override new delete this nullptr auto using try catch throw constexpr noexcept`),
    line: ["//"],
    block: true,
    backtick: false,
  },
  csharp: {
    keywords: words("abstract as async await base bool break case catch class const continue default do double else enum false finally float for foreach if in int interface internal is namespace new null object override private protected public readonly return sealed static string struct switch this throw true try typeof using var virtual void while"),
    line: ["//"],
    block: true,
    backtick: false,
  },
  shell: {
    keywords: words("if then else elif fi for while until do done case esac function in return local export echo exit"),
    line: ["#"],
    block: false,
    backtick: true,
  },
  json: { keywords: words("true false null"), line: [], block: false, backtick: false },
};
const ALIASES: Record<string, string> = {
  javascript: "js", typescript: "js", ts: "js", jsx: "js", tsx: "js", mjs: "js", cjs: "js",
  py: "python", python3: "python", rs: "rust", golang: "go", kotlin: "java", kt: "java", scala: "java",
  h: "c", "c++": "cpp", cc: "cpp", hpp: "cpp", cxx: "cpp", cs: "csharp", "c#": "csharp",
  sh: "shell", bash: "shell", zsh: "shell", console: "shell", jsonc: "json",
};

const TOKEN_CACHE = new Map<string, RegExp>();

/** One alternation per grammar: comment | string | number | word; everything between matches is plain text. */
function tokenizer(name: string, g: Grammar): RegExp {
  let re = TOKEN_CACHE.get(name);
  if (!re) {
    const comments = [...(g.block ? ["/\\*[\\s\\S]*?(?:\\*/|$)"] : []), ...g.line.map((l) => `${l.replace(/[/#]/g, "\\$&")}[^\\n]*`)];
    const strings = [`"(?:[^"\\\\\\n]|\\\\.)*"?`, `'(?:[^'\\\\\\n]|\\\\.)*'?`, ...(g.backtick ? ["`(?:[^`\\\\]|\\\\[\\s\\S])*`?"] : [])];
    re = new RegExp(
      `(${comments.join("|") || "(?!)"})|(${strings.join("|")})|(\\b(?:0[xX][0-9a-fA-F_]+|\\d[\\d_]*(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)\\b)|([A-Za-z_$][\\w$]*)`,
      "g",
    );
    TOKEN_CACHE.set(name, re);
  }
  return re;
}

/** Escaped code with `tok-*` spans for keywords, strings, comments and numbers; unknown languages stay plain. */
export function highlight(code: string, language: string): string {
  const name = ALIASES[language] ?? language;
  const g = GRAMMARS[name];
  if (!g) return escapeHtml(code);
  const span = (cls: string, s: string) => `<span class="tok-${cls}">${escapeHtml(s)}</span>`;
  let out = "";
  let last = 0;
  for (const m of code.matchAll(tokenizer(name, g))) {
    out += escapeHtml(code.slice(last, m.index));
    if (m[1] !== undefined) out += span("comment", m[0]);
    else if (m[2] !== undefined) out += span("string", m[0]);
    else if (m[3] !== undefined) out += span("number", m[0]);
    else out += g.keywords.has(m[0]) ? span("keyword", m[0]) : escapeHtml(m[0]);
    last = m.index + m[0].length;
  }
  return out + escapeHtml(code.slice(last));
}
