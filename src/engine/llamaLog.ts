// llama.cpp's log lines in the engine process. A rejected model or adapter surfaces in node-llama-cpp as a bare
// "Failed to load model"; the reason (a missing tensor, a wrong type, a shape) is only in the log. The engine keeps
// the recent error lines so its error message can carry them, and still prints every line to stderr, where the
// client keeps the last ones in case llama.cpp aborts the process.
import type { LlamaLogLevel } from "node-llama-cpp";

const KEEP = 16;
const recent: { seq: number; text: string }[] = [];
let seq = 0;

/** The logger given to getLlama. */
export function llamaLogger(level: LlamaLogLevel, message: string): void {
  const text = message.trim();
  if (!text) return;
  process.stderr.write(`[node-llama-cpp] ${text}\n`);
  if (level !== "error" && level !== "fatal") return;
  recent.push({ seq: ++seq, text });
  recent.splice(0, Math.max(0, recent.length - KEEP));
}

/** A position in the log: llamaFailure reports what was logged after it. */
export function llamaLogMark(): number {
  return seq;
}

/** An error from node-llama-cpp with the reasons llama.cpp logged since `mark`, without repeats. */
export function llamaFailure(e: unknown, mark: number): string {
  const base = e instanceof Error ? e.message : String(e);
  const said = [...new Set(recent.filter((r) => r.seq > mark).map((r) => r.text.replace(/^\w+:\s*/, "")))];
  return said.length ? `${base}: ${said.join("; ")}` : base;
}
