import * as assert from "node:assert/strict";
import { escapeHtml, highlight, MarkdownStream, renderMarkdown, splitAnswer } from "../../../src/core/chat/markdown";
import { seededRng } from "../../../src/core/adapt/rng";

/** Every tag in the output must be one the renderer emits on purpose. */
const ALLOWED_TAG = /^<\/?(p|h[1-6]|ul|ol|li|blockquote|hr|code|pre|strong|em|span)(\s+(class|title|data-block)="[^"<>]*")*>$/;
function assertOnlyOwnTags(html: string): void {
  for (const tag of html.match(/<[^>]*>/g) ?? []) assert.match(tag, ALLOWED_TAG, `unexpected markup ${tag} in ${html}`);
}

describe("chat markdown", () => {
  describe("splitAnswer", () => {
    it("splits text and fenced code blocks with their languages", () => {
      const md = "Here:\n\n```ts\nconst a = 1;\n\nconst b = 2;\n```\nand\n~~~python\nx = 1\n~~~\n";
      assert.deepEqual(splitAnswer(md), [
        { kind: "text", text: "Here:\n" },
        { kind: "code", language: "ts", code: "const a = 1;\n\nconst b = 2;", closed: true },
        { kind: "text", text: "and" },
        { kind: "code", language: "python", code: "x = 1", closed: true },
        { kind: "text", text: "" },
      ]);
    });

    it("keeps a fence that is still streaming as an open code block", () => {
      assert.deepEqual(splitAnswer("Try\n```js\nlet x"), [
        { kind: "text", text: "Try" },
        { kind: "code", language: "js", code: "let x", closed: false },
      ]);
    });

    it("closes only on a fence of the same kind and at least the same length", () => {
      const segs = splitAnswer("````md\n```js\ninner\n```\n````");
      assert.deepEqual(segs, [{ kind: "code", language: "md", code: "```js\ninner\n```", closed: true }]);
    });

    it("handles CRLF and drops a language that is not a plain name", () => {
      assert.deepEqual(splitAnswer('```"><script>\r\na\r\n```'), [{ kind: "code", language: "", code: "a", closed: true }]);
    });
  });

  describe("renderMarkdown", () => {
    it("renders headings, paragraphs, lists, quotes, rules and inline styles", () => {
      const html = renderMarkdown(
        "# Title\n\nSome **bold** and *italic* and `a < b` text\nwrapped.\n\n- one\n- two\n  continued\n\n1. first\n2) second\n\n> quoted\n\n---\n\nsnake_case_name stays _em_",
      );
      assert.equal(
        html,
        [
          "<h1>Title</h1>",
          "<p>Some <strong>bold</strong> and <em>italic</em> and <code>a &lt; b</code> text wrapped.</p>",
          "<ul><li>one</li><li>two continued</li></ul>",
          "<ol><li>first</li><li>second</li></ol>",
          "<blockquote><p>quoted</p></blockquote>",
          "<hr>",
          "<p>snake_case_name stays <em>em</em></p>",
        ].join("\n"),
      );
    });

    it("shows links as text, with the address only in an escaped title", () => {
      const html = renderMarkdown("see [the docs](https://example.com/a?b=1&c=2) and [x](javascript:alert(1))");
      assert.match(html, /<span class="md-link" title="https:\/\/example.com\/a\?b=1&amp;c=2">the docs<\/span>/);
      assert.ok(!html.includes("<a"), html);
      assertOnlyOwnTags(html);
    });

    it("renders code blocks with a language class, highlighting and an index for the code actions", () => {
      const html = renderMarkdown("a\n```ts\nconst s = \"<b>\"; // note\n```\n```\nplain <i>\n```");
      assert.ok(html.includes('<pre class="code-block" data-block="0"><code class="language-ts">'), html);
      assert.ok(html.includes('<span class="tok-keyword">const</span>'), html);
      assert.ok(html.includes('<span class="tok-string">&quot;&lt;b&gt;&quot;</span>'), html);
      assert.ok(html.includes('<span class="tok-comment">// note</span>'), html);
      assert.ok(html.includes('<pre class="code-block" data-block="1"><code>plain &lt;i&gt;</code></pre>'), html);
    });

    it("is safe against HTML injection anywhere in the answer", () => {
      const attacks = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "**<img src=x onerror=alert(1)>**",
        "# <iframe src=//evil>",
        "- <a href=javascript:alert(1)>x</a>",
        "> <svg onload=alert(1)>",
        "`</code><script>alert(1)</script>`",
        '[click" onmouseover="alert(1)](http://x" onclick="alert(1))',
        '[<b>x</b>](")',
        "```html\n</code></pre><script>alert(1)</script>\n```",
        "```js\n`${'</span><script>'}`\n```",
        '```"><img src=x onerror=alert(1)>\nx\n```',
        "*a <b>* _c </b>_",
        "&lt;script&gt; already-escaped text stays literal",
      ];
      for (const md of attacks) {
        const html = renderMarkdown(md);
        assertOnlyOwnTags(html);
        assert.ok(!/<(script|img|iframe|svg|a)\b/i.test(html), `${md} -> ${html}`);
      }
      assert.ok(renderMarkdown("&lt;").includes("&amp;lt;"));
    });
  });

  describe("highlight", () => {
    it("knows common languages through their aliases and leaves unknown ones plain", () => {
      assert.ok(highlight("def f(): return None  # c", "py").includes('<span class="tok-keyword">def</span>'));
      assert.ok(highlight("def f(): return None  # c", "py").includes('<span class="tok-comment"># c</span>'));
      assert.ok(highlight("fn main() { let x = 0x1F; }", "rust").includes('<span class="tok-number">0x1F</span>'));
      assert.ok(highlight("if [ -f x ]; then echo hi; fi", "bash").includes('<span class="tok-keyword">then</span>'));
      assert.ok(highlight('"#not a comment"', "python").startsWith('<span class="tok-string">'));
      assert.equal(highlight("if x < y", "cobol"), "if x &lt; y");
    });

    it("escapes every character of input, whatever the tokens", () => {
      const code = "/* <x> */ '<y>' `<z>` <w> & \"q\"";
      const html = highlight(code, "ts");
      assert.equal(html.replace(/<\/?span[^>]*>/g, ""), escapeHtml(code));
    });
  });
});

