import * as assert from "node:assert/strict";
import { MAX_PROMPT_CHARS, parseFromChat, type FromChat } from "../../../webview/protocol/chat";
import { parseFromPreferences, type FromPreferences } from "../../../webview/protocol/preferences";

function rejectedBy(parse: (msg: unknown) => { type: string } | { error: string }, msg: unknown, pattern: RegExp): void {
  const r = parse(msg);
  if (!("error" in r)) assert.fail(`accepted ${JSON.stringify(r)}`);
  assert.match(r.error, pattern);
}
const rejected = (msg: unknown, pattern: RegExp) => rejectedBy(parseFromChat, msg, pattern);
const rejectedPrefs = (msg: unknown, pattern: RegExp) => rejectedBy(parseFromPreferences, msg, pattern);

describe("webview protocols: parseFromChat and parseFromPreferences", () => {
  it("accepts every well-formed message unchanged", () => {
    const chat: FromChat[] = [
      { type: "ready" },
      { type: "send", text: "explain this", attach: "selection" },
      { type: "stop" },
      { type: "regenerate" },
      { type: "clear" },
      { type: "rate", answerId: "a-12_x", up: false },
      { type: "choose", comparisonId: "c1", pick: "b" },
      { type: "copy", code: "" },
      { type: "insert", code: "const x = 1;" },
      { type: "replace", code: "let y;" },
    ];
    const preferences: FromPreferences[] = [
      { type: "ready" },
      { type: "setSlider", id: "concise", value: 1.25 },
      { type: "setSlider", id: "tests-first", value: -0.5 },
      { type: "lock", id: "concise", locked: true },
      { type: "reset" },
      { type: "reset", id: "concise" },
      { type: "forget" },
      { type: "export" },
      { type: "import" },
      { type: "diagnose" },
      { type: "cancelDiagnose" },
      { type: "distill" },
    ];
    for (const msg of chat) assert.deepEqual(parseFromChat(msg), msg);
    for (const msg of preferences) assert.deepEqual(parseFromPreferences(msg), msg);
  });

  it("rejects non-objects and unknown types", () => {
    rejected(null, /must be an object/);
    rejected("send", /must be an object/);
    rejected([{ type: "stop" }], /must be an object/);
    rejected({}, /unknown message type \(a undefined\)/);
    rejected({ type: "exec", cmd: "rm -rf /" }, /unknown message type "exec"/);
    rejected({ type: 7n }, /unknown message type \(a bigint\)/);
    // Inherited names are not message types.
    rejected({ type: "toString" }, /unknown message type/);
    rejected({ type: "__proto__" }, /unknown message type/);
    rejectedPrefs({ type: "__proto__" }, /unknown message type/);
  });

  it("rejects a message of the other page", () => {
    rejected({ type: "setSlider", id: "concise", value: 1 }, /unknown message type "setSlider"/);
    rejectedPrefs({ type: "send", text: "hi", attach: "none" }, /unknown message type "send"/);
  });

  it("rejects missing, mistyped and extra fields, naming the field", () => {
    rejected({ type: "send", attach: "none" }, /send\.text must be a string/);
    rejected({ type: "send", text: "   ", attach: "none" }, /send\.text must not be empty/);
    rejected({ type: "send", text: "hi", attach: "workspace" }, /send\.attach must be one of "none", "selection", "file"/);
    rejected({ type: "send", text: "x".repeat(MAX_PROMPT_CHARS + 1), attach: "none" }, /send\.text is longer than/);
    rejected({ type: "rate", answerId: "a1", up: "yes" }, /rate\.up must be a boolean/);
    rejected({ type: "rate", answerId: "../../etc", up: true }, /rate\.answerId must match/);
    rejected({ type: "rate", answerId: "a".repeat(65), up: true }, /rate\.answerId must match/);
    rejected({ type: "choose", comparisonId: "c1", pick: "c" }, /choose\.pick must be one of/);
    rejected({ type: "insert", code: 42 }, /insert\.code must be a string/);
    rejected({ type: "stop", now: true }, /stop: unexpected field "now"/);
    rejectedPrefs({ type: "diagnose", responses: 10_000 }, /diagnose: unexpected field "responses"/);
    rejectedPrefs({ type: "distill", corpus: "/" }, /distill: unexpected field "corpus"/);
    rejectedPrefs({ type: "cancelDiagnose", all: true }, /cancelDiagnose: unexpected field "all"/);
    rejected({ type: "rate", answerId: "a1", up: true, weight: 100 }, /unexpected field "weight"/);
  });

  it("rejects slider values that are not finite or outside the weight box, and unknown id shapes", () => {
    rejectedPrefs({ type: "setSlider", id: "concise", value: Number.NaN }, /value must be a finite number/);
    rejectedPrefs({ type: "setSlider", id: "concise", value: Number.POSITIVE_INFINITY }, /finite/);
    rejectedPrefs({ type: "setSlider", id: "concise", value: "1" }, /finite/);
    rejectedPrefs({ type: "setSlider", id: "concise", value: 2.5 }, /must be in \[-0\.5, 2\]/);
    rejectedPrefs({ type: "setSlider", id: "Concise", value: 1 }, /setSlider\.id must match/);
    rejectedPrefs({ type: "setSlider", id: "x".repeat(40), value: 1 }, /setSlider\.id must match/);
    rejectedPrefs({ type: "lock", id: "concise" }, /lock\.locked must be a boolean/);
    rejectedPrefs({ type: "reset", id: 3 }, /reset\.id must match/);
  });
});
