// The saved record of a background distillation, one file per model + pack + workspace key: whether the job is
// partway, stopped or ready, and the head adapters once ready. A record that cannot be used is renamed aside with
// the reason (the job starts over, its cache of collected windows stays), never deleted and never fatal.
import { access, rename } from "node:fs/promises";
import { readJsonFile, writeFileAtomic } from "../files";

/** The saved record of one key's background job. */
export interface DistillRecord {
  key: string;
  status: "partial" | "ready" | "stopped";
  fraction: number;
  /** The head adapters by policy id, once ready: those that beat the base model on held-out positions (maybe none). */
  heads: Record<string, string>;
  /** How many prompted experts the job distilled (heads holds those that beat the base model); 0 until ready. */
  experts: number;
  updated: string;
}

/** Checks a parsed record file; returns it, or why it cannot be used (the caller names the file). */
export function parseDistillRecord(raw: unknown, key: string): DistillRecord | { problem: string } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { problem: "it is not a JSON object" };
  const r = raw as Record<string, unknown>;
  if (r.key !== key) return { problem: `it belongs to another model, pack or workspace (key ${JSON.stringify(r.key)}, expected ${key})` };
  if (r.status !== "partial" && r.status !== "ready" && r.status !== "stopped") return { problem: "status must be partial, ready or stopped" };
  if (typeof r.fraction !== "number" || !(r.fraction >= 0 && r.fraction <= 1)) return { problem: "fraction must be a number in [0, 1]" };
  const heads = r.heads;
  if (typeof heads !== "object" || heads === null || Array.isArray(heads) || !Object.values(heads).every((v) => typeof v === "string" && v.length > 0)) {
    return { problem: "heads must map policy ids to adapter files" };
  }
  // Records written before the count was kept say only which heads won.
  const experts = r.experts === undefined ? Object.keys(heads).length : r.experts;
  if (typeof experts !== "number" || !Number.isInteger(experts) || experts < Object.keys(heads).length) {
    return { problem: "experts must be a whole number, at least the number of heads" };
  }
  return { key, status: r.status, fraction: r.fraction, heads: heads as Record<string, string>, experts, updated: typeof r.updated === "string" ? r.updated : "" };
}

/**
 * Reads the record of `key` at `file`: undefined when there is none; one that cannot be used (not JSON, another
 * key, a missing head adapter) is renamed to `<file>.corrupt-<time>` and reported in `setAside`.
 */
export async function readDistillRecord(file: string, key: string): Promise<{ record?: DistillRecord; setAside?: { to: string; problem: string } }> {
  if (!(await exists(file))) return {};
  let problem: string;
  try {
    const parsed = parseDistillRecord(await readJsonFile(file, "the background distillation's record", (m) => new Error(m)), key);
    if (!("problem" in parsed)) {
      const missing = (await Promise.all(Object.values(parsed.heads).map(async (f) => ((await exists(f)) ? null : f)))).find((f) => f !== null);
      if (!missing) return { record: parsed };
      problem = `${file}: its head adapter ${missing} is gone`;
    } else problem = `${file}: ${parsed.problem}`;
  } catch (e) {
    problem = (e as Error).message;
  }
  const to = `${file}.corrupt-${Date.now()}`;
  await rename(file, to);
  return { setAside: { to, problem } };
}

export function writeDistillRecord(file: string, record: DistillRecord): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(record, null, 2) + "\n");
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
