// Reading the files the extension and VS Code write while a step polls them. Neither writes atomically (VS Code
// truncates settings.json and then writes it; logs are appended), so a read can catch a file half written: a
// reader here returns what has been completely written and lets the caller's poll try again for the rest.
import { existsSync, readFileSync } from "node:fs";

/** The complete lines of a JSON-lines log; a last line without its newline is still being written. */
export function readJsonl<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, "utf8").split("\n");
  lines.pop();
  return lines.filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
}

/** A JSON file's value, or undefined while it is absent or half written. */
export function readJsonSettled<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
}