describe("chat markdown in linear time", () => {
  const N = 40_000;
  const cases: [string, string][] = [
    ["a long heading", `# ${"a ".repeat(N / 2)}x`],
    ["a heading with a long run of spaces", `# a${" ".repeat(N)}b`],
    ["a heading of spaces and hashes", `# ${" #".repeat(N / 2)}a`],
    ["unclosed strong openers", "**a ".repeat(N / 4)],
    ["unclosed __ openers", " __a".repeat(N / 4)],
    ["unmatched backtick runs", "`a ``b ".repeat(N / 7)],
    ["open brackets", "[".repeat(N)],
    ["bracket-paren chains", "](".repeat(N / 2)],
    ["a fence line ending in a backtick", `\`\`\`${"a".repeat(N)}\``],
    ["emphasis soup", "*_`[a](b ".repeat(N / 9)],
  ];
  for (const [name, md] of cases) {
    it(`renders ${name} (${md.length} chars) fast`, () => {
      const t0 = performance.now();
      renderMarkdown(md);
      const ms = performance.now() - t0;
      // A quadratic pattern takes seconds here; linear work is a few milliseconds even on a loaded machine.
      assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
    });
  }
});

describe("MarkdownStream", () => {
  const LINES = ["# Head", "", "para *em* and `code`", "- item", "  more", "1. one", "> quote", "```ts", "const a = 1;", "```", "~~~", "x", "~~~", "text [l](u)", "---", "\r", "**b**"];
  it("renders any answer streamed in any chunks exactly as renderMarkdown renders it whole, settled parts once", () => {
    const rng = seededRng(5);
    for (let trial = 0; trial < 300; trial++) {
      const doc = Array.from({ length: 1 + Math.floor(rng.next() * 25) }, () => LINES[Math.floor(rng.next() * LINES.length)]).join(rng.next() < 0.2 ? "\r\n" : "\n");
      const stream = new MarkdownStream();
      const settled: string[] = [];
      let blocks = 0;
      for (let at = 0; at < doc.length; ) {
        const next = Math.min(doc.length, at + 1 + Math.floor(rng.next() * 12));
        const { settled: parts, tail } = stream.push(doc.slice(at, next));
        for (const p of parts) {
          assert.equal(p.firstBlock, blocks);
          blocks += p.code.length;
          settled.push(p.html);
        }
        at = next;
        assert.equal([...settled, tail.html].filter(Boolean).join("\n"), renderMarkdown(doc.slice(0, at)), JSON.stringify(doc.slice(0, at)));
      }
    }
  });

  it("re-renders only the tail: streaming a long answer costs about what rendering it once does", () => {
    const doc = Array.from({ length: 400 }, (_, i) => `Paragraph ${i} with **bold** and \`code\`.\n\n\`\`\`js\nlet x = ${i};\n\`\`\`\n`).join("\n");
    const stream = new MarkdownStream();
    let rendered = 0;
    for (let at = 0; at < doc.length; at += 4) {
      const { settled, tail } = stream.push(doc.slice(at, at + 4));
      rendered += tail.html.length + settled.reduce((n, p) => n + p.html.length, 0);
    }
    const whole = renderMarkdown(doc).length;
    // Whole-answer re-rendering per chunk would produce about doc.length / 8 times the final HTML.
    assert.ok(rendered < 20 * whole, `${rendered} chars rendered for ${whole} chars of HTML`);
  });
});
