// `soup adapt`: the posterior behind a JSON-lines protocol, for outside simulators; `soup simulate`: the
// Gaussian-feature benchmark, on the standard user and the less kind ones.
import { parseFeedback } from "../core/adapt/feedback";
import { AgingPosterior, STREAM_POSTERIOR } from "../core/adapt/aging";
import { simulate, USER_KINDS, type FeedbackKind, type SimulationResult } from "../core/adapt/simulate";
import { readLines } from "../core/lines";
import { seededRng } from "../core/random";
import { HelpRequested, int, num, numbers, oneOf, parseCommand, required, UsageError } from "./args";

const ADAPT_USAGE = "usage: soup adapt --dims K [--prior w1,...] [--box lo,hi] [--seed S]";
const SIMULATE_USAGE =
  "usage: soup simulate [--json] [--user standard|noisy|drifting|negative|chooser|completer] [--users N] [--k K] [--rounds T]\n" +
  "         [--feedback rating|choice] [--scale s] [--seed S] [--spread s] [--flip p] [--switch-at t] [--negative share]\n" +
  "         [--choices share]";

/** A share in [0, 1] given as a flag, or undefined when absent. */
function share(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const v = num(value, flag, 0);
  if (v < 0 || v > 1) throw new UsageError(`${flag}: expected a share in [0, 1], got "${value}"`);
  return v;
}

/** An event or query is well under a kilobyte; a longer line is refused without being held whole. */
const MAX_INPUT_LINE = 1 << 20;

/** Reads feedback and queries as JSON lines from io.stdin and answers each line with one JSON line. */
export async function adaptCommand(
  args: string[],
  io: { stdin: NodeJS.ReadableStream; out: (line: string) => void },
): Promise<number> {
  let posterior: AgingPosterior;
  let seed: number;
  try {
    const v = parseCommand(
      { usage: ADAPT_USAGE, options: { dims: { type: "string" }, prior: { type: "string" }, box: { type: "string" }, seed: { type: "string" } } },
      args,
    ).values;
    const dims = int(required(v.dims, "--dims", ADAPT_USAGE), "--dims", 0, 1);
    const box = v.box === undefined ? undefined : numbers(v.box, "--box", 2);
    const mean = v.prior === undefined ? undefined : numbers(v.prior, "--prior", dims);
    seed = int(v.seed, "--seed", 0);
    // One person's stream of feedback: evidence ages, faster after a detected change of taste.
    posterior = new AgingPosterior({ dims, ...STREAM_POSTERIOR, ...(box ? { box: [box[0], box[1]] as [number, number] } : {}) });
    if (mean) posterior.observeAll(mean.map((value, dim) => ({ type: "slider", dim, value, locked: false })));
  } catch (e) {
    if (e instanceof HelpRequested) throw e;
    // Callers speak JSON lines, so even a bad command line is answered in one.
    const reason = (e as Error).message.split("\n")[0];
    io.out(JSON.stringify({ ok: false, error: `${reason}; ${ADAPT_USAGE}` }));
    return 2;
  }
  const rng = seededRng(seed);
  for await (const read of readLines(io.stdin as AsyncIterable<Buffer | string>, MAX_INPUT_LINE)) {
    if ("tooLong" in read) {
      io.out(JSON.stringify({ ok: false, error: `input line of ${read.tooLong} bytes skipped: longer than the ${MAX_INPUT_LINE}-byte limit` }));
      continue;
    }
    const line = read.text;
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

export async function simulateCommand(args: string[], out: (line: string) => void): Promise<number> {
  const v = parseCommand(
    {
      usage: SIMULATE_USAGE,
      options: {
        users: { type: "string" },
        k: { type: "string" },
        rounds: { type: "string" },
        feedback: { type: "string" },
        scale: { type: "string" },
        seed: { type: "string" },
        spread: { type: "string" },
        user: { type: "string" },
        flip: { type: "string" },
        "switch-at": { type: "string" },
        negative: { type: "string" },
        choices: { type: "string" },
        json: { type: "boolean" },
      },
    },
    args,
  ).values;
  const common = {
    users: int(v.users, "--users", 100, 1),
    k: int(v.k, "--k", 8, 1),
    rounds: int(v.rounds, "--rounds", 200, 1),
    seed: num(v.seed, "--seed", 1),
    featureScale: num(v.scale, "--scale", 1),
    ...(v.spread === undefined ? {} : { thompsonSpread: num(v.spread, "--spread", 1) }),
    user: oneOf(v.user, USER_KINDS, "--user", "standard"),
    traits: {
      flip: share(v.flip, "--flip"),
      switchAt: v["switch-at"] === undefined ? undefined : int(v["switch-at"], "--switch-at", 0, 0),
      negativeShare: share(v.negative, "--negative"),
      choiceShare: share(v.choices, "--choices"),
    },
  };
  const feedbacks: FeedbackKind[] = v.feedback === undefined ? ["rating", "choice"] : [oneOf(v.feedback, ["rating", "choice"], "--feedback", "rating")];
  const runs = feedbacks.map((f) => ({ ...common, feedback: f }));
  const results = runs.map((r) => simulate(r));
  if (v.json) out(JSON.stringify(results));
  else for (const r of results) out([...simulationTable(r), ""].join("\n"));
  return 0;
}
