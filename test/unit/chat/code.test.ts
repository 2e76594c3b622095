import * as assert from "node:assert/strict";
import { codePrompt, fence, questionComment, unfence } from "../../../src/core/chat/code";
import { renderMarkdown, splitAnswer } from "../../../src/core/chat/markdown";
import { policyPrompt } from "../../../src/engine/prompts";
import type { PolicySpec } from "../../../src/engine/protocol";

describe("chat on a base code model: prompt and answer shaping", () => {
  it("writes the question as a doc comment in the language: JSDoc in the C family, a docstring in Python, the line syntax elsewhere", () => {
    assert.equal(questionComment("Sum the values\nskip NaN */ too", "typescript"), "/**\n * Sum the values\n * skip NaN * / too\n */");
    assert.equal(questionComment("  read lines  ", "go"), "/**\n * read lines\n */");
    assert.equal(questionComment('say """hi"""', "python"), `"""\nsay '''hi'''\n"""`);
    assert.equal(questionComment("list files", "shellscript"), "# list files");
    assert.equal(questionComment("a --> b", "html"), "<!-- a  b -->");
    // No known syntax: the C family's, which most code models read as a comment.
    assert.equal(questionComment("what", ""), "/**\n * what\n */");
  });

  it("puts the attached code before the question, keeps its last whole lines when it does not fit, and names the language", () => {
    const code = "line one\nline two\nline three";
    assert.deepEqual(codePrompt("why", "python", code, { chars: 1000, lines: 100 }), { kind: "raw", text: `${code}\n\n"""\nwhy\n"""\n`, language: "python" });
    assert.deepEqual(codePrompt("why", "python", "", { chars: 1000, lines: 100 }), { kind: "raw", text: '"""\nwhy\n"""\n', language: "python" });
    assert.deepEqual(codePrompt("why", "", "", { chars: 1000, lines: 100 }), { kind: "raw", text: "/**\n * why\n */\n" });
    const question = '"""\nwhy\n"""\n';
    for (let room = 0; room <= code.length + 2; room++) {
      const p = codePrompt("why", "python", code, { chars: question.length + 1 + room, lines: 100 });
      assert.ok(p.kind === "raw");
      const context = p.text.slice(0, p.text.length - question.length);
      assert.ok(p.text.endsWith(question));
      assert.ok(context === "" || `${code}\n`.endsWith(context.slice(0, -1)), `room ${room}: ${JSON.stringify(context)}`);
      assert.ok(context.length <= room + 1, `room ${room}: ${context.length} characters`);
      if (context) assert.ok(context.startsWith("line"), `whole lines only: ${JSON.stringify(context)}`);
    }
    assert.equal((codePrompt("why", "python", code, { chars: question.length + 1 + "line three\n".length, lines: 100 }) as { text: string }).text, `line three\n\n${question}`);
    // At most so many lines, as a completion's prefix.
    assert.equal((codePrompt("why", "python", `${code}\n`, { chars: 1000, lines: 2 }) as { text: string }).text, `line two\nline three\n\n${question}`);
    assert.equal((codePrompt("why", "python", code, { chars: 1000, lines: 0 }) as { text: string }).text, question);
  });

  it("fences code so the rendered block holds exactly the model's text, whatever fences it holds", () => {
    const cases = ["const a = 1;", "x\n", "", "\n\n", "```", "a\n```\nb", "  ```js\n````\n", "`~~~`", "~~~\nz"];
    for (const code of cases) {
      const block = fence(code, "typescript");
      assert.equal(unfence(block), code);
      assert.deepEqual(splitAnswer(block), [{ kind: "code", language: "typescript", code, closed: true }], JSON.stringify(code));
      assert.match(renderMarkdown(block), /^<pre class="code-block" data-block="0"><code class="language-typescript">[^]*<\/code><\/pre>$/);
    }
    assert.equal(fence("a", ""), "```\na\n```");
    assert.equal(fence("a\n```\n", "js"), "````js\na\n```\n\n````");
  });

  it("prompted experts see their exemplar before a raw prompt in a language, their header without one", () => {
    const expert: PolicySpec = {
      id: "comments",
      kind: "prompted",
      chat: "Comment your code.",
      fim: "// Comment every step.",
      exemplars: { "javascript,typescript": "// one\nconst x = 1;" },
    };
    const question = "/**\n * sum\n */\n";
    assert.deepEqual(policyPrompt({ kind: "raw", text: question, language: "typescript" }, expert), {
      kind: "raw",
      text: `// one\nconst x = 1;\n\n${question}`,
      language: "typescript",
    });
    // The pack gives no exemplar for Python: the expert does not apply there, as in FIM.
    assert.deepEqual(policyPrompt({ kind: "raw", text: "x", language: "python" }, expert), { kind: "raw", text: "x", language: "python" });
    const headerOnly: PolicySpec = { ...expert, exemplars: undefined };
    assert.deepEqual(policyPrompt({ kind: "raw", text: "x", language: "python" }, headerOnly), { kind: "raw", text: "# Comment every step.\nx", language: "python" });
    assert.deepEqual(policyPrompt({ kind: "raw", text: "x" }, expert), { kind: "raw", text: "// Comment every step.\nx" });
    const plain = { kind: "raw" as const, text: "x", language: "typescript" };
    assert.equal(policyPrompt(plain), plain, "pi_0 sees the prompt as is");
  });
});
