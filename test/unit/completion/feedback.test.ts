import assert from "node:assert/strict";
import { CompletionFeedback, type CompletionEvent } from "../../../src/core/completion/feedback";

const phi = [0.5, -1];
const shown = (id: string, text: string, features: number[] | null = phi): CompletionEvent => ({ type: "shown", id, text, features });

describe("CompletionFeedback", () => {
  it("maps a whole accept to an up rating with confidence 1", () => {
    const fb = new CompletionFeedback();
    assert.equal(fb.handle(shown("c1", "return a + b;")), undefined);
    assert.deepEqual(fb.handle({ type: "accepted" }), {
      id: "c1",
      text: "return a + b;",
      acceptedFraction: 1,
      rating: { type: "rating", up: true, signal: "accepted", confidence: 1, surface: "completion", features: phi },
    });
    assert.equal(fb.shown, undefined);
  });

  it("maps Escape to a down rating with confidence 0.5", () => {
    const fb = new CompletionFeedback();
    fb.handle(shown("c1", "foo()"));
    const out = fb.handle({ type: "dismissed" })!;
    assert.deepEqual([out.rating.up, out.rating.signal, out.rating.confidence, out.acceptedFraction], [false, "dismissed", 0.5, 0]);
  });

  it("maps typing something else to typed-over with confidence 0.2", () => {
    const fb = new CompletionFeedback();
    fb.handle(shown("c1", "foo()"));
    const out = fb.handle({ type: "typed", text: "bar" })!;
    assert.deepEqual([out.rating.up, out.rating.signal, out.rating.confidence], [false, "typedOver", 0.2]);
  });

  it("maps a word accept then leaving to partial with the fraction taken", () => {
    const fb = new CompletionFeedback();
    fb.handle(shown("c1", "const total = sum(xs);"));
    assert.equal(fb.handle({ type: "partiallyAccepted", length: 6 }), undefined);
    assert.deepEqual(fb.shown, { id: "c1", remaining: "total = sum(xs);" });
    const out = fb.handle({ type: "dismissed" })!;
    assert.deepEqual([out.rating.up, out.rating.signal, out.rating.confidence], [true, "partial", 0.5]);
    assert.equal(out.acceptedFraction, 6 / 22);
  });

  it("counts word accepts that reach the end as a whole accept", () => {
    const fb = new CompletionFeedback();
    fb.handle(shown("c1", "a b"));
    fb.handle({ type: "partiallyAccepted", length: 2 });
    assert.equal(fb.handle({ type: "partiallyAccepted", length: 5 })!.rating.signal, "accepted");
  });

  it("an accept that writes the indentation typed through again with the rest is an accept (VS Code's Tab after indenting)", () => {
    const fb = new CompletionFeedback();
    fb.handle(shown("c1", "    // sum\n    return x;"));
    assert.equal(fb.handle({ type: "typed", text: "  " }), undefined);
    assert.equal(fb.handle({ type: "typed", text: "  " }), undefined);
    const out = fb.handle({ type: "typed", text: "    // sum\n    return x;", replaced: 4 })!;
    assert.deepEqual([out.rating.signal, out.acceptedFraction], ["accepted", 1]);
    // Replacing text that is not the part taken is typing something else.
    fb.handle(shown("c2", "  return y;"));
    fb.handle({ type: "typed", text: "  " });
    assert.equal(fb.handle({ type: "typed", text: "xx  return y;", replaced: 2 })!.rating.signal, "partial");
  });

  it("follows the user typing through a suggestion, including the cache re-showing its rest", () => {
    const fb = new CompletionFeedback();
    fb.handle(shown("c1", "return x;"));
    assert.equal(fb.handle({ type: "typed", text: "ret" }), undefined);
    // The provider serves the rest from the cache under a new id: the same episode.
    assert.equal(fb.handle(shown("c2", "urn x;")), undefined);
    assert.equal(fb.handle({ type: "typed", text: "urn" }), undefined);
    const out = fb.handle({ type: "accepted" })!;
    assert.equal(out.id, "c1");
    assert.equal(out.text, "return x;");
    assert.equal(out.rating.signal, "accepted");
  });

  it("counts typing a whole suggestion as accepting it", () => {
    const fb = new CompletionFeedback();
    fb.handle(shown("c1", "ab"));
    fb.handle({ type: "typed", text: "a" });
    assert.equal(fb.handle({ type: "typed", text: "b" })!.rating.signal, "accepted");
  });

  it("maps typing through part then diverging to partial", () => {
    const fb = new CompletionFeedback();
    fb.handle(shown("c1", "return x;"));
    fb.handle({ type: "typed", text: "return " });
    const out = fb.handle({ type: "typed", text: "y" })!;
    assert.deepEqual([out.rating.up, out.rating.signal], [true, "partial"]);
  });

  it("settles the previous suggestion as dismissed when another replaces it", () => {
    const fb = new CompletionFeedback();
    fb.handle(shown("c1", "one"));
    assert.equal(fb.handle(shown("c1", "one")), undefined);
    const out = fb.handle(shown("c2", "two"))!;
    assert.deepEqual([out.id, out.rating.signal], ["c1", "dismissed"]);
    assert.deepEqual(fb.shown, { id: "c2", remaining: "two" });
  });

  it("ignores events with nothing shown", () => {
    const fb = new CompletionFeedback();
    for (const e of [{ type: "accepted" }, { type: "dismissed" }, { type: "typed", text: "x" }, { type: "partiallyAccepted", length: 1 }] as const) {
      assert.equal(fb.handle(e), undefined);
    }
  });

  it("takes configured confidences and passes null features through for later scoring", () => {
    const fb = new CompletionFeedback({ dismissed: 0.3, typedOver: 0.1 });
    fb.handle(shown("c1", "x", null));
    const out = fb.handle({ type: "dismissed" })!;
    assert.equal(out.rating.confidence, 0.3);
    assert.equal(out.rating.features, null);
    fb.handle(shown("c2", "y"));
    assert.equal(fb.handle({ type: "typed", text: "z" })!.rating.confidence, 0.1);
  });
});
