// On-disk cache of distillation samples, one pair of files per corpus window, so that a cancelled or crashed run
// resumes where it stopped. Hidden states (the expensive part: one forward pass per position) are kept apart from
// the policies' distributions, so changing an expert's prompt re-uses them. Files are GGUF, written atomically by
// the project's writer; each records its window's tokens, and a file whose window differs is ignored.
import { metaValue, readGguf, readTensor } from "../gguf/reader";
import { GgufValueType, kv } from "../gguf/types";
import { writeGguf } from "../gguf/writer";
import type { DistillSample } from "./distill";

const WINDOW_KEY = "distill.window";
const COUNTS_KEY = "distill.counts";

/** Distributions of one position: candidates, then log-probs per policy (reference first), then floors. */
export type PositionDistributions = Omit<DistillSample, "h">;

const sameWindow = (stored: unknown, window: readonly number[]) =>
  Array.isArray(stored) && stored.length === window.length && stored.every((t, i) => Number(t) === window[i]);

async function readIfValid(file: string, window: readonly number[]) {
  try {
    const gguf = await readGguf(file);
    return sameWindow(metaValue(gguf, WINDOW_KEY), window) ? gguf : null;
  } catch {
    // Missing or damaged: computed again.
    return null;
  }
}

export async function writeHiddenStates(file: string, window: readonly number[], hidden: Float32Array[]): Promise<void> {
  const d = hidden[0].length;
  const data = new Float32Array(hidden.length * d);
  hidden.forEach((h, i) => data.set(h, i * d));
  await writeGguf(file, {
    metadata: [kv.i32s(WINDOW_KEY, [...window])],
    tensors: [{ name: "hidden", dims: [d, hidden.length], type: "f32", data }],
  });
}

export async function readHiddenStates(file: string, window: readonly number[]): Promise<Float32Array[] | null> {
  const gguf = await readIfValid(file, window);
  if (!gguf) return null;
  const info = gguf.tensors.find((t) => t.name === "hidden");
  if (!info || info.dims.length !== 2) return null;
  const data = await readTensor(gguf, "hidden");
  const [d, n] = info.dims as [number, number];
  return Array.from({ length: n }, (_, i) => data.slice(i * d, (i + 1) * d));
}

export async function writeDistributions(file: string, window: readonly number[], positions: PositionDistributions[]): Promise<void> {
  const cat = (xs: ArrayLike<number>[]) => Float32Array.from(xs.flatMap((x) => Array.from(x)));
  await writeGguf(file, {
    metadata: [
      kv.i32s(WINDOW_KEY, [...window]),
      { key: COUNTS_KEY, type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value: positions.map((p) => p.tokens.length) },
    ],
    tensors: [
      // Token ids are below 2^24, exact in f32 (the writer's types are float ones).
      { name: "tokens", dims: [positions.reduce((s, p) => s + p.tokens.length, 0)], type: "f32", data: cat(positions.map((p) => p.tokens)) },
      { name: "logp", dims: [positions.reduce((s, p) => s + p.logp.length, 0)], type: "f32", data: cat(positions.map((p) => p.logp)) },
      { name: "tail", dims: [positions.reduce((s, p) => s + p.tail.length, 0)], type: "f32", data: cat(positions.map((p) => p.tail)) },
    ],
  });
}

export async function readDistributions(file: string, window: readonly number[], policies: number): Promise<PositionDistributions[] | null> {
  const gguf = await readIfValid(file, window);
  const counts = gguf && metaValue(gguf, COUNTS_KEY);
  if (!gguf || !Array.isArray(counts)) return null;
  const [tokens, logp, tail] = await Promise.all(["tokens", "logp", "tail"].map((n) => readTensor(gguf, n)));
  const out: PositionDistributions[] = [];
  let at = 0;
  counts.forEach((c, i) => {
    const u = Number(c);
    out.push({
      tokens: Int32Array.from(tokens.subarray(at, at + u)),
      logp: logp.slice(at * policies, (at + u) * policies),
      tail: tail.slice(i * policies, (i + 1) * policies),
    });
    at += u;
  });
  return at * policies === logp.length ? out : null;
}
