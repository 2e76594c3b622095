// Scaling tables on the generated ~52M benchmark model (vocab 32k), CPU, 1 thread: `npx tsx bench/scaling.ts
// [--tokens 32] [--rounds 5] [--ks 1,2,4,8,16,32] [--explicit-ks 1,2,4,8,16]`. Ratios are medians of per-round pairs
// measured back to back, each against the mean of the baseline runs just before and after it (the machine is
// shared: say its load).
//  1. Parameter soup vs plain for K rank-16 adapters, head-only (output.weight) and attention/FFN (attn_q, attn_v,
//     ffn_down of every layer): the first request with new weights runs the K adapters at their scales ("K
//     adapters"), later ones the souped adapter written for those weights in the background ("souped").
//  2. Explicit soup over K prompted experts (K+1 sequences in one context, top-64 distributions mixed in JS) vs
//     the batched-decode ceiling (K+1 sequences decoded in one batch, native sampling, no distributions).
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { batchedDecodeCeiling } from "../src/cli/benchEngine";
import { BENCHMARK_MODEL, syntheticAdapterCache, syntheticModelCache } from "../src/core/gguf/synthetic";
import { mulberry32 } from "../src/core/random";
import type { GenerateParams, PolicySpec } from "../src/engine/protocol";
import { SoupEngine } from "../src/engine/soupEngine";

const v = parseArgs({
  options: {
    tokens: { type: "string", default: "32" },
    rounds: { type: "string", default: "5" },
    ks: { type: "string", default: "1,2,4,8,16,32" },
    "explicit-ks": { type: "string", default: "1,2,4,8,16" },
  },
}).values;
const TOKENS = Number(v.tokens);
const ROUNDS = Number(v.rounds);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cache = path.join(os.tmpdir(), "spectral-soup-bench-models");
const signal = new AbortController().signal;
const prompt = { kind: "raw" as const, text: "function parse(input) {\n  const result = [];\n  for (const line of input.split('\\n')) {" };

async function engine(modelPath: string, policies: PolicySpec[]): Promise<SoupEngine> {
  const e = new SoupEngine();
  await e.load({ modelPath, gpu: "off", gpuLayers: 0, threads: 1, contextSize: 1024, basis: { kind: "policies", id: "scaling", version: "1", policies } }, () => {});
  return e;
}

async function tps(e: SoupEngine, p: Partial<GenerateParams>): Promise<number> {
  const r = await e.generate({ prompt, mode: "parameter", weights: {}, maxTokens: TOKENS, temperature: 0, ...p } as GenerateParams, signal, () => {});
  e.afterRequest();
  return r.timings.tokensPerSecond;
}

async function main(): Promise<void> {
  const modelPath = await syntheticModelCache(cache, BENCHMARK_MODEL);
  const ks = v.ks.split(",").map(Number);
  const plain = await engine(modelPath, []);
  await tps(plain, {});
  const table1 = new Map<number, string[]>();
  for (const target of ["head", "attn_ffn"] as const) {
    const files = await Promise.all(Array.from({ length: Math.max(...ks) }, (_, k) => syntheticAdapterCache(cache, { seed: 300 + k, base: BENCHMARK_MODEL, target, rank: 16 })));
    for (const K of ks) {
      const adapters: PolicySpec[] = files.slice(0, K).map((f, k) => ({ id: `a${k}`, kind: "adapter", path: f }));
      const souped = await engine(modelPath, adapters);
      const before: number[] = [];
      const after: number[] = [];
      try {
        const random = mulberry32(K * 7 + (target === "head" ? 0 : 1));
        for (let r = 0; r < ROUNDS; r++) {
          // New weights each round, so each round has a first request before its souped adapter exists.
          const weights = Object.fromEntries(adapters.map((a) => [a.id, 0.2 + 0.8 * random()]));
          // Each souped figure against the mean of the plain runs just before and after it.
          const p0 = await tps(plain, {});
          const b = await tps(souped, { weights });
          const p1 = await tps(plain, {});
          await souped.settled();
          const a = await tps(souped, { weights });
          const p2 = await tps(plain, {});
          before.push((2 * b) / (p0 + p1));
          after.push((2 * a) / (p1 + p2));
        }
      } finally {
        await souped.unload();
      }
      const row = table1.get(K) ?? [];
      row.push(`${median(before).toFixed(2)}x`, `${median(after).toFixed(2)}x`);
      table1.set(K, row);
      console.error(`${target} K=${K}: K adapters ${median(before).toFixed(2)}x, souped ${median(after).toFixed(2)}x`);
    }
  }
  const plainTps = await tps(plain, {});
  await plain.unload();

  const table2: string[] = [];
  for (const K of v["explicit-ks"].split(",").map(Number)) {
    const prompted: PolicySpec[] = Array.from({ length: K }, (_, k) => ({ id: `p${k}`, kind: "prompted", chat: `Write style ${k} code.`, fim: `// Style ${k}.` }));
    const explicit = await engine(modelPath, prompted);
    const weights = Object.fromEntries(prompted.map((p, k) => [p.id, 0.3 + (0.5 * k) / K]));
    const ratio: number[] = [];
    let last = { e: 0, c: 0 };
    try {
      await tps(explicit, { mode: "explicit", weights, maxTokens: 2 });
      for (let r = 0; r < ROUNDS; r++) {
        const c0 = await batchedDecodeCeiling(modelPath, K + 1, 1, "off", TOKENS);
        const e = await tps(explicit, { mode: "explicit", weights });
        const c1 = await batchedDecodeCeiling(modelPath, K + 1, 1, "off", TOKENS);
        ratio.push((2 * e) / (c0 + c1));
        last = { e, c: (c0 + c1) / 2 };
      }
    } finally {
      await explicit.unload();
    }
    table2.push(`| ${K} | ${last.e.toFixed(1)} | ${last.c.toFixed(1)} | ${median(ratio).toFixed(2)}x |`);
    console.error(`explicit K=${K}: ${median(ratio).toFixed(2)}x ceiling`);
  }

  console.log(`~52M model, CPU, 1 thread, ${TOKENS} greedy tokens, ${ROUNDS} rounds; plain ${plainTps.toFixed(1)} tok/s at the end`);
  console.log("| K | head: K adapters | head: souped | attn/FFN: K adapters | attn/FFN: souped |");
  console.log("| ---: | ---: | ---: | ---: | ---: |");
  for (const [K, row] of table1) console.log(`| ${K} | ${row.join(" | ")} |`);
  console.log("");
  console.log("| K prompted experts | explicit tok/s (last round) | ceiling tok/s (K+1 sequences) | explicit / ceiling |");
  console.log("| ---: | ---: | ---: | ---: |");
  for (const row of table2) console.log(row);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
