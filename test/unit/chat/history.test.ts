import * as assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { ChatHistory } from "../../../src/core/chat/history";
import type { ChatTurn } from "../../../src/shared/chat";

const user = (text: string): ChatTurn => ({ role: "user", text, attach: "none" });
const answer = (answerId: string, text: string): ChatTurn => ({
  role: "assistant",
  answerId,
  text,
  contributions: [{ id: "concise", label: "Concise", value: 0.4 }],
});

describe("chat history", () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "soup-hist-"));
    file = path.join(dir, "ws", "chat-history.json");
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("starts empty without a file, and survives a reload", async () => {
    const { history, message } = await ChatHistory.open(file);
    assert.equal(message, undefined);
    assert.deepEqual(history.turns, []);
    await history.append(user("hi"));
    await history.append(answer("a1", "hello"));
    assert.equal(await history.rate("a1", true), true);
    assert.equal(await history.rate("gone", true), false);
    await history.setAb({ answersSinceLast: 2, lastAt: 1234 });

    const reloaded = (await ChatHistory.open(file)).history;
    assert.deepEqual(reloaded.turns, [user("hi"), { ...answer("a1", "hello"), rating: "up" }]);
    assert.deepEqual(reloaded.ab, { answersSinceLast: 2, lastAt: 1234 });
  });

  it("writes atomically: concurrent appends all land, in order, with no temp files left", async () => {
    const { history } = await ChatHistory.open(file);
    await Promise.all(Array.from({ length: 20 }, (_, i) => history.append(user(`m${i}`))));
    const reloaded = (await ChatHistory.open(file)).history;
    assert.deepEqual(
      reloaded.turns.map((t) => t.text),
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );
    assert.deepEqual(await readdir(path.dirname(file)), ["chat-history.json"]);
  });

  it("is bounded by turns and by characters, dropping the oldest", async () => {
    const { history } = await ChatHistory.open(file, { maxTurns: 3, maxChars: 10 });
    for (const t of ["aa", "bb", "cc", "dd"]) await history.append(user(t));
    assert.deepEqual(history.turns.map((t) => t.text), ["bb", "cc", "dd"]);
    await history.append(user("eeeeeeee"));
    assert.deepEqual(history.turns.map((t) => t.text), ["dd", "eeeeeeee"]);
    await history.append(user("x".repeat(50)));
    assert.deepEqual(history.turns.map((t) => t.text), ["x".repeat(50)], "the newest turn is kept even when over the limit");
  });

  it("sets a corrupt file aside and starts empty, with a message", async () => {
    const answer = (features: unknown) => ({ role: "assistant", answerId: "1", text: "x", contributions: [], features });
    for (const bad of [
      "{not json",
      JSON.stringify({ version: 1, turns: [{ role: "system", text: "x" }], ab: { answersSinceLast: 0 } }),
      "[]",
      // phi kept with an answer must be finite numbers by policy id.
      JSON.stringify({ version: 1, turns: [answer({ a: "0.5" })], ab: { answersSinceLast: 0 } }),
      JSON.stringify({ version: 1, turns: [answer([0.5])], ab: { answersSinceLast: 0 } }),
    ]) {
      await rm(path.dirname(file), { recursive: true, force: true });
      await (await ChatHistory.open(file)).history.append(user("seed"));
      await writeFile(file, bad);
      const { history, message } = await ChatHistory.open(file, { now: () => 42 });
      assert.deepEqual(history.turns, []);
      assert.match(message ?? "", /was corrupt; it was set aside as .*chat-history\.json\.corrupt-42/);
      assert.equal(await readFile(`${file}.corrupt-42`, "utf8"), bad);
      await history.append(user("fresh"));
      assert.deepEqual((await ChatHistory.open(file)).history.turns, [user("fresh")]);
    }
  });
});
