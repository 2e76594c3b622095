// The text distillation learns from: the user's own code (a workspace folder) or any folder or file of text,
// cut into short token windows at seeded random places so that a run is reproducible and resumable.
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { mulberry32 } from "../random";

export interface CorpusFile {
  path: string;
  text: string;
}

/** Larger files are mostly generated or data, not code someone writes. */
const MAX_FILE_BYTES = 512 * 1024;
const SKIP_DIRS = new Set(["node_modules", "dist", "out", "build", "target", "__pycache__", "venv"]);

/** Text files under `root` (or `root` itself), skipping hidden and build folders, binaries and big files. */
export async function readCorpus(root: string): Promise<CorpusFile[]> {
  const files: CorpusFile[] = [];
  const visit = async (p: string) => {
    const st = await fs.stat(p);
    if (st.isDirectory()) {
      const entries = (await fs.readdir(p)).sort();
      for (const e of entries) {
        if (e.startsWith(".") || SKIP_DIRS.has(e)) continue;
        await visit(path.join(p, e));
      }
    } else if (st.isFile() && st.size > 0 && st.size <= MAX_FILE_BYTES) {
      const bytes = await fs.readFile(p);
      if (bytes.subarray(0, 8192).includes(0)) return;
      files.push({ path: p, text: bytes.toString("utf8") });
    }
  };
  await visit(root);
  if (files.length === 0) throw new Error(`${root}: no text files to learn from (binary, hidden and build folders are skipped)`);
  return files;
}

/**
 * `count` windows of exactly `tokens` tokens, each starting at a line start of a file chosen with probability
 * proportional to its length. The same seed gives the same windows.
 */
export function sampleWindows(files: readonly CorpusFile[], count: number, tokens: number, seed: number, tokenize: (text: string) => number[]): number[][] {
  const rand = mulberry32(seed);
  const total = files.reduce((s, f) => s + f.text.length, 0);
  const windows: number[][] = [];
  // Windows shorter than `tokens` (the end of a short file) are redrawn; give up when the corpus is too small.
  for (let attempt = 0; windows.length < count && attempt < count * 20; attempt++) {
    let at = rand() * total;
    const file = files.find((f) => (at -= f.text.length) < 0) ?? files[files.length - 1];
    const start = file.text.lastIndexOf("\n", Math.floor(rand() * file.text.length)) + 1;
    const ids = tokenize(file.text.slice(start, start + tokens * 16));
    if (ids.length >= tokens) windows.push(ids.slice(0, tokens));
  }
  if (windows.length < count) throw new Error(`the corpus is too small for ${count} windows of ${tokens} tokens (found ${windows.length})`);
  return windows;
}
