// Memory benchmark: `npx tsx bench/memory.ts [--k 8] [--context 2048] [--threads 1] [--only a,b] [--no-stages]`. Each configuration runs in
// a process of its own (RSS is per process), loads the generated ~52M benchmark model, serves a few requests of
// its mode so that whatever it creates on first use exists, and reports its RSS; ratios are against the plain
// engine. RSS depends little on machine load, unlike timings. First, where a plain process's RSS goes, stage by
// stage, with node-llama-cpp alone.
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { Token } from "node-llama-cpp";
import { BENCHMARK_MODEL, syntheticAdapterCache, syntheticModelCache } from "../src/core/gguf/synthetic";
import type { GenerateParams, PolicySpec, PromptSpec } from "../src/engine/protocol";
import { SoupEngine } from "../src/engine/soupEngine";

const CONFIGS = ["plain", "parameter-head", "parameter-attn", "explicit-prompted", "rerank-prompted"] as const;
type Config = (typeof CONFIGS)[number];

const v = parseArgs({
  options: {
    child: { type: "string" },
    k: { type: "string", default: "8" },
    context: { type: "string", default: "2048" },
    threads: { type: "string", default: "1" },
    cache: { type: "string", default: path.join(os.tmpdir(), "spectral-soup-bench-models") },
    /** Comma-separated configurations to run (plain always runs, as the baseline); default: all. */
    only: { type: "string" },
    /** Skip the node-llama-cpp stage breakdown. */
    "no-stages": { type: "boolean" },
  },
}).values;
const K = Number(v.k);
const contextSize = Number(v.context);
const threads = Number(v.threads);
const mb = (b: number) => b / 2 ** 20;
const rss = () => mb(process.memoryUsage().rss);

const fim: PromptSpec = {
  kind: "fim",
  prefix: Array.from({ length: 30 }, (_, i) => `const value${i} = compute(${i});`).join("\n") + "\nfunction parse(input) {\n  ",
  suffix: "\n}\n" + Array.from({ length: 10 }, (_, i) => `export const x${i} = ${i};`).join("\n"),
};

async function policies(config: Config): Promise<PolicySpec[]> {
  if (config === "plain") return [];
  if (config.endsWith("prompted")) {
    return Array.from({ length: K }, (_, k) => ({ id: `p${k}`, kind: "prompted" as const, chat: `Write style ${k} code.`, fim: `// Style ${k}.` }));
  }
  const target = config === "parameter-head" ? "head" : "attn_ffn";
  const files = await Promise.all(Array.from({ length: K }, (_, k) => syntheticAdapterCache(v.cache!, { seed: 100 + k, base: BENCHMARK_MODEL, target, rank: 16 })));
  return files.map((p, k) => ({ id: `a${k}`, kind: "adapter" as const, path: p }));
}

/** node-llama-cpp alone, stage by stage: where a plain process's memory goes. */
async function stages(modelPath: string): Promise<Record<string, number>> {
  const out: Record<string, number> = { "node + tsx": rss() };
  const nlc = await import("node-llama-cpp");
  out["import node-llama-cpp"] = rss();
  const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: nlc.LlamaLogLevel.error });
  out["getLlama (native backend)"] = rss();
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  out["loadModel (mmap, untouched)"] = rss();
  const ctx = await model.createContext({ contextSize, threads });
  out[`createContext (${contextSize} cells)`] = rss();
  const seq = ctx.getSequence();
  const tokens = model.tokenize(fim.kind === "fim" ? fim.prefix : "");
  for await (const t of seq.evaluate(tokens as Token[], { temperature: 0 })) {
    void t;
    break;
  }
  out["first evaluation (weights paged in)"] = rss();
  out.modelFileMB = mb(model.size);
  out.kvStateMB = mb(ctx.stateSize);
  await model.dispose();
  return out;
}

async function child(config: Config | "stages"): Promise<void> {
  const modelPath = await syntheticModelCache(v.cache!, BENCHMARK_MODEL);
  if (config === "stages") {
    console.log(JSON.stringify(await stages(modelPath)));
    return;
  }
  const basis = await policies(config);
  const engine = new SoupEngine();
  const signal = new AbortController().signal;
  await engine.load({ modelPath, gpu: "off", gpuLayers: 0, threads, contextSize, basis: { kind: "policies", id: "bench", version: "1", policies: basis } }, () => {});
  const weights = Object.fromEntries(basis.map((p, k) => [p.id, 0.2 + 0.1 * k]));
  const mode: GenerateParams["mode"] = config === "plain" ? "parameter" : config.startsWith("parameter") ? "parameter" : config === "explicit-prompted" ? "explicit" : "rerank";
  // Two keystrokes' worth of requests with features (what the extension asks for), then a score.
  for (let i = 0; i < 2; i++) {
    const prompt: PromptSpec = fim.kind === "fim" ? { ...fim, prefix: fim.prefix + "x".repeat(i) } : fim;
    const r = await engine.generate({ prompt, mode, weights, maxTokens: 16, temperature: 0, withFeatures: true }, signal, () => {});
    if (r.tokens.length) await engine.score({ prompt, response: r.text, responseTokens: r.tokens }, signal);
    await engine.settled();
  }
  const st = await engine.status();
  console.log(JSON.stringify({ rssMB: rss(), contexts: st.memory.contexts, modelMB: mb(st.memory.modelBytes) }));
  await engine.unload();
}

function run(config: string): Record<string, number> {
  const args = ["--import", "tsx", __filename, "--child", config, "--k", String(K), "--context", String(contextSize), "--threads", String(threads), "--cache", v.cache!];
  const text = execFileSync(process.execPath, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(text.trim().split("\n").pop()!) as Record<string, number>;
}

async function main(): Promise<void> {
  if (v.child) return child(v.child as Config | "stages");
  await syntheticModelCache(v.cache!, BENCHMARK_MODEL);
  const f = (x: number) => x.toFixed(1);
  console.log(`benchmark model ${BENCHMARK_MODEL.nLayer} layers x ${BENCHMARK_MODEL.nEmbd}, vocab ${BENCHMARK_MODEL.vocabSize}, ${BENCHMARK_MODEL.weightType}; context ${contextSize}; K = ${K}`);
  if (!v["no-stages"]) {
    const s = run("stages");
    let prev = 0;
    console.log("plain process, node-llama-cpp alone (RSS MB, cumulative / step):");
    for (const [name, value] of Object.entries(s)) {
      if (name === "modelFileMB" || name === "kvStateMB") continue;
      console.log(`  ${name.padEnd(40)} ${f(value).padStart(7)}  +${f(value - prev)}`);
      prev = value;
    }
    console.log(`  (model file ${f(s.modelFileMB)} MB)`);
  }
  const chosen = CONFIGS.filter((c) => c === "plain" || !v.only || v.only.split(",").includes(c));
  const results = Object.fromEntries(chosen.map((c) => [c, run(c)]));
  const plain = results.plain.rssMB;
  console.log("engine, after two FIM requests with features and a score (RSS MB, ratio to plain):");
  for (const c of chosen) {
    const r = results[c];
    console.log(`  ${c.padEnd(20)} ${f(r.rssMB).padStart(7)}  ${(r.rssMB / plain).toFixed(2)}x  (${r.contexts} contexts)`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
