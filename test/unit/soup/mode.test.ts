import * as assert from "node:assert/strict";
import { planSoup, RerankBudget } from "../../../src/core/soup/mode";

describe("auto soup mode", () => {
  const mixed = [
    { id: "typed", kind: "adapter" as const },
    { id: "concise", kind: "prompted" as const },
  ];
  it("an explicit setting wins", () => {
    assert.deepEqual(planSoup("explicit", "completion", mixed, { typed: 1 }), { mode: "explicit", weights: { typed: 1 } });
  });
  it("parameter souping when every weighted policy is an adapter", () => {
    assert.equal(planSoup("auto", "completion", mixed, { typed: 1, concise: 0 }).mode, "parameter");
    assert.equal(planSoup("auto", "chat", mixed, {}).mode, "parameter");
  });
  it("prompted experts with weight: rerank for completions, explicit for chat", () => {
    assert.equal(planSoup("auto", "completion", mixed, { concise: 0.5 }).mode, "rerank");
    assert.equal(planSoup("auto", "chat", mixed, { concise: 0.5 }).mode, "explicit");
  });
  it("when rerank does not fit the budget, completions soup the adapters only", () => {
    assert.deepEqual(planSoup("auto", "completion", mixed, { concise: 0.5, typed: 0.7 }, false), { mode: "parameter", weights: { typed: 0.7 } });
  });
  it("a prompted expert with a distilled head soups in the parameters for completions and keeps its prompt for chat", () => {
    const distilled = [
      { id: "typed", kind: "adapter" as const },
      { id: "concise", kind: "prompted" as const, head: true },
      { id: "tests", kind: "prompted" as const },
    ];
    assert.deepEqual(planSoup("auto", "completion", distilled, { concise: 0.5, typed: 0.7 }), { mode: "parameter", weights: { concise: 0.5, typed: 0.7 } });
    assert.equal(planSoup("auto", "chat", distilled, { concise: 0.5 }).mode, "explicit");
    // An expert without a head still needs its prompt; over budget, the parameters carry what they can.
    assert.equal(planSoup("auto", "completion", distilled, { concise: 0.5, tests: 0.2 }).mode, "rerank");
    assert.deepEqual(planSoup("auto", "completion", distilled, { concise: 0.5, tests: 0.2 }, false), { mode: "parameter", weights: { concise: 0.5 } });
  });
  it("the budget tracker stops reranking after slow runs and probes again later", () => {
    const b = new RerankBudget(3);
    assert.ok(b.fits(1000));
    b.observe(3000);
    assert.ok(!b.fits(1000));
    assert.ok(!b.fits(1000));
    assert.ok(b.fits(1000), "third call probes");
    for (let i = 0; i < 10; i++) b.observe(100);
    assert.ok(b.fits(1000));
  });
});
