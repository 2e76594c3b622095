// One argument parser for every `soup` subcommand. Each command declares its flags once, next to its usage text,
// so `--help` / `-h` answers everywhere, and every mistake is one line that names the flag and exits 2.
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A command-line mistake: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The user asked for a command's usage: printed on stdout, exit code 0. */
export class HelpRequested extends Error {
  override name = "HelpRequested";
  constructor(readonly usage: string) {
    super(usage);
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

export interface CommandSpec<O extends Options> {
  /** Shown by --help, and after a usage error's reason. */
  usage: string;
  options: O;
  /** How many positional arguments the command takes: [min, max]; none by default. */
  positionals?: readonly [number, number];
}

/** Throws HelpRequested when --help or -h is among the arguments (before anything else is checked). */
export function helpRequested(usage: string, args: readonly string[]): void {
  if (args.includes("--help") || args.includes("-h")) throw new HelpRequested(usage);
}

/** Parses `args` against the command's flags; unknown flags, missing values and stray arguments are UsageErrors. */
export function parseCommand<const O extends Options>(spec: CommandSpec<O>, args: string[]) {
  helpRequested(spec.usage, args);
  // A valued flag takes the next argument whatever it looks like: `--box -0.5,2` is a value, not an option.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i]!.startsWith("--") ? args[i]!.slice(2) : "";
    if (spec.options[name]?.type === "string" && i + 1 < args.length) joined.push(`${args[i]}=${args[++i]}`);
    else joined.push(args[i]!);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: joined, options: spec.options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${describeParseError(e)}\n${spec.usage}`);
  }
  const [min, max] = spec.positionals ?? [0, 0];
  const n = parsed.positionals.length;
  if (n > max) throw new UsageError(`unexpected argument "${parsed.positionals[max]}"\n${spec.usage}`);
  if (n < min) throw new UsageError(`missing argument${min - n > 1 ? "s" : ""}\n${spec.usage}`);
  return parsed;
}

/** node:util's messages are long and suggest `--` tricks; say what was wrong in a few words. */
function describeParseError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const quoted = /'([^']+)'/.exec(err.message ?? "")?.[1] ?? "";
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${quoted}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return `${quoted.replace(/ <value>$/, "")} needs a value`;
    default:
      return String(err.message ?? e).split("\n")[0];
  }
}

/** The value of a required flag. */
export function required(value: string | undefined, flag: string, usage: string): string {
  if (value === undefined || value === "") throw new UsageError(`${flag} is required\n${usage}`);
  return value;
}

export function int(value: string | undefined, flag: string, fallback: number, min = -Infinity): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min) {
    throw new UsageError(`${flag}: expected an integer${min > -Infinity ? ` >= ${min}` : ""}, got "${value}"`);
  }
  return n;
}

export function num(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new UsageError(`${flag}: expected a number, got "${value}"`);
  return n;
}

/** Comma-separated numbers, e.g. `--prior 0.5,0,1`. */
export function numbers(value: string, flag: string, count?: number): number[] {
  const v = value.split(",").map((s) => num(s.trim(), flag, NaN));
  if (count !== undefined && v.length !== count) throw new UsageError(`${flag}: expected ${count} comma-separated numbers, got ${v.length}`);
  return v;
}

export function oneOf<const T extends string>(value: string | undefined, allowed: readonly T[], flag: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag}: expected one of ${allowed.join(", ")}, got "${value}"`);
  return value as T;
}

/** Dispatches `soup <group> <sub> ...` to its subcommand; `--help` on the group itself prints the group's usage. */
export function subcommand<S extends string>(args: string[], subs: readonly S[], usage: string, group: string): [S, string[]] {
  const [sub, ...rest] = args;
  if (sub === "--help" || sub === "-h" || sub === "help") throw new HelpRequested(usage);
  if (sub === undefined) throw new UsageError(`missing ${group} command\n${usage}`);
  if (!(subs as readonly string[]).includes(sub)) throw new UsageError(`unknown ${group} command "${sub}"\n${usage}`);
  return [sub as S, rest];
}
