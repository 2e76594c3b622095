import * as assert from "node:assert/strict";
import { DEFAULT_CONFIDENCE } from "../../../src/core/adapt/feedback";
import { CompletionSession, type CompletionRequest, type CompletionSessionSettings } from "../../../src/core/completion/session";
import type { CompletionSettings } from "../../../src/core/completion/settings";
import { FakeGenerator, FakeWeights, hang, MemoryLog, recorderFor, result } from "../../support/fakes";

const COMPLETIONS: CompletionSettings = {
  enabled: true,
  languages: { "*": true, markdown: false },
  debounceMs: 0,
  prefixLines: 256,
  suffixLines: 64,
  maxTokens: 32,
  timeBudgetMs: 1000,
  candidates: 3,
  multiline: "auto",
  prefetch: false,
};

function setup(o: { settings?: Partial<CompletionSettings>; soupMode?: CompletionSessionSettings["soupMode"]; generator?: FakeGenerator } = {}) {
  const generator = o.generator ?? new FakeGenerator([{ id: "a", kind: "adapter" }, { id: "b", kind: "adapter" }], async () => result("return x;\n}\n", { a: 1, b: 2 }));
  const weights = new FakeWeights(generator.policies.map((p) => p.id));
  const log = new MemoryLog();
  const settings: CompletionSessionSettings = {
    completions: { ...COMPLETIONS, ...o.settings },
    soupMode: o.soupMode ?? "auto",
    exploration: true,
    episodeCompletions: 20,
    episodeMinutes: 10,
  };
  const session = new CompletionSession({ generator, weights, feedback: recorderFor(generator, weights, log), settings: () => settings, log });
  return { session, generator, weights, log, settings };
}

/** A document whose line `line` is `text`, with the cursor at its end unless `character` says otherwise. */
function at(text: string, o: { after?: string; line?: number; languageId?: string } = {}): CompletionRequest {
  const lines = ["function f(x) {", `  ${text}${o.after ?? ""}`, "}"];
  return { lines, cursor: { line: 1, character: 2 + text.length }, languageId: o.languageId ?? "typescript", file: "src/f.ts" };
}

const live = () => new AbortController().signal;

