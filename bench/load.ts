// Load on a llama-server pool (loopback, bounded): N simulated users typing in a file, each keystroke a FIM
// completion through the remote engine (parameter souping by per-request LoRA scales), against pools of 1 and 2
// tinycoder servers. Three loads per pool size, in the same run: no adapters (servers started without --lora, no
// scales sent: the baseline), N users sharing one weight vector, and N users with their own weights, each drawing
// new weights every episode. Prints p50/p95 latency and requests/s, with ratios to the baseline. Last, what explicit
// souping would cost on a server: K+1 requests per token (each policy's full next-token distribution from its own
// slot, its prompt cached), against one streamed parameter-soup request for the same number of tokens.
//   node --import tsx bench/load.ts [--users 4] [--keystrokes 12] [--episode 4] [--max-tokens 12]
import * as path from "node:path";
import type { GenerateParams, LoadParams, PolicySpec } from "../src/engine/protocol";
import { ServerPool } from "../src/engine/remote/pool";
import { RemoteEngine } from "../src/engine/remote/remoteEngine";
import { mulberry32 } from "../src/core/random";
import { SHARED_MODELS } from "../test/support/engine";
import { llamaServerMissing, startLlamaServer, type RunningServer } from "../test/support/llamaServer";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const USERS = arg("users", 4);
const KEYSTROKES = arg("keystrokes", 12);
const EPISODE = arg("episode", 4);
const MAX_TOKENS = arg("max-tokens", 12);

const TINY = path.join(SHARED_MODELS, "tinycoder");
const STYLES = ["comments", "single-quotes", "four-spaces", "no-semicolons"];
const ADAPTERS: PolicySpec[] = STYLES.map((s) => ({ id: s, kind: "adapter", path: path.join(TINY, `tinycoder-${s}.gguf`) }));

const FILE = `import { readFile } from "node:fs/promises";

/** Reads a JSON file and returns its parsed content. */
export async function readJson(file) {
  const text = await readFile(file, "utf8");
  const value = JSON.parse(text);
  return value;
}

export function sum(values) {
  let total = 0;
  for (const v of values) total += v;
  return total;
}
`;

type Load = "no adapters" | "shared weights" | "own weights";

const load = (policies: PolicySpec[]): LoadParams => ({
  modelPath: "",
  gpu: "off",
  gpuLayers: 0,
  threads: 1,
  contextSize: 512,
  basis: { kind: "policies", id: "bench", version: "1", policies },
});

function randomWeights(random: () => number): Record<string, number> {
  return Object.fromEntries(STYLES.map((s) => [s, Math.round(random() * 100) / 100]));
}

async function run(urls: string[], kind: Load): Promise<{ latencies: number[]; seconds: number; failures: number }> {
  const policies = kind === "no adapters" ? [] : ADAPTERS;
  const shared = randomWeights(mulberry32(99));
  const latencies: number[] = [];
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: USERS }, async (_, u) => {
      const engine = new RemoteEngine(new ServerPool(urls, { timeoutMs: 60000 }), `user${u}`);
      await engine.load(load(policies));
      const random = mulberry32(1000 + u);
      let weights = shared;
      // Each user types in their own place in the file.
      const start = 40 + Math.floor((FILE.length - 80) * (u / USERS));
      for (let k = 0; k < KEYSTROKES; k++) {
        if (kind === "no adapters") weights = {};
        else if (kind === "own weights" && k % EPISODE === 0) weights = randomWeights(random);
        const at = start + k;
        const p: GenerateParams = {
          prompt: { kind: "fim", prefix: FILE.slice(0, at), suffix: FILE.slice(at) },
          mode: "parameter",
          weights,
          maxTokens: MAX_TOKENS,
          temperature: 0,
        };
        const t = performance.now();
        try {
          await engine.generate(p);
          latencies.push(performance.now() - t);
        } catch (e) {
          failures++;
          console.error(`user${u}: ${(e as Error).message}`);
        }
      }
    }),
  );
  return { latencies, seconds: (performance.now() - t0) / 1000, failures };
}

