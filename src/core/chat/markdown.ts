// Markdown for chat answers, rendered to HTML the webview can insert as is. Model output is untrusted (a prompt
// can make it echo anything), so every character of input reaches the HTML escaped; the only markup is the fixed
// tags emitted here. A deliberate subset: headings, paragraphs, lists, quotes, rules, inline code, bold/italic,
// links shown as text (no navigation from a webview), fenced code with a small keyword highlighter.

export type Segment =
  | { kind: "text"; text: string }
  /** `closed` is false for a fence still streaming in. */
  | { kind: "code"; language: string; code: string; closed: boolean };

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)[^`]*$/;
const LANGUAGE = /^[A-Za-z0-9_+#.-]{1,32}$/;

/** Splits an answer into text and fenced code blocks, in order; code blocks are what copy/insert/replace act on. */
export function splitAnswer(markdown: string): Segment[] {
  const segments: Segment[] = [];
  const lines = markdown.replace(/\r\n?/g, "\n").split("\n");
  let text: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) {
      text.push(lines[i]!);
      continue;
    }
    if (text.length) segments.push({ kind: "text", text: text.join("\n") });
    text = [];
    const [, fence, info] = open as unknown as [string, string, string];
    const close = new RegExp(`^ {0,3}${fence[0] === "`" ? "`" : "~"}{${fence.length},}\\s*$`);
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
 * `splitAnswer`) so the webview's copy/insert/replace buttons send the original code, not scraped HTML.
 */
export function renderMarkdown(markdown: string): string {
  let block = 0;
  return splitAnswer(markdown)
    .map((s) => {
      if (s.kind === "text") return renderBlocks(s.text);
      const cls = s.language ? ` class="language-${escapeHtml(s.language)}"` : "";
      return `<pre class="code-block" data-block="${block++}"><code${cls}>${highlight(s.code, s.language)}</code></pre>`;
    })
    .join("\n");
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
    } else if ((m = /^ {0,3}(#{1,6})\s+(.*?)\s*#*$/.exec(line))) {
      flush();
      out.push(`<h${m[1]!.length}>${inline(m[2]!)}</h${m[1]!.length}>`);
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

/** Code spans and links are cut out first so emphasis never applies inside them. */
const INLINE_ATOMS = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\[([^\]\n]+)\]\(([^)\s]*)\)/g;

function inline(s: string): string {
  let out = "";
  let last = 0;
  for (const m of s.matchAll(INLINE_ATOMS)) {
    out += emphasis(escapeHtml(s.slice(last, m.index)));
    out += m[1] ? `<code>${escapeHtml(m[2]!.trim())}</code>` : `<span class="md-link" title="${escapeHtml(m[4]!)}">${escapeHtml(m[3]!)}</span>`;
    last = m.index + m[0].length;
  }
  return out + emphasis(escapeHtml(s.slice(last)));
}

/** On already-escaped text: only fixed tags are added, so this cannot open an injection. */
function emphasis(escaped: string): string {
  return escaped
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^\w])__(?=\S)([\s\S]*?\S)__(?!\w)/g, "$1<strong>$2</strong>")
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
