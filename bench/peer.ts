// The peer comparison: `npx tsx bench/peer.ts [--rounds 5] [--keys 12] [--model bench|qwen|FILE] [--source-build DIR] [--no-fim]`, whenever
// llama.cpp's tools are built (`bash scripts/llama-tools.sh --path`); without them it says so and exits 0. Same
// model files, one thread everywhere, rounds interleaved, medians of per-round ratios (the machine is shared: say
// the spread too).
//  1. Generation and prompt speed on the generated ~52M benchmark model (or --model: `qwen` for the generated
//     model of Qwen2.5-Coder-0.5B's shape, Q8_0, or a file): llama-server's /completion and llama-bench vs
//     node-llama-cpp alone vs the plain engine, in wall-clock tokens/s and per CPU second of each process (llama-server
//     read from /proc, so a busy machine moves the ratio less); with --source-build DIR (a copy of the node-llama-cpp package in which `node-llama-cpp
//     source build` ran, so the shared node_modules keeps the prebuilt binary), that build too, each build in a
//     child process of its own.
//  2. FIM completion per keystroke on the same model and on tinycoder (../shared/models): llama-server /infill
//     (prompt cache on) vs the plain engine, the same windows and keystrokes; prompt tokens each side evaluated.
import { execFileSync, fork, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_FIM_LIMITS, fimWindow } from "../src/core/completion/fim";
import { BENCHMARK_MODEL, syntheticAdapterCache, syntheticModelCache } from "../src/core/gguf/synthetic";
import type { PolicySpec } from "../src/engine/protocol";
import { SoupEngine } from "../src/engine/soupEngine";
import { qwenShapedModel } from "./qwenShape";

const v = parseArgs({
  options: { rounds: { type: "string", default: "5" }, keys: { type: "string", default: "12" }, model: { type: "string", default: "bench" }, "source-build": { type: "string" }, "no-fim": { type: "boolean" } },
}).values;
const ROUNDS = Number(v.rounds);
const KEYS = Number(v.keys);
const GEN = 48;
const PROMPT = 256;
const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
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
  let fail: ((e: Error) => void) | null = null;
  child.on("exit", (code) => fail?.(new Error(`node-llama-cpp child (${entry}) exited with ${code}`)));
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      fail = reject;
      child.once("message", (m) => resolve(m as Record<string, unknown>));
    });
  const ready = await next();
  return {
    buildType: String(ready.ready),
    async round(): Promise<{ tg: number; pp: number; tgCpu: number; ppCpu: number }> {
      const answer = next();
      child.send("round");
      return (await answer) as { tg: number; pp: number; tgCpu: number; ppCpu: number };
    },
    dispose: () => child.send("stop"),
  };
}

interface Server {
  url: string;
  /** CPU seconds the server process has used so far (user + system, from /proc). */
  cpuSeconds: () => number;
  stop: () => void;
}

