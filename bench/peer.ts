// The peer comparison: `npx tsx bench/peer.ts [--rounds 5]`, whenever llama.cpp's tools are built
// (`bash scripts/llama-tools.sh --path`); without them it says so and exits 0. Same model files, one thread
// everywhere, rounds interleaved, medians of per-round ratios (the machine is shared: say the spread too).
//  1. Generation and prompt speed on the generated ~52M benchmark model: llama-bench vs node-llama-cpp alone vs
//     the plain engine.
//  2. FIM completion per keystroke on tinycoder (../shared/models): llama-server /infill (prompt cache on) vs the
//     plain engine, the same prefix/suffix windows and keystrokes; prompt tokens each side evaluated.
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { BENCHMARK_MODEL, syntheticModelCache } from "../src/core/gguf/synthetic";
import { SoupEngine } from "../src/engine/soupEngine";

const v = parseArgs({ options: { rounds: { type: "string", default: "5" }, keys: { type: "string", default: "12" } } }).values;
const ROUNDS = Number(v.rounds);
const GEN = 48;
const PROMPT = 256;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs: number[]) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;

function toolsBin(): string | null {
  try {
    return execFileSync("bash", [path.resolve(__dirname, "../scripts/llama-tools.sh"), "--path"], { encoding: "utf8" }).trim().split("\n").pop()!;
  } catch {
    return null;
  }
}

/** llama-bench's generation and prompt tokens/s (one repetition per round, so rounds interleave). */
function llamaBench(bin: string, model: string): { tg: number; pp: number } {
  const out = execFileSync(path.join(bin, "llama-bench"), ["-m", model, "-t", "1", "-p", String(PROMPT), "-n", String(GEN), "-r", "1", "-o", "json"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  const rows = JSON.parse(out) as { n_prompt: number; n_gen: number; avg_ts: number }[];
  const tg = rows.find((r) => r.n_gen > 0 && r.n_prompt === 0)?.avg_ts;
  const pp = rows.find((r) => r.n_prompt > 0 && r.n_gen === 0)?.avg_ts;
  if (!tg || !pp) throw new Error(`llama-bench gave no tg/pp rows: ${out.slice(0, 200)}`);
  return { tg, pp };
}

async function nlcAlone(modelPath: string) {
  const nlc = await import("node-llama-cpp");
  const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: nlc.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 1024, threads: 1 });
  const seq = ctx.getSequence();
  const tokens = Array.from({ length: PROMPT }, (_, i) => (100 + ((i * 37) % 20000)) as never);
  return {
    async round(): Promise<{ tg: number; pp: number }> {
      await seq.clearHistory();
      const t0 = performance.now();
      await seq.controlledEvaluate(tokens);
      const pp = (PROMPT / (performance.now() - t0)) * 1000;
      await seq.clearHistory();
      let n = 0;
      let t1 = 0;
      for await (const _ of seq.evaluate([tokens[0]], { temperature: 0, yieldEogToken: true })) {
        if (n === 0) t1 = performance.now();
        if (++n >= GEN) break;
      }
      return { tg: (n / (performance.now() - t1)) * 1000, pp };
    },
    dispose: () => model.dispose(),
  };
}

async function startServer(bin: string, model: string): Promise<{ url: string; stop: () => void }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(path.join(bin, "llama-server"), ["-m", model, "--threads", "1", "-c", "1024", "--port", String(port), "-np", "1"], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 120; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) return { url, stop: () => child.kill() };
  }
  child.kill();
  throw new Error("llama-server did not become healthy in 60 s");
}

