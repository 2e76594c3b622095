// LRU cache of completions keyed by (prefix, suffix) hashes, with llama.vscode's prefix walk-back: when the
// user types the start of a shown suggestion, the new prefix is an old prefix plus the typed text, and the
// rest of the suggestion is served at once instead of asking the engine again.
import { createHash } from "node:crypto";

/** Hashes keep the keys small; the prefix alone can be hundreds of lines. */
const hash = (text: string) => createHash("sha256").update(text).digest("base64");
const key = (prefix: string, suffix: string) => `${hash(prefix)}:${hash(suffix)}`;

export class CompletionCache {
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used entry first.
  private readonly entries = new Map<string, readonly string[]>();

  constructor(
    readonly capacity = 250,
    /** How many typed characters to walk back over looking for an earlier request. */
    readonly maxWalkBack = 128,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  set(prefix: string, suffix: string, completions: readonly string[]): void {
    const k = key(prefix, suffix);
    this.entries.delete(k);
    this.entries.set(k, completions);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  /** The completions stored for exactly this (prefix, suffix). */
  get(prefix: string, suffix: string): readonly string[] | undefined {
    return this.touch(key(prefix, suffix));
  }

  /**
   * Completions for this (prefix, suffix): an exact hit, else the nearest earlier prefix whose suggestions
   * start with what was typed since, each cut after the typed text (suggestions typed in full are left out).
   */
  lookup(prefix: string, suffix: string): readonly string[] | undefined {
    const exact = this.get(prefix, suffix);
    if (exact) return exact;
    const suffixHash = hash(suffix);
    for (let n = 1; n <= Math.min(this.maxWalkBack, prefix.length); n++) {
      const earlier = this.touch(`${hash(prefix.slice(0, -n))}:${suffixHash}`);
      if (!earlier) continue;
      const typed = prefix.slice(-n);
      const rest = earlier.filter((c) => c.length > n && c.startsWith(typed)).map((c) => c.slice(n));
      if (rest.length) return rest;
    }
    return undefined;
  }

  clear(): void {
    this.entries.clear();
  }

  private touch(k: string): readonly string[] | undefined {
    const v = this.entries.get(k);
    if (v) {
      this.entries.delete(k);
      this.entries.set(k, v);
    }
    return v;
  }
}