async function startServer(bin: string, model: string): Promise<Server> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(path.join(bin, "llama-server"), ["-m", model, "--threads", "1", "-c", "1024", "--port", String(port), "-np", "1"], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  const cpuSeconds = () => {
    // Fields 14 and 15 of /proc/PID/stat (utime, stime) in clock ticks, counted after the command's closing paren.
    const fields = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  };
  for (let i = 0; i < 120; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) return { url, cpuSeconds, stop: () => child.kill() };
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
  const model =
    v.model === "bench"
      ? await syntheticModelCache(path.join(os.tmpdir(), "spectral-soup-bench-models"), BENCHMARK_MODEL)
      : v.model === "qwen"
        ? await qwenShapedModel((line) => console.log(line))
        : path.resolve(v.model!);
  const server = await startServer(bin, model);
  const alone = await nlcAlone("node-llama-cpp", model);
  // A copy of node-llama-cpp holding its own source build (`node-llama-cpp source build` run in the copy), so
  // that the shared node_modules keeps the prebuilt binary.
  const source = v["source-build"] ? await nlcAlone(path.resolve(v["source-build"], "dist/index.js"), model) : null;
  const engine = new SoupEngine();
  await engine.load({ modelPath: model, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "policies", id: "peer", version: "1", policies: [] } }, () => {});
  const signal = new AbortController().signal;
  const ratios = { aloneTg: [] as number[], alonePp: [] as number[], engineTg: [] as number[], benchTg: [] as number[], sourceTg: [] as number[], sourcePp: [] as number[], sourceVsPrebuiltTg: [] as number[], sourceVsPrebuiltPp: [] as number[], sourceVsPrebuiltTgCpu: [] as number[], sourceVsPrebuiltPpCpu: [] as number[], engineVsAlone: [] as number[], engineVsAloneCpu: [] as number[], serverTg: [] as number[], aloneVsServer: [] as number[], engineVsServer: [] as number[], aloneVsServerCpu: [] as number[], engineVsServerCpu: [] as number[] };
  let raw = "";
  for (let r = 0; r < ROUNDS; r++) {
    const b = llamaBench(bin, model);
    // The two builds take turns going first, so neither always meets the other's leftovers.
    const early = r % 2 ? await source?.round() : undefined;
    const a = await alone.round();
    const sb = early ?? (await source?.round());
    const sv = await serverGeneration(server, r);
    const c0 = process.cpuUsage();
    const e = await engine.generate({ prompt: { kind: "raw", text: `round ${r} ${Math.random()}` }, mode: "parameter", weights: {}, maxTokens: GEN, temperature: 0 }, signal, () => {});
    const c = process.cpuUsage(c0);
    // Per CPU second of this process, the short prompt included (a few tokens): robust to the machine's load.
    const engineTgCpu = e.tokens.length / ((c.user + c.system) / 1e6);
    ratios.engineVsAloneCpu.push(engineTgCpu / a.tgCpu);
    ratios.serverTg.push(sv.tg);
    ratios.aloneVsServer.push(a.tg / sv.tg);
    ratios.engineVsServer.push(e.timings.tokensPerSecond / sv.tg);
    ratios.aloneVsServerCpu.push(a.tgCpu / sv.tgCpu);
    ratios.engineVsServerCpu.push(engineTgCpu / sv.tgCpu);
    ratios.benchTg.push(b.tg);
    ratios.aloneTg.push(a.tg / b.tg);
    ratios.alonePp.push(a.pp / b.pp);
    ratios.engineTg.push(e.timings.tokensPerSecond / b.tg);
    ratios.engineVsAlone.push(e.timings.tokensPerSecond / a.tg);
    if (sb) {
      ratios.sourceTg.push(sb.tg / b.tg);
      ratios.sourcePp.push(sb.pp / b.pp);
      ratios.sourceVsPrebuiltTg.push(sb.tg / a.tg);
      ratios.sourceVsPrebuiltPp.push(sb.pp / a.pp);
      ratios.sourceVsPrebuiltTgCpu.push(sb.tgCpu / a.tgCpu);
      ratios.sourceVsPrebuiltPpCpu.push(sb.ppCpu / a.ppCpu);
    }
    raw = `llama-server tg ${sv.tg.toFixed(1)}, llama-bench tg ${b.tg.toFixed(1)} pp ${b.pp.toFixed(1)}, node-llama-cpp tg ${a.tg.toFixed(1)} pp ${a.pp.toFixed(1)}, engine tg ${e.timings.tokensPerSecond.toFixed(1)}${sb ? `, source build tg ${sb.tg.toFixed(1)} pp ${sb.pp.toFixed(1)}` : ""}`;
  }
  alone.dispose();
  source?.dispose();
  server.stop();
  await engine.unload();
  console.log(`1. ${path.basename(model)}, 1 thread, ${ROUNDS} interleaved rounds (last: ${raw})`);
  console.log(`   generation vs llama-server /completion: node-llama-cpp alone ${median(ratios.aloneVsServer).toFixed(2)}x (${spread(ratios.aloneVsServer)}), engine plain ${median(ratios.engineVsServer).toFixed(2)}x (${spread(ratios.engineVsServer)})`);
  console.log(`   the same per CPU second of each process: node-llama-cpp alone ${median(ratios.aloneVsServerCpu).toFixed(2)}x (${spread(ratios.aloneVsServerCpu)}), engine plain ${median(ratios.engineVsServerCpu).toFixed(2)}x (${spread(ratios.engineVsServerCpu)})`);
  console.log(`   generation vs llama-bench: node-llama-cpp alone (${alone.buildType}) ${median(ratios.aloneTg).toFixed(2)}x (${spread(ratios.aloneTg)}), engine plain ${median(ratios.engineTg).toFixed(2)}x (${spread(ratios.engineTg)})`);
  console.log(`   prompt vs llama-bench: node-llama-cpp alone ${median(ratios.alonePp).toFixed(2)}x (${spread(ratios.alonePp)})`);
  console.log(`   generation, engine plain / node-llama-cpp alone (prebuilt), same round: ${median(ratios.engineVsAlone).toFixed(2)}x (${spread(ratios.engineVsAlone)}), per CPU second ${median(ratios.engineVsAloneCpu).toFixed(2)}x (${spread(ratios.engineVsAloneCpu)})`);
  if (source) {
    console.log(`   node-llama-cpp source build (${source.buildType}, ${v["source-build"]}): generation ${median(ratios.sourceTg).toFixed(2)}x (${spread(ratios.sourceTg)}), prompt ${median(ratios.sourcePp).toFixed(2)}x (${spread(ratios.sourcePp)}) vs llama-bench`);
    console.log(`   source build / prebuilt, same round: generation ${median(ratios.sourceVsPrebuiltTg).toFixed(2)}x (${spread(ratios.sourceVsPrebuiltTg)}), prompt ${median(ratios.sourceVsPrebuiltPp).toFixed(2)}x (${spread(ratios.sourceVsPrebuiltPp)})`);
    console.log(`   the same per CPU second of each child: generation ${median(ratios.sourceVsPrebuiltTgCpu).toFixed(2)}x (${spread(ratios.sourceVsPrebuiltTgCpu)}), prompt ${median(ratios.sourceVsPrebuiltPpCpu).toFixed(2)}x (${spread(ratios.sourceVsPrebuiltPpCpu)})`);
  }
  if (v["no-fim"]) return;

  // Eight rank-16 head adapters on the benchmark model (the shape background distillation writes); none for a file.
  const heads: PolicySpec[] =
    v.model === "bench"
      ? await Promise.all(
          Array.from({ length: 8 }, async (_, k) => ({
            id: `h${k}`,
            kind: "adapter" as const,
            path: await syntheticAdapterCache(path.join(os.tmpdir(), "spectral-soup-bench-models"), { seed: 100 + k, base: BENCHMARK_MODEL, target: "head", rank: 16 }),
          })),
        )
      : [];
  await fimPeer(bin, model, v.model === "bench" ? "~52M benchmark model" : path.basename(model), Math.min(KEYS, 6), heads);
  const dir = path.resolve(__dirname, "../../shared/models/tinycoder");
  const tiny = path.join(dir, "tinycoder.gguf");
  if (!existsSync(tiny)) console.log(`2. skipped for tinycoder: ${tiny} is absent`);
  else {
    // Its four trained style adapters.
    const styles = ["comments", "single-quotes", "four-spaces", "no-semicolons"].map((id) => ({ id, kind: "adapter" as const, path: path.join(dir, `tinycoder-${id}.gguf`) }));
    await fimPeer(bin, tiny, "tinycoder", KEYS, styles);
  }
}