async function main(): Promise<void> {
  const bin = toolsBin();
  if (!bin) {
    console.log("skipped: llama.cpp's tools are not built (bash scripts/llama-tools.sh builds them)");
    return;
  }
  const model = await syntheticModelCache(path.join(os.tmpdir(), "spectral-soup-bench-models"), BENCHMARK_MODEL);
  const alone = await nlcAlone(model);
  const engine = new SoupEngine();
  await engine.load({ modelPath: model, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "policies", id: "peer", version: "1", policies: [] } }, () => {});
  const signal = new AbortController().signal;
  const ratios = { aloneTg: [] as number[], alonePp: [] as number[], engineTg: [] as number[], benchTg: [] as number[] };
  let raw = "";
  for (let r = 0; r < ROUNDS; r++) {
    const b = llamaBench(bin, model);
    const a = await alone.round();
    const e = await engine.generate({ prompt: { kind: "raw", text: `round ${r} ${Math.random()}` }, mode: "parameter", weights: {}, maxTokens: GEN, temperature: 0 }, signal, () => {});
    ratios.benchTg.push(b.tg);
    ratios.aloneTg.push(a.tg / b.tg);
    ratios.alonePp.push(a.pp / b.pp);
    ratios.engineTg.push(e.timings.tokensPerSecond / b.tg);
    raw = `llama-bench tg ${b.tg.toFixed(1)} pp ${b.pp.toFixed(1)}, node-llama-cpp tg ${a.tg.toFixed(1)} pp ${a.pp.toFixed(1)}, engine tg ${e.timings.tokensPerSecond.toFixed(1)}`;
  }
  await alone.dispose();
  await engine.unload();
  console.log(`1. ${path.basename(model)}, 1 thread, ${ROUNDS} interleaved rounds (last: ${raw})`);
  console.log(`   generation vs llama-bench: node-llama-cpp alone ${median(ratios.aloneTg).toFixed(2)}x (${spread(ratios.aloneTg)}), engine plain ${median(ratios.engineTg).toFixed(2)}x (${spread(ratios.engineTg)})`);
  console.log(`   prompt vs llama-bench: node-llama-cpp alone ${median(ratios.alonePp).toFixed(2)}x (${spread(ratios.alonePp)})`);

  const tiny = path.resolve(__dirname, "../../shared/models/tinycoder/tinycoder.gguf");
  if (!existsSync(tiny)) {
    console.log(`2. skipped: ${tiny} is absent`);
    return;
  }
  const server = await startServer(bin, tiny);
  const fimEngine = new SoupEngine();
  try {
    await fimEngine.load({ modelPath: tiny, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "policies", id: "peer", version: "1", policies: [] } }, () => {});
    const lines = Array.from({ length: 24 }, (_, i) => `  const v${i} = items[${i}];`);
    const prefix = `function build(items) {\n${lines.slice(0, 12).join("\n")}\n  `;
    const suffix = `\n${lines.slice(12).join("\n")}\n  return [v0, v1, v2];\n}\n`;
    const typed = "const total = v1 + v2 + v3;".slice(0, Number(v.keys));
    const ratio: number[] = [];
    const serverMs: number[] = [];
    const engineMs: number[] = [];
    const serverTokens: number[] = [];
    const engineTokens: number[] = [];
    for (let i = 0; i <= typed.length; i++) {
      const p = prefix + typed.slice(0, i);
      let t0 = performance.now();
      const res = await fetch(`${server.url}/infill`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ input_prefix: p, input_suffix: suffix, n_predict: 16, temperature: 0, cache_prompt: true, samplers: ["top_k"], top_k: 1 }),
      });
      if (!res.ok) throw new Error(`llama-server /infill: HTTP ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { timings?: { prompt_n?: number } };
      const s = performance.now() - t0;
      t0 = performance.now();
      const e = await fimEngine.generate({ prompt: { kind: "fim", prefix: p, suffix }, mode: "parameter", weights: {}, maxTokens: 16, temperature: 0 }, signal, () => {});
      const m = performance.now() - t0;
      if (i === 0) continue;
      serverMs.push(s);
      engineMs.push(m);
      ratio.push(m / s);
      serverTokens.push(body.timings?.prompt_n ?? NaN);
      engineTokens.push(e.timings.promptTokensEvaluated);
    }
    console.log(`2. tinycoder FIM, ${typed.length} keystrokes, 16 greedy tokens, prompt cache on both sides`);
    console.log(`   p50 per keystroke: llama-server /infill ${median(serverMs).toFixed(1)} ms, engine ${median(engineMs).toFixed(1)} ms = ${median(ratio).toFixed(2)}x (${spread(ratio)})`);
    console.log(`   prompt tokens evaluated per keystroke: llama-server ${median(serverTokens)}, engine ${median(engineTokens)}`);
  } finally {
    server.stop();
    await fimEngine.unload();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
