// `soup adapt`: the posterior behind a JSON-lines protocol, for outside simulators; `soup simulate`: the
// Gaussian-feature benchmark of issue 3.
import * as readline from "node:readline";
import { parseFeedback } from "../core/adapt/feedback";
import { SoupPosterior } from "../core/adapt/posterior";
import { seededRng } from "../core/random";
import { simulate, type FeedbackKind, type SimulationResult } from "../core/adapt/simulate";

/** `--name value` pairs and bare `--flag`s; throws on anything else. */
function parseFlags(args: string[], valued: string[], bare: string[] = []): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const name = args[i].replace(/^--/, "");
    if (bare.includes(name) && args[i].startsWith("--")) flags.set(name, "true");
    else if (valued.includes(name) && args[i].startsWith("--") && i + 1 < args.length) flags.set(name, args[++i]);
    else throw new Error(`unexpected argument ${JSON.stringify(args[i])}`);
  }
  return flags;
}

function numbers(text: string, name: string): number[] {
  const v = text.split(",").map(Number);
  if (!v.every(Number.isFinite)) throw new Error(`--${name} must be comma-separated numbers`);
  return v;
}

function integer(text: string | undefined, fallback: number, name: string): number {
  const v = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
}

const ADAPT_USAGE = "usage: soup adapt --dims K [--prior w1,...] [--box lo,hi] [--seed S]";

/** Reads feedback and queries as JSON lines from io.stdin and answers each line with one JSON line. */
export async function adaptCommand(
  args: string[],
  io: { stdin: NodeJS.ReadableStream; out: (line: string) => void },
): Promise<number> {
  let posterior: SoupPosterior;
  let seed: number;
  try {
    const flags = parseFlags(args, ["dims", "prior", "box", "seed"]);
    if (!flags.has("dims")) throw new Error("--dims is required");
    const dims = integer(flags.get("dims"), 0, "dims");
    const box = flags.has("box") ? numbers(flags.get("box")!, "box") : undefined;
    if (box && box.length !== 2) throw new Error("--box must be lo,hi");
    const mean = flags.has("prior") ? numbers(flags.get("prior")!, "prior") : undefined;
    if (mean && mean.length !== dims) throw new Error(`--prior must have ${dims} values`);
    seed = flags.has("seed") ? Number(flags.get("seed")) : 0;
    if (!Number.isInteger(seed)) throw new Error("--seed must be an integer");
    posterior = new SoupPosterior({ dims, ...(box ? { box: [box[0], box[1]] as [number, number] } : {}) });
    if (mean) posterior.observeAll(mean.map((value, dim) => ({ type: "slider", dim, value, locked: false })));
  } catch (e) {
    io.out(JSON.stringify({ ok: false, error: `${(e as Error).message}; ${ADAPT_USAGE}` }));
    return 2;
  }
  const rng = seededRng(seed);
  const lines = readline.createInterface({ input: io.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    try {
      const raw = JSON.parse(line) as unknown;
      if (typeof raw === "object" && raw !== null && (raw as { type?: unknown }).type === "query") {
        const weights = (raw as { sample?: unknown }).sample === true ? posterior.sample(rng) : posterior.mean();
        io.out(JSON.stringify({ weights, std: posterior.std() }));
      } else {
        posterior.observe(parseFeedback(raw, posterior.dims));
        io.out(JSON.stringify({ ok: true }));
      }
    } catch (e) {
      io.out(JSON.stringify({ ok: false, error: (e as Error).message }));
    }
  }
  return 0;
}

/** The issue-3 table for one simulation: per policy, utility at a few rounds, regret, rounds to 0.9. */
export function simulationTable(result: SimulationResult): string[] {
  const o = result.options;
  const checkpoints = [0, 10, 25, 50, 100, o.rounds].filter((t, i, a) => t <= o.rounds && a.indexOf(t) === i);
  const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : String(v));
  const lines = [
    `${o.user} user, K=${o.k}, ${o.feedback} feedback, ${o.users} users, T=${o.rounds}, feature scale x${o.featureScale}, seed ${o.seed}`,
    `| policy | ${checkpoints.map((t) => `u(${t})`).join(" | ")} | regret(T) | rounds to 0.9 | below base | NaN |`,
    `|---|${checkpoints.map(() => "---:").join("|")}|---:|---:|---:|---:|`,
  ];
  for (const r of result.results) {
    const to90 = Number.isFinite(r.roundsTo90) ? String(r.roundsTo90) : `>${o.rounds}`;
    lines.push(
      `| ${r.policy} | ${checkpoints.map((t) => fmt(r.utility[t])).join(" | ")} | ${r.regret.toFixed(1)} | ${to90} | ${(100 * r.belowBase).toFixed(1)}% | ${r.nonFinite} |`,
    );
  }
  return lines;
}

/** `soup simulate [--json] [--users N] [--k K] [--rounds T] [--feedback rating|choice] [--scale s] [--seed S]`. */
export async function simulateCommand(args: string[], out: (line: string) => void): Promise<number> {
  let flags: Map<string, string>;
  let runs: Parameters<typeof simulate>[0][];
  try {
    flags = parseFlags(args, ["users", "k", "rounds", "feedback", "scale", "seed", "spread"], ["json"]);
    const feedback = flags.get("feedback");
    if (feedback !== undefined && feedback !== "rating" && feedback !== "choice") throw new Error("--feedback must be rating or choice");
    const common = {
      users: integer(flags.get("users"), 100, "users"),
      k: integer(flags.get("k"), 8, "k"),
      rounds: integer(flags.get("rounds"), 200, "rounds"),
      seed: Number(flags.get("seed") ?? 1),
      featureScale: Number(flags.get("scale") ?? 1),
      ...(flags.has("spread") ? { thompsonSpread: Number(flags.get("spread")) } : {}),
    };
    if (![common.seed, common.featureScale, common.thompsonSpread ?? 1].every(Number.isFinite)) throw new Error("--seed, --scale and --spread must be numbers");
    const feedbacks: FeedbackKind[] = feedback ? [feedback] : ["rating", "choice"];
    runs = feedbacks.map((f) => ({ ...common, feedback: f }));
  } catch (e) {
    out(`${(e as Error).message}\nusage: soup simulate [--json] [--users N] [--k K] [--rounds T] [--feedback rating|choice] [--scale s] [--seed S] [--spread s]`);
    return 2;
  }
  const results = runs.map((r) => simulate(r));
  if (flags.has("json")) out(JSON.stringify(results));
  else for (const r of results) out([...simulationTable(r), ""].join("\n"));
  return 0;
}
