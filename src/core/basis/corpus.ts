// The text distillation learns from: the user's own code (a workspace folder) or any folder or file of text,
// cut into short token windows at seeded random places so that a run is reproducible and resumable.
import { createHash } from "node:crypto";
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

/**
 * Which files of a folder are learned from, as plain data (it crosses a process boundary to the distillation
 * process). Without it every text file is read: right for a folder chosen on the command line, too much for a
 * workspace, whose lockfiles, data and logs would outweigh the code the user writes.
 */
export interface CorpusFilter {
  /** Extensions with the dot, lower case: only these files are read. */
  extensions: readonly string[];
  /** Total bytes read at most; larger workspaces contribute a stable subset of their files. */
  maxTotalBytes: number;
}

/** Source files of the languages a coding model is asked about; data, docs, lockfiles and logs are left out. */
export const SOURCE_EXTENSIONS: readonly string[] = [
  ".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs", ".vue", ".svelte",
  ".py", ".rb", ".php", ".pl", ".lua", ".r", ".jl", ".dart", ".ex", ".exs", ".erl", ".clj", ".scala", ".kt", ".kts",
  ".java", ".cs", ".fs", ".go", ".rs", ".swift", ".m", ".mm", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".zig",
  ".hs", ".ml", ".mli", ".elm", ".sh", ".bash", ".zsh", ".ps1", ".sql", ".css", ".scss", ".less", ".html",
];

/** What distilling or diagnosing on a workspace reads: its source files, at most 8 MiB of them. */
export const WORKSPACE_CORPUS: CorpusFilter = { extensions: SOURCE_EXTENSIONS, maxTotalBytes: 8 * 1024 * 1024 };

/** Whether a file found while walking a folder is read: a source file by its extension, not minified. */
export function isCorpusFile(name: string, filter: CorpusFilter): boolean {
  const lower = name.toLowerCase();
  // Minified bundles are code nobody writes, and one line of them fills a whole window.
  if (/\.min\.[a-z]+$/.test(lower)) return false;
  return filter.extensions.includes(path.extname(lower));
}

/**
 * The files kept under the size budget: all of them when they fit, otherwise files in an order fixed by their
 * path's hash (a spread over the whole tree, not the alphabetically first folders) while they fit. The choice
 * depends on paths and sizes only, so a rerun on an unchanged workspace reads the same files and reuses its cache.
 */
export function selectWithinBudget<T extends { path: string; size: number }>(files: readonly T[], maxTotalBytes: number): T[] {
  const total = files.reduce((s, f) => s + f.size, 0);
  if (total <= maxTotalBytes) return [...files];
  const key = (p: string) => createHash("sha256").update(p).digest("hex");
  const order = files.map((f) => ({ f, k: key(f.path) })).sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  const kept = new Set<T>();
  let used = 0;
  for (const { f } of order) {
    if (used + f.size > maxTotalBytes) continue;
    kept.add(f);
    used += f.size;
  }
  // Back in tree order, so the corpus reads like the workspace does.
  return files.filter((f) => kept.has(f));
}

/**
 * Text files under `root` (or `root` itself), skipping hidden and build folders, binaries and big files; with a
 * filter, only its source files within its size budget (a file named as `root` is always read).
 */
export async function readCorpus(root: string, filter?: CorpusFilter): Promise<CorpusFile[]> {
  const found: { path: string; size: number }[] = [];
  const visit = async (p: string, top: boolean) => {
    const st = await fs.stat(p);
    if (st.isDirectory()) {
      const entries = (await fs.readdir(p)).sort();
      for (const e of entries) {
        if (e.startsWith(".") || SKIP_DIRS.has(e)) continue;
        await visit(path.join(p, e), false);
      }
    } else if (st.isFile() && st.size > 0 && st.size <= MAX_FILE_BYTES && (top || !filter || isCorpusFile(p, filter))) {
      found.push({ path: p, size: st.size });
    }
  };
  await visit(root, true);
  const files: CorpusFile[] = [];
  for (const f of filter ? selectWithinBudget(found, filter.maxTotalBytes) : found) {
    const bytes = await fs.readFile(f.path);
    if (bytes.subarray(0, 8192).includes(0)) continue;
    files.push({ path: f.path, text: bytes.toString("utf8") });
  }
  if (files.length === 0) {
    const what = filter ? "source files" : "text files";
    throw new Error(`${root}: no ${what} to learn from (binary, hidden and build folders are skipped)`);
  }
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
