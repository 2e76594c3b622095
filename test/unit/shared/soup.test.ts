import assert from "node:assert/strict";
import { parseGpuLayers } from "../../../src/shared/soup";

describe("soup vocabulary", () => {
  it("parses GPU layers: auto, max or a whole number; anything else is auto", () => {
    assert.equal(parseGpuLayers("auto"), "auto");
    assert.equal(parseGpuLayers("max"), "max");
    assert.equal(parseGpuLayers("0"), 0);
    assert.equal(parseGpuLayers("33"), 33);
    for (const bad of ["", " ", "-1", "2.5", "all"]) assert.equal(parseGpuLayers(bad), "auto", bad);
  });
});