/**
 * One greedy generation of GEN tokens on llama-server: its own decode rate (wall) and tokens per CPU second it used.
 * The bundled server parses every output as content and answers HTTP 500 on some random-weight outputs ("does not
 * match the expected Content-only format"): such a round is asked again with another prompt.
 */
async function serverGeneration(server: Server, round: number): Promise<{ tg: number; tgCpu: number }> {
  let failure = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const c0 = server.cpuSeconds();
    const res = await fetch(`${server.url}/completion`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: `round ${round}.${attempt}`, n_predict: GEN, temperature: 0, samplers: ["top_k"], top_k: 1, ignore_eos: true, cache_prompt: false }),
    });
    if (!res.ok) {
      failure = `HTTP ${res.status} ${await res.text()}`;
      continue;
    }
    const answer = (await res.json()) as { timings: { predicted_n: number; predicted_per_second: number } };
    return { tg: answer.timings.predicted_per_second, tgCpu: answer.timings.predicted_n / (server.cpuSeconds() - c0) };
  }
  throw new Error(`llama-server /completion failed 5 times: ${failure}`);
}

/**
 * FIM per keystroke, the engine against llama-server's /infill on the same windows: a 24-line function, a line typed
 * in its middle, windows by fimWindow with the product's limits (256 lines above, 64 below: the whole file here).
 * Two layouts, both sides given the same strings: llama.vscode's request (input_prefix = the lines above,
 * prompt = the cursor line up to the cursor, input_suffix = the rest; the engine gets the same as prefix, middle
 * and suffix, which is what the completion pipeline sends) and, for reference, the cursor line at the end of the
 * prefix on both sides (the pipeline's layout before). Greedy, 16 tokens, prompt cache on, one server and one
 * engine per layout, keystrokes interleaved.
 */
