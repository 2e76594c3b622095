// Response texts a workspace keeps for a limited time, apart from the event log: one JSON-lines file per UTC day
// (`texts/2026-12-02.jsonl`: time, sha256, text). The log only ever holds hashes, so ageing texts out never
// rewrites the log; whole days past the limit are deleted and the one day the limit cuts through is filtered.
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomicSync } from "../files";
import { readLinesSync } from "../lines";

export const DAY_MS = 86_400_000;
const DAY_FILE = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;
/** A text longer than this was never written by `add`; anything longer in a day file is dropped when filtered. */
const MAX_TEXT_LINE = 16 << 20;

interface TextLine {
  t: number;
  hash: string;
  text: string;
}

export class TextStore {
  constructor(readonly folder: string) {}

  add(t: number, hashes: readonly string[], texts: readonly string[]): void {
    fs.mkdirSync(this.folder, { recursive: true });
    const lines = texts.map((text, i): TextLine => ({ t, hash: hashes[i]!, text }));
    fs.appendFileSync(this.file(t), lines.map((l) => JSON.stringify(l) + "\n").join(""));
  }

  /**
   * Removes every text recorded at or before `now - days` (all of them for 0 days); returns how many day files
   * were deleted or filtered. Only past days are touched: today's file, the one other windows append to, only
   * when the limit is under a day.
   */
  prune(now: number, days: number): number {
    let names: string[];
    try {
      names = fs.readdirSync(this.folder);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw e;
    }
    const cutoff = now - days * DAY_MS;
    let changed = 0;
    for (const name of names) {
      const day = DAY_FILE.exec(name)?.[1];
      if (!day) continue;
      const start = Date.parse(`${day}T00:00:00Z`);
      const file = path.join(this.folder, name);
      if (days <= 0 || start + DAY_MS <= cutoff) {
        fs.rmSync(file, { force: true });
        changed++;
      } else if (start <= cutoff && this.filter(file, cutoff)) {
        changed++;
      }
    }
    return changed;
  }

  /** Keeps the lines of `file` recorded after `cutoff`; true when something was removed. */
  private filter(file: string, cutoff: number): boolean {
    const fd = fs.openSync(file, "r");
    let kept: string[];
    let total = 0;
    try {
      kept = readLinesSync(fd, MAX_TEXT_LINE).flatMap((line) => {
        total++;
        if (!("text" in line)) return [];
        try {
          return (JSON.parse(line.text) as TextLine).t > cutoff ? [line.text] : [];
        } catch {
          return [];
        }
      });
    } finally {
      fs.closeSync(fd);
    }
    if (kept.length === total) return false;
    if (kept.length) writeFileAtomicSync(file, kept.map((l) => l + "\n").join(""));
    else fs.rmSync(file, { force: true });
    return true;
  }

  private file(t: number): string {
    return path.join(this.folder, `${new Date(t).toISOString().slice(0, 10)}.jsonl`);
  }
}
