// The one validation kit for data that crosses a trust boundary (webview messages, job requests, files on disk):
// a check returns why a value is wrong, or undefined, so callers can name the field and the file in the message.
// Pure and dependency-free: the webview bundles use it too.

/** Why `v` is not acceptable ("must be a string"), or undefined when it is. */
export type Check = (v: unknown) => string | undefined;

export type Obj = Record<string, unknown>;

/** A plain JSON object (not null, not an array). */
export const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

export const text =
  (max: number, nonEmpty: boolean): Check =>
  (v) =>
    typeof v !== "string" ? "must be a string" : v.length > max ? `is longer than ${max} characters` : nonEmpty && v.trim() === "" ? "must not be empty" : undefined;

export const matches =
  (re: RegExp): Check =>
  (v) =>
    typeof v === "string" && re.test(v) ? undefined : `must match ${re}`;

export const oneOf =
  (values: readonly string[]): Check =>
  (v) =>
    typeof v === "string" && values.includes(v) ? undefined : `must be one of ${values.map((x) => JSON.stringify(x)).join(", ")}`;

export const bool: Check = (v) => (typeof v === "boolean" ? undefined : "must be a boolean");

export const integer =
  (min: number): Check =>
  (v) =>
    typeof v === "number" && Number.isInteger(v) && v >= min ? undefined : `must be an integer >= ${min}`;

export const inRange =
  (min: number, max: number): Check =>
  (v) =>
    !finite(v) ? "must be a finite number" : v < min || v > max ? `must be in [${min}, ${max}]` : undefined;

/** Strictly between 0 and 1. */
export const fraction: Check = (v) => (typeof v === "number" && v > 0 && v < 1 ? undefined : "must be a number in (0, 1)");

export const nonNegative: Check = (v) => (finite(v) && v >= 0 ? undefined : "must be a finite number >= 0");

export const strings: Check = (v) => (Array.isArray(v) && v.every((x) => typeof x === "string") ? undefined : "must be a list of strings");

export const optional =
  (check: Check): Check =>
  (v) =>
    v === undefined ? undefined : check(v);

/** An object whose fields pass `schema` (see `fields`). */
export const object =
  (schema: Readonly<Record<string, Check>>, required?: readonly string[]): Check =>
  (v) =>
    isObj(v) ? fields(v, schema, required) : "must be an object";

/**
 * Rejects fields `schema` does not list, then checks the listed ones; the first problem, prefixed with the field's
 * name. Without `required` every check sees its field, present or not (`optional` lets one be absent); with it,
 * an absent field is an error only when `required` names it.
 */
export function fields(o: Obj, schema: Readonly<Record<string, Check>>, required?: readonly string[]): string | undefined {
  for (const key of Object.keys(o)) if (!Object.prototype.hasOwnProperty.call(schema, key)) return `unexpected field "${key.slice(0, 40)}"`;
  for (const [key, check] of Object.entries(schema)) {
    if (required && o[key] === undefined) {
      if (required.includes(key)) return `${key} is required`;
      continue;
    }
    const problem = check(o[key]);
    if (problem) return `${key} ${problem}`;
  }
  return undefined;
}

/**
 * The objects of a JSON list whose entries carry unique ids matching `id`, each with its JSON path (`at[i]`), for
 * validators that collect every problem: a missing or empty list, an entry that is not an object, a bad or repeated
 * id each add one to `problems` (`emptyWhy` explains why the list must not be empty).
 */
export function entriesWithIds(list: unknown, at: string, id: RegExp, problems: string[], emptyWhy = ""): [Obj, string][] {
  if (!Array.isArray(list) || list.length === 0) {
    problems.push(`${at} must be a non-empty array${emptyWhy}`);
    return [];
  }
  const seen = new Set<string>();
  const entries: [Obj, string][] = [];
  list.forEach((entry: unknown, i) => {
    const where = `${at}[${i}]`;
    if (!isObj(entry)) {
      problems.push(`${where} must be an object`);
      return;
    }
    if (typeof entry.id !== "string" || !id.test(entry.id)) problems.push(`${where}.id must match ${id} (got ${JSON.stringify(entry.id)})`);
    else if (seen.has(entry.id)) problems.push(`${where}.id "${entry.id}" is used twice`);
    else seen.add(entry.id);
    entries.push([entry, where]);
  });
  return entries;
}

/** A message schema: per `type`, the checks of its other fields. */
export type MessageSchema<M extends { type: string }> = {
  readonly [T in M["type"]]: Readonly<Record<Exclude<keyof Extract<M, { type: T }>, "type">, Check>>;
};

/** Validates a `{type, ...}` message against its schema; returns it typed, or why it was rejected (for a log). */
export function parseMessage<M extends { type: string }>(msg: unknown, schema: MessageSchema<M>): M | { error: string } {
  if (!isObj(msg)) return { error: "message must be an object" };
  const type = msg.type;
  if (typeof type !== "string" || !Object.prototype.hasOwnProperty.call(schema, type)) {
    return { error: `unknown message type ${typeof type === "string" ? JSON.stringify(type.slice(0, 40)) : `(a ${typeof type})`}` };
  }
  const checks: Readonly<Record<string, Check>> = schema[type as M["type"]];
  const problem = fields(msg, { ...checks, type: () => undefined });
  if (problem) return { error: `${type}${problem.startsWith("unexpected") ? ": " : "."}${problem}` };
  // Every field was checked against the schema entry of this very type, which mirrors the union.
  return msg as M;
}
