import assert from "node:assert/strict";
import { ChunkRing, DEFAULT_CHUNK_RING, chunkSimilarity, formatChunks, recentChunks } from "../../../src/core/completion/chunks";

const lines = (from: number, n: number, tag = "x") => Array.from({ length: n }, (_, i) => `${tag} ${from + i}`);

describe("chunkSimilarity", () => {
  it("is the Jaccard index of the trimmed non-blank lines", () => {
    assert.equal(chunkSimilarity("a\nb", "  a\n\nb  "), 1);
    assert.equal(chunkSimilarity("a\nb", "c\nd"), 0);
    assert.equal(chunkSimilarity("a\nb\nc", "a\nb\nd"), 0.5);
    assert.equal(chunkSimilarity("", "\n"), 1);
  });
});

describe("ChunkRing", () => {
  it("uses llama.vscode's defaults", () => {
    assert.deepEqual(new ChunkRing().options, DEFAULT_CHUNK_RING);
    assert.deepEqual(DEFAULT_CHUNK_RING, { chunkLines: 64, maxChunks: 16, similarity: 0.9 });
  });

  it("evicts the oldest chunk when full", () => {
    const ring = new ChunkRing({ maxChunks: 3 });
    for (const f of ["a", "b", "c", "d"]) ring.add({ file: f, text: lines(0, 5, f).join("\n") });
    assert.deepEqual(
      ring.chunks.map((c) => c.file),
      ["b", "c", "d"],
    );
  });

  it("replaces a near-duplicate chunk and moves it to the newest end", () => {
    const ring = new ChunkRing({ similarity: 0.8 });
    const base = lines(0, 20);
    ring.add({ file: "a.ts", text: base.join("\n") });
    ring.add({ file: "b.ts", text: lines(0, 20, "y").join("\n") });
    // One line edited out of twenty: similarity 19/21 > 0.8.
    ring.add({ file: "a.ts", text: [...base.slice(0, 19), "edited"].join("\n") });
    assert.deepEqual(
      ring.chunks.map((c) => c.file),
      ["b.ts", "a.ts"],
    );
    assert.match(ring.chunks[1].text, /edited$/);
  });

  it("ignores blank chunks", () => {
    const ring = new ChunkRing();
    assert.equal(ring.add({ file: "a", text: " \n\n" }), false);
    assert.equal(ring.chunks.length, 0);
  });

  it("takes chunkLines lines centred on a line of a document, clamped to its ends", () => {
    const ring = new ChunkRing({ chunkLines: 4, similarity: 1 });
    const d = lines(0, 10);
    ring.addFromDocument("mid", d, 5);
    ring.addFromDocument("top", d, 0);
    ring.addFromDocument("end", d, 9);
    assert.deepEqual(
      ring.chunks.map((c) => c.text),
      ["x 3\nx 4\nx 5\nx 6", "x 0\nx 1\nx 2\nx 3", "x 6\nx 7\nx 8\nx 9"],
    );
    ring.addFromDocument("short", ["only"], 0);
    assert.equal(ring.chunks[3].text, "only");
    ring.clear();
    assert.equal(ring.chunks.length, 0);
  });
});

describe("formatChunks", () => {
  const chunks = [
    { file: "src/a.ts", text: "export const a = 1;" },
    { file: "src/b.ts", text: "export const b = 2;" },
  ];

  it("puts each chunk under a comment naming its file, in the current file's comment syntax", () => {
    assert.equal(
      formatChunks(chunks, "typescript"),
      "// File: src/a.ts\nexport const a = 1;\n\n// File: src/b.ts\nexport const b = 2;\n\n",
    );
    assert.match(formatChunks(chunks, "python"), /^# File: src\/a\.ts\n/);
    assert.match(formatChunks(chunks, "html"), /^<!-- File: src\/a\.ts -->\n/);
  });

  it("keeps the newest chunks within maxChars", () => {
    const one = formatChunks(chunks.slice(1), "typescript");
    assert.equal(formatChunks(chunks, "typescript", one.length), one);
    assert.equal(formatChunks(chunks, "typescript", 3), "");
  });

  it("is empty for languages without comment syntax", () => {
    assert.equal(formatChunks(chunks, "plaintext"), "");
  });
});

describe("recentChunks", () => {
  const chunks = [
    { file: "a.ts", text: "12345" },
    { file: "b.ts", text: "678" },
  ];

  it("keeps the newest chunks whose file names and texts fit, oldest first", () => {
    // Sizes: file + text + 2 = 11 and 9.
    assert.deepEqual(recentChunks(chunks, 20), chunks);
    assert.deepEqual(recentChunks(chunks, 19), [chunks[1]]);
    assert.deepEqual(recentChunks(chunks, 8), []);
  });
});
