// The chat on a real base code model: tinycoder (../shared/models/tinycoder) has no chat template, so the engine
// reports it and the chat asks in code. Through the engine process: the answer arrives as a fenced block in the
// file's language, renders to a <pre><code> block, the prompted experts' exemplars apply to the code prompt, and a
// thumb records phi of exactly the model's text.
import * as assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { unfence } from "../../src/core/chat/code";
import { ChatHistory } from "../../src/core/chat/history";
import { renderMarkdown, splitAnswer } from "../../src/core/chat/markdown";
import { ChatSession } from "../../src/core/chat/session";
import { FeedbackRecorder } from "../../src/core/soup/recorder";
import type { Generator } from "../../src/core/soup/weights";
import type { EngineClient } from "../../src/engine/client";
import type { GenerateParams, GenerateResult } from "../../src/engine/protocol";
import type { ChatUpdate } from "../../src/shared/chat";
import { engineClient, loadParams, SHARED_MODELS } from "../support/engine";
import { FakeWeights, MemoryLog } from "../support/fakes";

const TINYCODER = path.join(SHARED_MODELS, "tinycoder", "tinycoder.gguf");
const EXEMPLARS = path.resolve(__dirname, "../../models/demo/exemplars.json");
const STYLES = ["comments", "single-quotes", "four-spaces", "no-semicolons"];
const CODE = "export function mean(xs: number[]): number {\n  let total = 0;\n  for (const x of xs) total += x;\n  return total / xs.length;\n}\n";

describe("chat on a base code model (tinycoder): answers in code", function () {
  this.timeout(300_000);
  let client: EngineClient;
  let dir: string;
  before(async function () {
    if (!existsSync(TINYCODER)) {
      console.log(`    skipped: ${TINYCODER} not present (the tinycoder model of ../shared/models)`);
      this.skip();
    }
    dir = await mkdtemp(path.join(os.tmpdir(), "soup-chat-base-"));
    client = engineClient();
  });
  after(async () => {
    client?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("the engine says tinycoder has no chat template; the chat streams its continuation as a fenced TypeScript block that renders to <pre><code>, and a thumb rates exactly that text", async () => {
    const status = await client.load(loadParams(TINYCODER, [], { contextSize: 1024, basis: { kind: "pack", path: EXEMPLARS } }));
    assert.equal(status.chatTemplate, false);
    const { history } = await ChatHistory.open(path.join(dir, "chat-history.json"));
    const calls: GenerateParams[] = [];
    const results: GenerateResult[] = [];
    const generator: Generator = {
      policies: STYLES.map((id) => ({ id, kind: "prompted" as const })),
      generate: async (params, options) => {
        calls.push(params);
        const r = await client.generate({ ...params, seed: 1 }, options);
        results.push(r);
        return r;
      },
      score: (params) => client.score(params),
    };
    const weights = new FakeWeights(STYLES);
    // A person who has liked comments: that expert at weight 1, the others at 0.
    weights.weights = () => ({ comments: 1, "single-quotes": 0, "four-spaces": 0, "no-semicolons": 0 });
    const log = new MemoryLog();
    const updates: ChatUpdate[] = [];
    const session = new ChatSession({
      history,
      generator,
      weights,
      feedback: new FeedbackRecorder({ generator, weights, log, file: path.join(dir, "waiting-feedback.json"), retryMs: 0, engineUp: () => true }),
      settings: () => ({ chat: { maxTokens: 96, comparisons: false, comparisonMinAnswers: 0, comparisonMinMinutes: 0 }, soupMode: "auto", exploration: false, load: { contextSize: 1024 }, completions: { prefixLines: 4 } }),
      chatTemplate: async () => status.chatTemplate,
      labels: () => ({}),
      log,
      onUpdate: (u) => updates.push(u),
    });

    await session.send("Return the largest value of the list", "file", { file: "src/mean.ts", language: "typescript", code: CODE });
    const prompt = calls[0]!.prompt;
    assert.ok(prompt.kind === "raw" && prompt.language === "typescript", `a code prompt: ${JSON.stringify(prompt)}`);
    // tinycoder reads about 256 tokens: the attached file is cut to its last 4 lines, as the demo's completion prefix.
    assert.equal(prompt.text, `${CODE.split("\n").slice(1).join("\n")}\n/**\n * Return the largest value of the list\n */\n`);
    // Explicit soup: the comments expert's exemplar is in play.
    assert.deepEqual([calls[0]!.mode, calls[0]!.weights.comments], ["explicit", 1]);

    const streamed = updates.flatMap((u) => (u.type === "answerDelta" ? [u.text] : [])).join("");
    const answer = history.turns.at(-1)!;
    assert.ok(answer.role === "assistant" && answer.code?.language === "typescript");
    const code = unfence(answer.text);
    console.log(`    tinycoder's answer: ${JSON.stringify(code)}`);
    assert.ok(/[A-Za-z_]{2,}/.test(code), "the model wrote something");
    assert.ok(streamed.startsWith("```typescript\n") && streamed.endsWith("\n```"), `streamed in a fence: ${JSON.stringify(streamed)}`);
    // Unless the model wrote a fence line itself (then the history holds a longer fence), the page saw what is kept.
    if (!code.includes("```")) assert.equal(streamed, answer.text);
    assert.deepEqual(splitAnswer(answer.text), [{ kind: "code", language: "typescript", code, closed: true }]);
    const html = renderMarkdown(answer.text);
    assert.match(html, /^<pre class="code-block" data-block="0"><code class="language-typescript">[^]*<\/code><\/pre>$/);
    assert.ok(updates.some((u) => u.type === "history" && u.notice), "the page is told the model answers in code");

    await session.rate(answer.answerId, true);
    const recorded = weights.recorded.at(-1)!;
    assert.equal(recorded.text, code, "the thumb rates the model's text, not the fence around it");
    // phi of those tokens under the code prompt, scored again by the engine, is what generation reported.
    assert.equal(results[0]!.text, code);
    const scored = await client.score({ prompt, response: code, responseTokens: results[0]!.tokens });
    assert.ok(recorded.event.type === "rating");
    const phi = recorded.event.type === "rating" ? recorded.event.features : [];
    console.log(`    phi from generation ${phi.map((x) => x.toFixed(3)).join(", ")}; scored again ${STYLES.map((id) => scored.features[id]!.toFixed(3)).join(", ")}`);
    STYLES.forEach((id, k) => assert.ok(Math.abs(phi[k]! - scored.features[id]!) <= 0.05 * Math.max(1, Math.abs(phi[k]!)), `${id}: ${phi[k]} vs ${scored.features[id]}`));
    // The exemplars apply to the code prompt: every TypeScript expert moves the log-probability of the answer.
    for (const id of STYLES) assert.notEqual(scored.features[id], 0, `${id} applies to the TypeScript code prompt`);
  });

  it("in Python, experts without a Python exemplar leave the code prompt as it is (phi 0), the others apply", async () => {
    const prompt = { kind: "raw" as const, text: '"""\nRead a file line by line.\n"""\n', language: "python" };
    const r = await client.generate({ prompt, mode: "explicit", weights: { comments: 1 }, maxTokens: 48, temperature: 0.3, seed: 2, stop: ["\n\n\n"] });
    console.log(`    tinycoder's Python answer: ${JSON.stringify(r.text)}`);
    assert.equal(r.features!["four-spaces"], 0);
    assert.equal(r.features!["no-semicolons"], 0);
    assert.notEqual(r.features!.comments, 0);
  });
});
