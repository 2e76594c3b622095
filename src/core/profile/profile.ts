// The team-shareable preference profile, `.vscode/spectral-soup.json`: sliders (and optionally learned weights)
// per basis dimension, so a team can start from shared preferences. Import is all-or-nothing: it returns a new
// profile or throws naming the file and the field, and never touches the caller's current profile.
import { constants } from "node:fs";
import { open, stat } from "node:fs/promises";
import { isObj, type Obj } from "../../shared/check";
import { POLICY_ID as DIMENSION_ID, WEIGHT_MAX as SLIDER_MAX, WEIGHT_MIN as SLIDER_MIN } from "../../shared/soup";
import { writeFileAtomic } from "../files";

export const PROFILE_SCHEMA = 1;
/** Relative to the workspace folder. */
export const PROFILE_PATH = ".vscode/spectral-soup.json";

export interface SliderSetting {
  value: number;
  locked: boolean;
}

export interface WeightSetting {
  mean: number;
  std: number;
}

export interface Profile {
  schema: typeof PROFILE_SCHEMA;
  basis: { id: string; version: string };
  sliders: Record<string, SliderSetting>;
  weights?: Record<string, WeightSetting>;
}

/** The basis the extension runs now: an imported profile must be about its dimensions. */
export interface CurrentBasis {
  id: string;
  version: string;
  dimensions: readonly string[];
}

export class ProfileError extends Error {
  constructor(
    readonly file: string,
    /** JSON path of the first problem, e.g. `$.sliders.concise.value`. */
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = "ProfileError";
  }
}