/** Milliseconds for MAX_TOKENS tokens: one parameter-soup request, and explicit souping as K+1 requests per token. */
async function explicitCost(url: string): Promise<{ parameterMs: number; explicitMs: number }> {
  const engine = new RemoteEngine(new ServerPool([url], { timeoutMs: 60000 }), "explicit");
  await engine.load(load(ADAPTERS));
  const weights = randomWeights(mulberry32(5));
  const at = 200;
  const prompt = { kind: "fim" as const, prefix: FILE.slice(0, at), suffix: FILE.slice(at) };
  const t0 = performance.now();
  const g = await engine.generate({ prompt, mode: "parameter", weights, maxTokens: MAX_TOKENS, temperature: 0 });
  const parameterMs = performance.now() - t0;
  // The same tokens, stepped: each step asks every policy (pi_0 and each adapter at scale 1) for its whole
  // distribution; the client would mix them. The prompt is tokenized by the server, cached per slot.
  const tok = async (content: string, special: boolean) =>
    ((await (await fetch(`${url}/tokenize`, { method: "POST", body: JSON.stringify({ content, add_special: special }) })).json()) as { tokens: number[] }).tokens;
  const [bos, pre, suf, mid] = await Promise.all(["", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"].map((t, i) => tok(t, i === 0)));
  const [prefix, suffix] = await Promise.all([tok(prompt.prefix, false), tok(prompt.suffix, false)]);
  const base = [...bos, ...pre, ...prefix, ...suf, ...suffix, ...mid];
  const t1 = performance.now();
  for (let n = 0; n < g.tokens.length; n++) {
    const tokens = [...base, ...g.tokens.slice(0, n)];
    await Promise.all(
      [-1, 0, 1, 2, 3].map((k, slot) =>
        fetch(`${url}/completion`, {
          method: "POST",
          body: JSON.stringify({
            prompt: tokens,
            n_predict: 1,
            n_probs: 358,
            post_sampling_probs: false,
            temperature: 0,
            id_slot: slot,
            cache_prompt: true,
            lora: STYLES.map((_, id) => ({ id, scale: id === k ? 1 : 0 })),
          }),
        }).then((r) => r.json()),
      ),
    );
  }
  return { parameterMs, explicitMs: ((performance.now() - t1) * MAX_TOKENS) / Math.max(1, g.tokens.length) };
}

function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

async function main(): Promise<void> {
  const missing = llamaServerMissing();
  if (missing) {
    console.log(`bench/load: ${missing}`);
    return;
  }
  const started: RunningServer[] = [];
  try {
    const start = (args: string[]) => startLlamaServer(["--model", "tinycoder", "--parallel", String(Math.max(USERS, STYLES.length + 1)), ...args]);
    const withAdapters = await Promise.all([start([]), start([])]);
    const plain = await Promise.all([start(["--no-lora"]), start(["--no-lora"])]);
    started.push(...withAdapters, ...plain);
    console.log(`${USERS} users x ${KEYSTROKES} keystrokes, FIM, ${MAX_TOKENS} tokens, greedy; own weights change every ${EPISODE} keystrokes`);
    console.log("| servers | load | p50 ms | p95 ms | req/s | p50 / no adapters | req/s / no adapters | failed |");
    console.log("|---:|---|---:|---:|---:|---:|---:|---:|");
    for (const n of [1, 2]) {
      let base: { p50: number; rps: number } | null = null;
      for (const kind of ["no adapters", "shared weights", "own weights"] as Load[]) {
        const urls = (kind === "no adapters" ? plain : withAdapters).slice(0, n).map((s) => s.url);
        const r = await run(urls, kind);
        const p50 = percentile(r.latencies, 0.5);
        const rps = r.latencies.length / r.seconds;
        base ??= { p50, rps };
        console.log(
          `| ${n} | ${kind} | ${p50.toFixed(1)} | ${percentile(r.latencies, 0.95).toFixed(1)} | ${rps.toFixed(1)} | ${(p50 / base.p50).toFixed(2)} | ${(rps / base.rps).toFixed(2)} | ${r.failures} |`,
        );
      }
    }
    const e = await explicitCost(withAdapters[0].url);
    console.log(
      `\nexplicit souping on a server, ${MAX_TOKENS} tokens, K = ${STYLES.length}: ${e.explicitMs.toFixed(0)} ms as ${STYLES.length + 1} requests per token vs ${e.parameterMs.toFixed(0)} ms parameter soup (${(e.explicitMs / e.parameterMs).toFixed(1)}x)`,
    );
  } finally {
    await Promise.all(started.map((s) => s.stop()));
  }
}

void main();
