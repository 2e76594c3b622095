import assert from "node:assert/strict";
import { Episode } from "../../../src/core/soup/episode";

describe("Episode", () => {
  const counter = (maxCompletions: number, maxMs: number) => {
    let draws = 0;
    const episode = new Episode(() => ({ maxCompletions, maxMs }), () => ++draws);
    return { episode, draws: () => draws };
  };

  it("keeps one draw for maxCompletions requests", () => {
    const { episode } = counter(3, 60_000);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((t) => episode.current(t)), [1, 1, 1, 2, 2, 2, 3]);
  });

  it("a request that does not count (speculative) uses the draw without using up the episode", () => {
    const { episode } = counter(2, 60_000);
    assert.deepEqual([episode.current(0), episode.current(1, false), episode.current(2, false), episode.current(3), episode.current(4)], [1, 1, 1, 1, 2]);
  });

  it("draws again once maxMs has passed", () => {
    const { episode } = counter(100, 1000);
    assert.equal(episode.current(0), 1);
    assert.equal(episode.current(999), 1);
    assert.equal(episode.current(1000), 2);
    assert.equal(episode.current(1500), 2);
  });

  it("draws again after end()", () => {
    const { episode, draws } = counter(100, 60_000);
    episode.current(0);
    episode.end();
    assert.equal(episode.current(1), 2);
    assert.equal(draws(), 2);
  });

  it("reads the options on every request, so settings changes apply at once", () => {
    let max = 100;
    let draws = 0;
    const episode = new Episode(() => ({ maxCompletions: max, maxMs: 60_000 }), () => ++draws);
    episode.current(0);
    episode.current(1);
    max = 2;
    assert.equal(episode.current(2), 2);
  });
});
