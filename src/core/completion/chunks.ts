// Extra context for completions, llama.vscode style: a ring of chunks of lines from recently edited or opened
// files. A chunk much like one already held replaces it (so the ring does not fill with near-copies of the
// file being edited), and the oldest chunk goes when the ring is full.
import { commentLine, commentSyntax } from "./fim";

export interface Chunk {
  /** Workspace-relative path or URI of the file the lines came from. */
  file: string;
  text: string;
}

export interface ChunkRingOptions {
  /** Lines per chunk taken from a document. */
  chunkLines: number;
  maxChunks: number;
  /** Line-set Jaccard similarity above which a new chunk replaces an old one. */
  similarity: number;
}
export const DEFAULT_CHUNK_RING: Readonly<ChunkRingOptions> = { chunkLines: 64, maxChunks: 16, similarity: 0.9 };

/** Jaccard similarity of the sets of trimmed non-empty lines (1 for two empty chunks). */
export function chunkSimilarity(a: string, b: string): number {
  const set = (s: string) => new Set(s.split("\n").map((l) => l.trim()).filter(Boolean));
  const sa = set(a);
  const sb = set(b);
  if (sa.size === 0 && sb.size === 0) return 1;
  let common = 0;
  for (const l of sa) if (sb.has(l)) common++;
  return common / (sa.size + sb.size - common);
}

export class ChunkRing {
  private readonly ring: Chunk[] = [];
  readonly options: ChunkRingOptions;

  constructor(options: Partial<ChunkRingOptions> = {}) {
    this.options = { ...DEFAULT_CHUNK_RING, ...options };
  }

  /** Oldest first, so the most recent context sits nearest the code in the prompt. */
  get chunks(): readonly Chunk[] {
    return this.ring;
  }

  /** Adds a chunk; returns false for a blank one. Similar older chunks are dropped, then the oldest if full. */
  add(chunk: Chunk): boolean {
    if (!chunk.text.trim()) return false;
    for (let i = this.ring.length - 1; i >= 0; i--) {
      if (chunkSimilarity(this.ring[i].text, chunk.text) > this.options.similarity) this.ring.splice(i, 1);
    }
    this.ring.push(chunk);
    if (this.ring.length > this.options.maxChunks) this.ring.splice(0, this.ring.length - this.options.maxChunks);
    return true;
  }

  /** Adds the `chunkLines` lines of a document centred on `line` (an edit, the cursor of an opened file). */
  addFromDocument(file: string, lines: readonly string[], line: number): boolean {
    const n = this.options.chunkLines;
    const start = Math.max(0, Math.min(line - Math.floor(n / 2), lines.length - n));
    return this.add({ file, text: lines.slice(start, start + n).join("\n") });
  }

  clear(): void {
    this.ring.length = 0;
  }
}

/** The newest items whose sizes add up to at most `maxChars`, oldest first. */
function newestWithin<T>(items: readonly T[], size: (item: T) => number, maxChars: number): T[] {
  const kept: T[] = [];
  let total = 0;
  for (let i = items.length - 1; i >= 0; i--) {
    const n = size(items[i]);
    if (total + n > maxChars) break;
    kept.unshift(items[i]);
    total += n;
  }
  return kept;
}

/** The newest chunks that fit `maxChars` (file name, text and two newlines each), oldest first. */
export function recentChunks(chunks: readonly Chunk[], maxChars: number): Chunk[] {
  return newestWithin(chunks, (c) => c.file.length + c.text.length + 2, maxChars);
}

/**
 * Chunks as text to put before the FIM prefix: each under a comment naming its file, in the comment syntax of
 * the file being completed (the model reads it as more of that file), for models without file-separator
 * tokens. Newest chunks are kept when `maxChars` is exceeded. Empty where the language has no known comment
 * syntax.
 */
export function formatChunks(chunks: readonly Chunk[], languageId: string, maxChars = Infinity): string {
  const syntax = commentSyntax(languageId);
  if (!syntax) return "";
  const parts = chunks.map((c) => `${commentLine(syntax, `File: ${c.file}`)}\n${c.text}\n\n`);
  return newestWithin(parts, (p) => p.length, maxChars).join("");
}
