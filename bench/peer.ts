// The peer comparison: `npx tsx bench/peer.ts [--rounds 5]`, whenever llama.cpp's tools are built
// (`bash scripts/llama-tools.sh --path`); without them it says so and exits 0. Same model files, one thread
// everywhere, rounds interleaved, medians of per-round ratios (the machine is shared: say the spread too).
//  1. Generation and prompt speed on the generated ~52M benchmark model: llama-bench vs node-llama-cpp alone vs
//     the plain engine.
//  2. FIM completion per keystroke on the same model and on tinycoder (../shared/models): llama-server /infill
//     (prompt cache on) vs the plain engine, the same windows and keystrokes; prompt tokens each side evaluated.
import { execFileSync, fork, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_FIM_LIMITS, fimWindow } from "../src/core/completion/fim";
import { BENCHMARK_MODEL, syntheticModelCache } from "../src/core/gguf/synthetic";
import { SoupEngine } from "../src/engine/soupEngine";

const v = parseArgs({ options: { rounds: { type: "string", default: "5" }, keys: { type: "string", default: "12" }, "source-build": { type: "string" } } }).values;
const ROUNDS = Number(v.rounds);
const KEYS = Number(v.keys);
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

/** node-llama-cpp alone in a child process (bench/nlcRounds.ts): `entry` is the package or a copy's dist/index.js. */
async function nlcAlone(entry: string, modelPath: string) {
  const child = fork(path.resolve(__dirname, "nlcRounds.ts"), [entry, modelPath, String(PROMPT), String(GEN)], { execArgv: ["--import", "tsx"] });
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      child.once("message", (m) => resolve(m as Record<string, unknown>));
      child.once("exit", (code) => reject(new Error(`node-llama-cpp child (${entry}) exited with ${code}`)));
    });
  const ready = await next();
  return {
    buildType: String(ready.ready),
    async round(): Promise<{ tg: number; pp: number }> {
      const answer = next();
      child.send("round");
      return (await answer) as { tg: number; pp: number };
    },
    dispose: () => child.send("stop"),
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
  const alone = await nlcAlone("node-llama-cpp", model);
  // A copy of node-llama-cpp holding its own source build (`node-llama-cpp source build` run in the copy), so
  // that the shared node_modules keeps the prebuilt binary.
  const source = v["source-build"] ? await nlcAlone(path.resolve(v["source-build"], "dist/index.js"), model) : null;
  const engine = new SoupEngine();
  await engine.load({ modelPath: model, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "policies", id: "peer", version: "1", policies: [] } }, () => {});
  const signal = new AbortController().signal;
  const ratios = { aloneTg: [] as number[], alonePp: [] as number[], engineTg: [] as number[], benchTg: [] as number[], sourceTg: [] as number[], sourcePp: [] as number[] };
  let raw = "";
  for (let r = 0; r < ROUNDS; r++) {
    const b = llamaBench(bin, model);
    const a = await alone.round();
    const sb = await source?.round();
    const e = await engine.generate({ prompt: { kind: "raw", text: `round ${r} ${Math.random()}` }, mode: "parameter", weights: {}, maxTokens: GEN, temperature: 0 }, signal, () => {});
    ratios.benchTg.push(b.tg);
    ratios.aloneTg.push(a.tg / b.tg);
    ratios.alonePp.push(a.pp / b.pp);
    ratios.engineTg.push(e.timings.tokensPerSecond / b.tg);
    if (sb) {
      ratios.sourceTg.push(sb.tg / b.tg);
      ratios.sourcePp.push(sb.pp / b.pp);
    }
    raw = `llama-bench tg ${b.tg.toFixed(1)} pp ${b.pp.toFixed(1)}, node-llama-cpp tg ${a.tg.toFixed(1)} pp ${a.pp.toFixed(1)}, engine tg ${e.timings.tokensPerSecond.toFixed(1)}`;
  }
  alone.dispose();
  source?.dispose();
  await engine.unload();
  console.log(`1. ${path.basename(model)}, 1 thread, ${ROUNDS} interleaved rounds (last: ${raw})`);
  console.log(`   generation vs llama-bench: node-llama-cpp alone (${alone.buildType}) ${median(ratios.aloneTg).toFixed(2)}x (${spread(ratios.aloneTg)}), engine plain ${median(ratios.engineTg).toFixed(2)}x (${spread(ratios.engineTg)})`);
  console.log(`   prompt vs llama-bench: node-llama-cpp alone ${median(ratios.alonePp).toFixed(2)}x (${spread(ratios.alonePp)})`);
  if (source) {
    console.log(`   node-llama-cpp source build (${source.buildType}, ${v["source-build"]}): generation ${median(ratios.sourceTg).toFixed(2)}x (${spread(ratios.sourceTg)}), prompt ${median(ratios.sourcePp).toFixed(2)}x (${spread(ratios.sourcePp)}) vs llama-bench`);
  }

  await fimPeer(bin, model, "~52M benchmark model", Math.min(KEYS, 6));
  const tiny = path.resolve(__dirname, "../../shared/models/tinycoder/tinycoder.gguf");
  if (!existsSync(tiny)) console.log(`2. skipped for tinycoder: ${tiny} is absent`);
  else await fimPeer(bin, tiny, "tinycoder", KEYS);
}