describe("CompletionSession", () => {
  it("debounces, and a request cancelled while waiting never reaches the generator", async () => {
    const { session, generator } = setup({ settings: { debounceMs: 40 } });
    const abort = new AbortController();
    const pending = session.complete(at("const y = "), abort.signal);
    setTimeout(() => abort.abort(), 5);
    assert.equal(await pending, undefined);
    assert.equal(generator.calls.length, 0);

    const started = performance.now();
    const items = await session.complete(at("const z = "), live());
    assert.ok(performance.now() - started >= 35, "waited the debounce");
    assert.equal(generator.calls.length, 1);
    assert.deepEqual(items?.map((i) => i.text), ["return x;\n}"]);
  });

  it("a request cancelled while generating shows nothing and logs no failure", async () => {
    const generator = new FakeGenerator([{ id: "a", kind: "adapter" }], (_p, o) => hang(o.signal));
    const { session, log } = setup({ generator });
    const abort = new AbortController();
    const pending = session.complete(at("const y = "), abort.signal);
    setTimeout(() => abort.abort(), 10);
    assert.equal(await pending, undefined);
    assert.equal(generator.calls.length, 1);
    assert.deepEqual(log.lines.filter((l) => l.startsWith("warn")), []);
  });

  it("serves the same cursor and typing through a suggestion from the cache, without the debounce", async () => {
    const { session, generator, settings } = setup({ settings: { multiline: "never" } });
    generator.respond = async () => result("total = 1;", null, ["total = 1;", "sum = 2;"]);
    assert.deepEqual((await session.complete(at("const "), live()))?.map((i) => i.text), ["total = 1;", "sum = 2;"]);
    // A debounce far longer than a loaded machine could take for the lookups: waiting for it would show.
    settings.completions.debounceMs = 100_000;
    const started = performance.now();
    assert.deepEqual((await session.complete(at("const "), live()))?.map((i) => i.text), ["total = 1;", "sum = 2;"]);
    // The user typed "t": the rest of the matching suggestion comes from the cache, the other is dropped.
    assert.deepEqual((await session.complete(at("const t"), live()))?.map((i) => i.text), ["otal = 1;"]);
    assert.ok(performance.now() - started < 50_000, "cache hits do not wait for the debounce");
    assert.equal(generator.calls.length, 1);
  });

  it("prefetch: while a suggestion is shown, the one after its acceptance is generated and then served without a request", async () => {
    const { session, generator } = setup({ settings: { prefetch: true, multiline: "never" } });
    generator.respond = async (p) => (p.prompt.kind === "fim" && p.prompt.middle === "  const y = x + 1;" ? result(" // one more", null) : result("x + 1;", null));
    assert.deepEqual((await session.complete(at("const y = "), live()))?.map((i) => i.text), ["x + 1;"]);
    assert.equal(generator.calls.length, 2, "the speculative request started");
    const ahead = generator.calls[1]!.prompt;
    assert.ok(ahead.kind === "fim" && ahead.prefix === "function f(x) {\n" && ahead.suffix === "\n}");
    // Tab: the line now ends with the accepted text.
    assert.deepEqual((await session.complete(at("const y = x + 1;"), live()))?.map((i) => i.text), [" // one more"]);
    assert.equal(generator.calls.length, 3, "served from the prefetch; only the next speculative request is new");
  });

  it("prefetch: another window aborts the speculative request, and none starts when text follows the cursor", async () => {
    const { session, generator } = setup({ settings: { prefetch: true, multiline: "never" } });
    const signals: AbortSignal[] = [];
    generator.respond = async (p, o) => {
      signals.push(o.signal!);
      return p.prompt.kind === "fim" && p.prompt.middle === "  const y = x + 1;" ? hang(o.signal) : result("x + 1;", null);
    };
    await session.complete(at("const y = "), live());
    assert.equal(signals.length, 2);
    assert.equal(signals[1]!.aborted, false);
    // Typing the start of the suggestion is served from the cache and keeps the speculative request.
    await session.complete(at("const y = x"), live());
    assert.equal(signals.length, 2);
    assert.equal(signals[1]!.aborted, false);
    await session.complete(at("const q = "), live());
    assert.equal(signals[1]!.aborted, true, "the user typed something else");
    const before = generator.calls.length;
    await session.complete(at("const a = ", { after: ")" }), live());
    assert.equal(generator.calls.length, before + 1, "no speculative request in the middle of a line");
  });

  it("stops at the line end when text follows the cursor, and writes several lines at the end of a line", async () => {
    const { session, generator, settings } = setup();
    generator.respond = async () => result("a + 1;\nreturn a;\n", { a: 0, b: 0 });
    assert.deepEqual((await session.complete(at("const a = ", { after: ")" }), live()))?.map((i) => i.text), ["a + 1;"]);
    assert.deepEqual(generator.calls[0]!.stop, ["\n"]);
    assert.deepEqual((await session.complete(at("const b = "), live()))?.map((i) => i.text), ["a + 1;\nreturn a;"]);
    assert.equal(generator.calls[1]!.stop, undefined);
    settings.completions.multiline = "never";
    assert.deepEqual((await session.complete(at("const c = "), live()))?.map((i) => i.text), ["a + 1;"]);
    assert.deepEqual(generator.calls[2]!.stop, ["\n"]);
    settings.completions.multiline = "always";
    assert.deepEqual((await session.complete(at("const d = ", { after: ")" }), live()))?.map((i) => i.text), ["a + 1;\nreturn a;"]);
    assert.equal(generator.calls[3]!.stop, undefined);
  });

  it("asks nothing for a language that is switched off, and builds a FIM prompt with the context of other files", async () => {
    const { session, generator } = setup();
    assert.equal(await session.complete(at("# ", { languageId: "markdown" }), live()), undefined);
    assert.equal(generator.calls.length, 0);
    session.addContext("src/other.ts", ["export const limit = 10;"], 0);
    session.addContext("src/f.ts", ["function f(x) {"], 0);
    await session.complete(at("const y = "), live());
    const prompt = generator.calls[0]!.prompt;
    assert.equal(prompt.kind, "fim");
    if (prompt.kind !== "fim") return;
    // Other files travel apart from the prefix: the engine writes them in the model's repository format
    // (file-separator tokens) or, where it has none, as comments above the prefix.
    // The cursor line starts the middle, so typing in it leaves the prefix and the suffix cached.
    assert.equal(prompt.prefix, "function f(x) {\n");
    assert.equal(prompt.middle, "  const y = ");
    assert.deepEqual(prompt.context, [{ file: "src/other.ts", text: "export const limit = 10;" }]);
    assert.equal(prompt.file, "src/f.ts");
    assert.equal(prompt.suffix, "\n}");
    assert.equal(prompt.language, "typescript");
  });

  it("drops a completion that misses the time budget, and says so", async () => {
    const generator = new FakeGenerator([{ id: "a", kind: "adapter" }], (_p, o) => hang(o.signal));
    const { session, log } = setup({ generator, settings: { timeBudgetMs: 30 } });
    assert.equal(await session.complete(at("const y = "), live()), undefined);
    assert.ok(log.lines.includes("info: completion dropped: not done within 30 ms (spectralSoup.completions.timeBudgetMs)"), log.lines.join("\n"));
    assert.deepEqual(log.lines.filter((l) => l.startsWith("warn")), []);
  });

  it("falls back from rerank to the adapters' soup when rerank misses the budget, and probes rerank again later", async () => {
    let slow = true;
    let n = 0;
    const generator = new FakeGenerator(
      [
        { id: "a", kind: "prompted" },
        { id: "b", kind: "adapter" },
      ],
      async (p, o) => (p.mode === "rerank" && slow ? hang(o.signal) : result(`x${n++};`, { a: 0, b: 0 })),
    );
    const { session, log } = setup({ generator, settings: { timeBudgetMs: 30 } });
    assert.equal(await session.complete(at("const v0 = "), live()), undefined);
    assert.equal(generator.calls[0]!.mode, "rerank");
    assert.equal(generator.calls[0]!.temperature, 0.8);
    assert.ok(log.lines.some((l) => l.includes("reranking under the prompted experts missed the 30 ms budget")));
    slow = false;
    for (let i = 1; i < 20; i++) await session.complete(at(`const v${i} = `), live());
    const fallback = generator.calls.slice(1, 20);
    assert.ok(fallback.every((p) => p.mode === "parameter" && p.temperature === 0.2), fallback.map((p) => p.mode).join());
    // Only the adapter keeps its weight: the prompted expert cannot be souped in the parameters.
    assert.deepEqual(Object.keys(fallback[0]!.weights), ["b"]);
    await session.complete(at("const probe = "), live());
    assert.equal(generator.calls[20]!.mode, "rerank", "probes rerank again after 20 completions");
    await session.complete(at("const after = "), live());
    assert.equal(generator.calls[21]!.mode, "rerank", "a probe that fits brings rerank back");
  });

  it("records an accepted suggestion with the phi generation gave, without scoring it", async () => {
    const { session, generator, weights } = setup({ settings: { multiline: "never" } });
    generator.respond = async () => result("y + 1;", { a: 1, b: 2 });
    const items = await session.complete(at("const y = "), live());
    session.accepted(items![0]!.id);
    await session.settled();
    assert.equal(generator.scored.length, 0);
    assert.equal(weights.recorded.length, 1);
    const { event, text } = weights.recorded[0]!;
    assert.equal(text, "y + 1;");
    assert.equal(event.type, "rating");
    if (event.type !== "rating") return;
    assert.deepEqual([event.signal, event.up, event.surface, event.features], ["accepted", true, "completion", [1, 2]]);
    assert.equal(event.confidence, DEFAULT_CONFIDENCE.accepted);
  });

  it("scores a suggestion that got feedback when generation gave no phi, against the prompt it was shown for", async () => {
    const { session, generator, weights } = setup({ settings: { multiline: "never" } });
    generator.respond = async () => result("y + 1;", null);
    const items = await session.complete(at("const y = "), live());
    // The user typed something else: a typed-over rating, scored now because it got feedback.
    session.observe({ type: "typed", text: "z" });
    await session.settled();
    assert.equal(generator.scored.length, 1);
    assert.equal(generator.scored[0]!.response, "y + 1;");
    assert.deepEqual(generator.scored[0]!.prompt, generator.calls[0]!.prompt);
    assert.equal(weights.recorded.length, 1);
    const event = weights.recorded[0]!.event;
    assert.equal(event.type, "rating");
    if (event.type !== "rating") return;
    assert.equal(event.signal, "typedOver");
    assert.equal(event.up, false);
    assert.deepEqual(event.features, [0.5, -0.5]);
    // An id that is not the one shown is not an accept.
    session.accepted(items![0]!.id + "x");
    await session.settled();
    assert.equal(weights.recorded.length, 1);
  });

  it("draws weights once per episode, and again after the weights changed under it", async () => {
    const { session, generator, weights } = setup();
    await session.complete(at("const a = "), live());
    await session.complete(at("const b = "), live());
    assert.equal(weights.draws, 1);
    assert.deepEqual(generator.calls[1]!.weights, generator.calls[0]!.weights);
    session.weightsChanged();
    await session.complete(at("const c = "), live());
    assert.equal(weights.draws, 2);
    assert.notDeepEqual(generator.calls[2]!.weights, generator.calls[0]!.weights);
  });
});
