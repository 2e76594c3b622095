// Progress of node-llama-cpp's `source download` / `source build` (its CMake build prints ninja's "[done/total]"
// step counter): the fraction done, read from the lines of its output.

/** The latest "[done/total]" step counter in `text`, as a fraction in [0, 1]; undefined when there is none. */
export function sourceBuildProgress(text: string): number | undefined {
  let last: number | undefined;
  for (const m of text.matchAll(/\[(\d+)\/(\d+)\]/g)) {
    const done = Number(m[1]);
    const total = Number(m[2]);
    if (total > 0 && done <= total) last = done / total;
  }
  return last;
}
