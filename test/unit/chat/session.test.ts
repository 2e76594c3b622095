import * as assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { BASE_MODEL_NOTICE } from "../../../src/core/chat/code";
import { ChatHistory } from "../../../src/core/chat/history";
import { splitAnswer } from "../../../src/core/chat/markdown";
import { CHARS_PER_TOKEN, ChatSession, SYSTEM_PROMPT, type ChatSessionSettings } from "../../../src/core/chat/session";
import type { ChatUpdate } from "../../../src/shared/chat";
import { FakeGenerator, FakeWeights, hang, MemoryLog, recorderFor, result } from "../../support/fakes";

describe("ChatSession", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "soup-chat-"));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function setup(o: { comparisons?: boolean; contextSize?: number; soupMode?: ChatSessionSettings["soupMode"]; chatTemplate?: boolean | null } = {}) {
    const { history } = await ChatHistory.open(path.join(dir, "chat-history.json"));
    const generator = new FakeGenerator(
      [
        { id: "a", kind: "prompted" },
        { id: "b", kind: "prompted" },
      ],
      async (_p, opts) => {
        for (const t of ["Use ", "a map."]) opts.onToken?.(t);
        return result("Use a map.", { a: 0.5, b: -1 });
      },
    );
    const weights = new FakeWeights(["a", "b"]);
    const updates: ChatUpdate[] = [];
    const log = new MemoryLog();
    const settings: ChatSessionSettings = {
      chat: { maxTokens: 100, comparisons: o.comparisons ?? false, comparisonMinAnswers: 0, comparisonMinMinutes: 0 },
      soupMode: o.soupMode ?? "auto",
      exploration: false,
      load: { contextSize: o.contextSize ?? 2048 },
      completions: { prefixLines: 256 },
    };
    const session = new ChatSession({
      history,
      generator,
      weights,
      feedback: recorderFor(generator, weights, log),
      settings: () => settings,
      ...(o.chatTemplate !== undefined ? { chatTemplate: async () => o.chatTemplate ?? null } : {}),
      labels: () => ({ a: "Concise", b: "Commented" }),
      log,
      onUpdate: (u) => updates.push(u),
    });
    return { session, history, generator, weights, updates, log, settings };
  }

  it("streams an answer with its contributions w_k phi_k and keeps both turns", async () => {
    const { session, history, generator, updates } = await setup();
    await session.send("How do I count words?", "selection", { file: "a.ts", language: "ts", code: "x" });
    const types = updates.map((u) => u.type);
    assert.deepEqual(types, ["history", "answerStart", "answerDelta", "answerDelta", "answerEnd"]);
    const end = updates.at(-1)!;
    assert.equal(end.type, "answerEnd");
    if (end.type !== "answerEnd") return;
    // Weights are the posterior mean (1 on each policy in the fake) when not exploring.
    assert.deepEqual(end.contributions, [
      { id: "a", label: "Concise", value: 0.5 },
      { id: "b", label: "Commented", value: -1 },
    ]);
    assert.equal(end.stopped, false);
    assert.deepEqual(history.turns.map((t) => t.role), ["user", "assistant"]);
    assert.equal(history.turns[1]!.text, "Use a map.");
    assert.equal(history.ab.answersSinceLast, 1);
    // The attachment is sent to the model but not kept in the history; chat is explicit soup with phi.
    const p = generator.calls[0]!;
    assert.equal(p.mode, "explicit");
    assert.equal(p.prompt.kind, "chat");
    if (p.prompt.kind !== "chat") return;
    assert.deepEqual(p.prompt.messages[0], { role: "system", content: SYSTEM_PROMPT });
    assert.match(p.prompt.messages[1]!.content, /How do I count words\?\n\nSelection from a\.ts:/);
    assert.equal(history.turns[0]!.text, "How do I count words?");
  });

  it("fits the conversation into the context next to the answer, always sending the newest question", async () => {
    // Budget: (contextSize - maxTokens) * CHARS_PER_TOKEN - the system prompt, in characters.
    const contextSize = 100 + Math.floor((SYSTEM_PROMPT.length + 60) / CHARS_PER_TOKEN);
    const { session, generator } = await setup({ contextSize });
    await session.send("q".repeat(100), "none", null);
    await session.send("second", "none", null);
    const second = generator.calls[1]!.prompt;
    if (second.kind !== "chat") return assert.fail("a chat prompt");
    // The old question (100 chars) and the answer (10) do not both fit with the new one: the old question goes.
    assert.deepEqual(second.messages.map((m) => m.role), ["system", "assistant", "user"]);
    await session.send("x".repeat(10_000), "none", null);
    const third = generator.calls[2]!.prompt;
    if (third.kind !== "chat") return assert.fail("a chat prompt");
    assert.deepEqual(third.messages.map((m) => m.content.length), [SYSTEM_PROMPT.length, 10_000]);
  });

  it("offers an A/B pair on an uncertain, relevant dimension, and records the pick as a choice", async () => {
    const { session, history, generator, weights, updates } = await setup({ comparisons: true });
    weights.stdValues = { a: 0.1, b: 0.8 };
    weights.meanValues = { a: 0, b: 0.5 };
    let n = 0;
    generator.respond = async () => result(`answer ${++n}`, n === 1 ? { a: 1, b: 0 } : { a: 0, b: 1 });
    await session.send("Which is better?", "none", null);
    const comparison = updates.find((u) => u.type === "comparison");
    assert.ok(comparison && comparison.type === "comparison");
    assert.equal(comparison.dimension, "Commented");
    assert.deepEqual([comparison.a.text, comparison.b.text], ["answer 1", "answer 2"]);
    // Two Thompson draws, one per side.
    assert.notDeepEqual(generator.calls[0]!.weights, generator.calls[1]!.weights);
    assert.deepEqual(updates.filter((u) => u.type === "busy").map((u) => u.type === "busy" && u.busy), [true, false]);
    await session.choose(comparison.comparisonId, "b");
    assert.deepEqual(weights.recorded.map((r) => r.event), [{ type: "choice", winner: [0, 1], loser: [1, 0] }]);
    assert.equal(weights.recorded[0]!.text, "answer 2");
    assert.equal(history.turns.at(-1)!.text, "answer 2");
    await assert.rejects(session.choose(comparison.comparisonId, "a"), /no longer open/);
  });

  it("scores an answer that got a thumb when generation gave no phi (parameter mode)", async () => {
    const { session, history, generator, weights } = await setup({ soupMode: "parameter" });
    generator.respond = async () => result("Short.", null);
    await session.send("Explain", "none", null);
    assert.equal(generator.calls[0]!.withFeatures, true);
    const answer = history.turns.at(-1)!;
    assert.equal(answer.role, "assistant");
    if (answer.role !== "assistant") return;
    await session.rate(answer.answerId, false);
    assert.equal(generator.scored.length, 1);
    assert.equal(generator.scored[0]!.response, "Short.");
    const event = weights.recorded[0]!.event;
    assert.deepEqual(event, { type: "rating", features: [0.5, -0.5], up: false, surface: "chat", signal: "thumb" });
    const rated = history.turns.at(-1)!;
    assert.equal(rated.role === "assistant" && rated.rating, "down");
  });

  it("stops a streaming answer on request, keeping what was written", async () => {
    const { session, history, generator, updates } = await setup();
    generator.respond = async (_p, o) => {
      o.onToken?.("Partial");
      // The user presses stop while the answer is being written.
      setImmediate(() => session.stop());
      return hang(o.signal);
    };
    await session.send("Long question", "none", null);
    const end = updates.at(-1)!;
    assert.deepEqual(end.type === "answerEnd" && [end.stopped, end.contributions], [true, []]);
    assert.equal(history.turns.at(-1)!.text, "Partial");
  });

  it("says so when no model is loaded, ending the answer on the page", async () => {
    const { session, generator, updates } = await setup();
    generator.respond = async () => null;
    await assert.rejects(session.send("Hi", "none", null), /No model is loaded/);
    assert.deepEqual(updates.at(-1), { type: "answerEnd", answerId: (updates.at(-2) as { answerId: string }).answerId, contributions: [], stopped: true });
    await assert.rejects(session.regenerate(), /No model is loaded/);
  });

  describe("on a base code model (no chat template)", () => {
    const editor = { file: "src/sum.ts", language: "typescript", code: "function sum(xs: number[]) {\n  return 0;\n}" };
    const answers = (updates: ChatUpdate[]) => updates.flatMap((u) => (u.type === "answerDelta" ? [u.text] : [])).join("");

    it("asks in code, streams the continuation as a fenced block and keeps that, says once that it answers in code", async () => {
      const { session, history, generator, updates } = await setup({ chatTemplate: false });
      generator.respond = async (_p, opts) => {
        for (const t of ["const total", " = sum([1, 2]);\n"]) opts.onToken?.(t);
        return result("const total = sum([1, 2]);\n", { a: 0.5, b: -1 });
      };
      await session.send("Sum the numbers", "selection", editor);
      const p = generator.calls[0]!;
      assert.deepEqual(p.prompt, { kind: "raw", text: `${editor.code}\n\n/**\n * Sum the numbers\n */\n`, language: "typescript" });
      assert.deepEqual(p.stop, ["\n\n\n"]);
      assert.equal(p.mode, "explicit");
      const fenced = "```typescript\nconst total = sum([1, 2]);\n\n```";
      assert.equal(answers(updates), fenced, "the page sees the fence around the streamed tokens");
      const answer = history.turns.at(-1)!;
      assert.deepEqual(answer.role === "assistant" && [answer.text, answer.code], [fenced, { language: "typescript" }]);
      // The question is shown at once; once the engine says the model is a base model, the history again with the
      // notice (the page shows it above the conversation, once however many answers follow).
      const notices = () => updates.flatMap((u) => (u.type === "history" ? [u.notice] : []));
      assert.deepEqual(notices(), [undefined, BASE_MODEL_NOTICE]);
      assert.deepEqual(updates.slice(0, 3).map((u) => u.type), ["history", "history", "answerStart"]);
      await session.send("again", "none", editor);
      assert.deepEqual(notices(), [undefined, BASE_MODEL_NOTICE, BASE_MODEL_NOTICE]);
    });

    it("a page shown again (a reload) gets the notice as soon as the engine says it is a base model, before any question", async () => {
      const { session, updates } = await setup({ chatTemplate: false });
      await session.pageShown();
      assert.deepEqual(
        updates.map((u) => (u.type === "history" ? u.notice : u.type)),
        [undefined, BASE_MODEL_NOTICE],
      );
      const chat = await setup({ chatTemplate: true });
      await chat.session.pageShown();
      assert.deepEqual(chat.updates.map((u) => (u.type === "history" ? u.notice : u.type)), [undefined]);
    });

    it("sends the newest question only, with the active editor's language when nothing is attached", async () => {
      const { session, generator } = await setup({ chatTemplate: false });
      await session.send("first", "none", { ...editor, language: "python" });
      await session.send("read a file", "none", { ...editor, language: "python" });
      assert.deepEqual(generator.calls[1]!.prompt, { kind: "raw", text: '"""\nread a file\n"""\n', language: "python" });
    });

    it("a thumb rates the model's text, not the fence: phi from generation, or scored under the code prompt after a reload", async () => {
      const { session, history, generator, weights } = await setup({ chatTemplate: false });
      generator.respond = async () => result("x = 1\n", { a: 0.25, b: 0.75 });
      await session.send("one", "file", { ...editor, language: "python" });
      const answer = history.turns.at(-1)!;
      assert.ok(answer.role === "assistant");
      await session.rate(answer.answerId, true);
      assert.equal(weights.recorded[0]!.text, "x = 1\n");
      assert.deepEqual(weights.recorded[0]!.event, { type: "rating", features: [0.25, 0.75], up: true, surface: "chat", signal: "thumb" });
      assert.equal(generator.scored.length, 0);
      // A new session over the same history (a reload): the phi kept with the answer is recorded, nothing is scored.
      const reload = (w: FakeWeights) =>
        new ChatSession({ history, generator, weights: w, feedback: recorderFor(generator, w, new MemoryLog()), settings: () => ({ chat: { maxTokens: 100, comparisons: false, comparisonMinAnswers: 0, comparisonMinMinutes: 0 }, soupMode: "auto", exploration: false, load: { contextSize: 2048 }, completions: { prefixLines: 256 } }), labels: () => ({}), log: new MemoryLog(), onUpdate: () => {} });
      assert.deepEqual(answer.features, { a: 0.25, b: 0.75 });
      await reload(weights).rate(answer.answerId, false);
      assert.equal(generator.scored.length, 0);
      assert.deepEqual(weights.recorded[1]!.event, { type: "rating", features: [0.25, 0.75], up: false, surface: "chat", signal: "thumb" });
      // Under another basis the kept phi does not apply: the text is scored under the prompt rebuilt in code.
      const other = new FakeWeights(["a", "c"]);
      await reload(other).rate(answer.answerId, true);
      assert.equal(generator.scored.length, 1);
      assert.equal(generator.scored[0]!.response, "x = 1\n");
      assert.deepEqual(generator.scored[0]!.prompt, { kind: "raw", text: '"""\none\n"""\n', language: "python" });
      assert.equal(other.recorded[0]!.text, "x = 1\n");
    });

    it("an A/B pair shows both sides fenced and records the pick on the model's texts", async () => {
      const { session, history, generator, weights, updates } = await setup({ chatTemplate: false, comparisons: true });
      weights.stdValues = { a: 0.1, b: 0.8 };
      weights.meanValues = { a: 0, b: 0.5 };
      let n = 0;
      generator.respond = async () => result(`f(${++n});`, n === 1 ? { a: 1, b: 0 } : { a: 0, b: 1 });
      await session.send("call f", "none", editor);
      const c = updates.find((u) => u.type === "comparison");
      assert.ok(c && c.type === "comparison");
      assert.deepEqual([c.a.text, c.b.text], ["```typescript\nf(1);\n```", "```typescript\nf(2);\n```"]);
      await session.choose(c.comparisonId, "a");
      assert.deepEqual(weights.recorded.map((r) => [r.event, r.text]), [[{ type: "choice", winner: [1, 0], loser: [0, 1] }, "f(1);"]]);
      const kept = history.turns.at(-1)!;
      assert.deepEqual(kept.role === "assistant" && [kept.text, kept.code], ["```typescript\nf(1);\n```", { language: "typescript" }]);
    });

    it("code that holds a fence line is kept in a longer fence, and the page is shown the history again", async () => {
      const { session, history, generator, updates } = await setup({ chatTemplate: false });
      const code = "/**\n * ```js\n * x\n```\n */";
      generator.respond = async () => result(code, null);
      await session.send("doc", "none", editor);
      const kept = history.turns.at(-1)!;
      assert.equal(kept.text, `\`\`\`\`typescript\n${code}\n\`\`\`\``);
      assert.equal(updates.at(-1)!.type, "history");
      const blocks = splitAnswer(kept.text);
      assert.deepEqual(blocks, [{ kind: "code", language: "typescript", code, closed: true }]);
    });

    it("a model with a chat template, or one the backend cannot tell, is asked in chat without the notice", async () => {
      for (const chatTemplate of [true, null]) {
        const { session, generator, updates } = await setup({ chatTemplate });
        await session.send("Hi", "none", editor);
        assert.equal(generator.calls[0]!.prompt.kind, "chat");
        assert.equal(generator.calls[0]!.stop, undefined);
        assert.ok(updates.every((u) => u.type !== "history" || u.notice === undefined));
      }
    });
  });
});