/**
 * FIM per keystroke, the engine against llama-server's /infill on the same windows: a 24-line function, a line typed
 * in its middle, windows by fimWindow with the product's limits (256 lines above, 64 below: the whole file here).
 * Two layouts, both sides given the same strings: llama.vscode's request (input_prefix = the lines above,
 * prompt = the cursor line up to the cursor, input_suffix = the rest; the engine gets the same as prefix, middle
 * and suffix, which is what the completion pipeline sends) and, for reference, the cursor line at the end of the
 * prefix on both sides (the pipeline's layout before). Greedy, 16 tokens, prompt cache on, rounds interleaved.
 */
async function fimPeer(bin: string, modelPath: string, label: string, keys: number): Promise<void> {
  const server = await startServer(bin, modelPath);
  const engine = new SoupEngine();
  const signal = new AbortController().signal;
  try {
    await engine.load({ modelPath, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "policies", id: "peer", version: "1", policies: [] } }, () => {});
    const body = Array.from({ length: 24 }, (_, i) => `  const v${i} = items[${i}];`);
    const typed = "const total = v1 + v2 + v3;".slice(0, keys);
    const layouts = ["llama.vscode's request (cursor line after the middle token)", "cursor line at the end of the prefix"];
    const rows = layouts.map(() => ({ serverMs: [] as number[], engineMs: [] as number[], ratio: [] as number[], serverTokens: [] as number[], engineTokens: [] as number[] }));
    for (let i = 0; i <= typed.length; i++) {
      const lines = ["function build(items) {", ...body.slice(0, 12), `  ${typed.slice(0, i)}`, ...body.slice(12), "  return [v0, v1, v2];", "}", ""];
      const win = fimWindow(lines, { line: 13, character: 2 + i }, DEFAULT_FIM_LIMITS);
      for (const [j, row] of rows.entries()) {
        const split = j === 0;
        let t0 = performance.now();
        const res = await fetch(`${server.url}/infill`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            input_prefix: split ? win.above : win.prefix,
            prompt: split ? win.linePrefix : "",
            input_suffix: win.suffix,
            input_extra: [],
            n_predict: 16,
            temperature: 0,
            cache_prompt: true,
            samplers: ["top_k"],
            top_k: 1,
          }),
        });
        if (!res.ok) throw new Error(`llama-server /infill: HTTP ${res.status} ${await res.text()}`);
        const answer = (await res.json()) as { timings?: { prompt_n?: number } };
        const s = performance.now() - t0;
        t0 = performance.now();
        const prompt = split ? { kind: "fim" as const, prefix: win.above, middle: win.linePrefix, suffix: win.suffix } : { kind: "fim" as const, prefix: win.prefix, suffix: win.suffix };
        const e = await engine.generate({ prompt, mode: "parameter", weights: {}, maxTokens: 16, temperature: 0 }, signal, () => {});
        const m = performance.now() - t0;
        // The first request of a layout fills its caches: keystrokes are the ones after it.
        if (i === 0) continue;
        row.serverMs.push(s);
        row.engineMs.push(m);
        row.ratio.push(m / s);
        row.serverTokens.push(answer.timings?.prompt_n ?? NaN);
        row.engineTokens.push(e.timings.promptTokensEvaluated);
      }
    }
    console.log(`2. ${label} FIM, ${typed.length} keystrokes, 16 greedy tokens, prompt cache on both sides`);
    for (const [j, row] of rows.entries()) {
      console.log(`   ${layouts[j]}: p50 per keystroke llama-server /infill ${median(row.serverMs).toFixed(1)} ms, engine ${median(row.engineMs).toFixed(1)} ms = ${median(row.ratio).toFixed(2)}x (${spread(row.ratio)}); prompt tokens evaluated per keystroke: llama-server ${median(row.serverTokens)}, engine ${median(row.engineTokens)}`);
    }
  } finally {
    server.stop();
    await engine.unload();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