/** Writes the profile (pretty-printed: it is meant to be committed and reviewed). */
export async function exportProfile(file: string, profile: Profile): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(profile, null, 2)}\n`);
}

/** A profile is a few hundred bytes; anything near this is not one. */
const MAX_PROFILE_BYTES = 1 << 20;

/**
 * Reads and validates a profile against the current basis; throws a ProfileError listing every problem. Only a
 * regular file is opened (a FIFO or device at the path would block or never end), and no error quotes the file's
 * bytes: through a symlink they could be any file's.
 */
export async function importProfile(file: string, currentBasis: CurrentBasis): Promise<Profile> {
  const cannot = (why: string) => new ProfileError(file, "$", `${file}: cannot read the profile (${why}); the current profile is kept`);
  const code = (e: unknown) => (e as NodeJS.ErrnoException).code ?? String(e);
  let text: string;
  try {
    if (!(await stat(file)).isFile()) throw cannot("not a regular file");
    // Non-blocking, and checked again once open: the path may have been swapped since the stat.
    const fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const info = await fh.stat();
      if (!info.isFile()) throw cannot("not a regular file");
      if (info.size > MAX_PROFILE_BYTES) throw cannot(`${info.size} bytes, more than a profile can be`);
      text = await fh.readFile("utf8");
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw e instanceof ProfileError ? e : cannot(code(e));
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    // The parser's message quotes the text; only the position is kept.
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new ProfileError(file, "$", `${file}: not valid JSON${at ? ` (at byte ${at})` : ""}; the current profile is kept`);
  }
  return validateProfile(raw, file, currentBasis);
}

/** Values are described, not quoted: a profile read through a symlink may be any file, and a secret one. */
const show = (v: unknown) =>
  typeof v === "number" || typeof v === "boolean" || v === null ? String(v) : typeof v === "string" ? `a string (${v.length} chars)` : Array.isArray(v) ? "an array" : typeof v;
/** A key as it may appear in a message: short printable ones as they are, others as a placeholder with their length. */
const showId = (id: string) => (/^[\x21-\x7e]{1,40}$/.test(id) ? id : `<an id of ${id.length} characters>`);

/** Checks a parsed profile; the result is a fresh object built only from checked fields. */
export function validateProfile(raw: unknown, file: string, currentBasis: CurrentBasis): Profile {
  const problems: { field: string; problem: string }[] = [];
  const fail = (field: string, problem: string) => void problems.push({ field, problem });
  const known = new Set(currentBasis.dimensions);
  const onlyKeys = (o: Obj, at: string, keys: readonly string[]) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`${at}.${showId(k)}`, "is not a profile field");
  };
  const number = (o: Obj, key: string, at: string, min: number, max: number): number => {
    const v = o[key];
    if (typeof v !== "number" || !Number.isFinite(v)) fail(`${at}.${key}`, `must be a finite number (got ${show(v)})`);
    else if (v < min || v > max) fail(`${at}.${key}`, `must be in [${min}, ${max}] (got ${v})`);
    return v as number;
  };
  /** Entries of a per-dimension map whose ids belong to the current basis. */
  const dimensionEntries = (v: unknown, at: string): [string, Obj][] => {
    if (!isObj(v)) {
      fail(at, "must be an object keyed by dimension id");
      return [];
    }
    return Object.entries(v).flatMap(([id, entry]): [string, Obj][] => {
      if (!DIMENSION_ID.test(id) || !known.has(id)) {
        fail(`${at}.${showId(id)}`, `unknown dimension id (the basis "${currentBasis.id}" has: ${currentBasis.dimensions.join(", ")})`);
        return [];
      }
      if (!isObj(entry)) {
        fail(`${at}.${id}`, "must be an object");
        return [];
      }
      return [[id, entry]];
    });
  };

  if (!isObj(raw)) throw new ProfileError(file, "$", `${file}: a profile must be a JSON object; the current profile is kept`);
  onlyKeys(raw, "$", ["schema", "basis", "sliders", "weights"]);
  if (raw.schema !== PROFILE_SCHEMA) {
    fail("$.schema", `must be ${PROFILE_SCHEMA} (got ${show(raw.schema)})${typeof raw.schema === "number" && raw.schema > PROFILE_SCHEMA ? ": written by a newer Spectral Soup" : ""}`);
  }
  const basis = isObj(raw.basis) ? raw.basis : undefined;
  if (!basis || typeof basis.id !== "string" || typeof basis.version !== "string") {
    fail("$.basis", "must be {id, version} with string values");
  } else if (basis.id !== currentBasis.id) {
    // Same ids in another pack can mean other things: refuse rather than guess.
    fail("$.basis.id", `the profile is for basis "${showId(basis.id)}", but the current basis is "${currentBasis.id}"`);
  }
  const sliders: Record<string, SliderSetting> = {};
  for (const [id, s] of dimensionEntries(raw.sliders, "$.sliders")) {
    onlyKeys(s, `$.sliders.${id}`, ["value", "locked"]);
    const value = number(s, "value", `$.sliders.${id}`, SLIDER_MIN, SLIDER_MAX);
    if (typeof s.locked !== "boolean") fail(`$.sliders.${id}.locked`, `must be true or false (got ${show(s.locked)})`);
    sliders[id] = { value, locked: s.locked === true };
  }
  let weights: Record<string, WeightSetting> | undefined;
  if (raw.weights !== undefined) {
    weights = {};
    for (const [id, w] of dimensionEntries(raw.weights, "$.weights")) {
      onlyKeys(w, `$.weights.${id}`, ["mean", "std"]);
      weights[id] = { mean: number(w, "mean", `$.weights.${id}`, -Infinity, Infinity), std: number(w, "std", `$.weights.${id}`, 0, Infinity) };
    }
  }

  if (problems.length) {
    const list = problems.map((p) => `${p.field} ${p.problem}`).join("\n  ");
    throw new ProfileError(file, problems[0]!.field, `${file}: invalid profile, the current profile is kept:\n  ${list}`);
  }
  const b = basis as { id: string; version: string };
  return { schema: PROFILE_SCHEMA, basis: { id: b.id, version: b.version }, sliders, ...(weights ? { weights } : {}) };
}