async function fimPeer(bin: string, modelPath: string, label: string, keys: number, adapters: PolicySpec[]): Promise<void> {
  // One server and one engine per layout: each keeps its own prompt cache.
  const servers = [await startServer(bin, modelPath), await startServer(bin, modelPath)];
  const engines = [new SoupEngine(), new SoupEngine()];
  // A personalized engine: the adapters souped in the parameters at fixed weights (the souped adapter is written
  // after the first request), given llama.vscode's request like the first plain engine.
  const personalized = new SoupEngine();
  const weights = Object.fromEntries(adapters.map((a, k) => [a.id, 0.3 + 0.1 * k]));
  const personalizedMs: number[] = [];
  const personalizedRatio: number[] = [];
  const signal = new AbortController().signal;
  try {
    for (const engine of engines) {
      await engine.load({ modelPath, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "policies", id: "peer", version: "1", policies: [] } }, () => {});
    }
    await personalized.load({ modelPath, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "policies", id: "peer-adapters", version: "1", policies: adapters } }, () => {});
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
        const res = await fetch(`${servers[j].url}/infill`, {
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
        const e = await engines[j].generate({ prompt, mode: "parameter", weights: {}, maxTokens: 16, temperature: 0 }, signal, () => {});
        const m = performance.now() - t0;
        let personalizedM = 0;
        const withAdapters = split && adapters.length > 0;
        if (withAdapters) {
          t0 = performance.now();
          await personalized.generate({ prompt, mode: "parameter", weights, maxTokens: 16, temperature: 0 }, signal, () => {});
          personalizedM = performance.now() - t0;
          // The souped adapter for these weights is written after the first request; measure the steady state.
          if (i === 0) await personalized.settled();
        }
        // The first request of a layout fills its caches: keystrokes are the ones after it.
        if (i === 0) continue;
        if (withAdapters) {
          personalizedMs.push(personalizedM);
          personalizedRatio.push(personalizedM / s);
        }
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
    if (adapters.length) console.log(`   personalized, ${adapters.length} adapters souped in the parameters, llama.vscode's request: p50 ${median(personalizedMs).toFixed(1)} ms = ${median(personalizedRatio).toFixed(2)}x llama-server's plain /infill (${spread(personalizedRatio)})`);
  } finally {
    for (const server of servers) server.stop();
    for (const engine of [...engines, personalized]) await engine.unload();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
