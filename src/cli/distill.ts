// `soup distill`: turn a pack's prompted experts into head adapters (src/engine/distill.ts), with a progress bar
// and ETA on stderr; Ctrl-C stops it, and the next run resumes from the cached windows.
import * as path from "node:path";
import { distillBasis, type DistillProgress } from "../engine/distill";
import { formatDuration } from "../core/editor/status";
import type { GpuMode } from "../engine/protocol";
import { int, oneOf, parseCommand, required } from "./args";

const USAGE = `usage: soup distill --model FILE --pack FILE --corpus DIR|FILE --out DIR [--rank R] [--positions N]
         [--window TOKENS] [--per-window N] [--refine-steps N] [--only ID,...] [--seed S] [--threads N] [--gpu MODE] [--json]`;

/** One status line, redrawn in place: a 24-cell bar, the stage, counts and the time left. */
export function progressLine(p: DistillProgress): string {
  const cells = Math.round((24 * p.done) / Math.max(1, p.total));
  const what = p.stage === "collect" ? `windows${p.cached ? ` (${p.cached} cached)` : ""}` : "experts fitted";
  return `[${"#".repeat(cells)}${"-".repeat(24 - cells)}] ${p.stage} ${p.done}/${p.total} ${what}  ETA ${p.etaSeconds === null ? "?" : formatDuration(p.etaSeconds)}`;
}

export async function distillCommand(args: string[], out: (line: string) => void): Promise<number> {
  const v = parseCommand(
    {
      usage: USAGE,
      options: {
      model: { type: "string" },
      pack: { type: "string" },
      corpus: { type: "string" },
      out: { type: "string" },
      rank: { type: "string" },
      positions: { type: "string" },
      window: { type: "string" },
      "per-window": { type: "string" },
      "refine-steps": { type: "string" },
      only: { type: "string" },
      seed: { type: "string" },
      threads: { type: "string" },
      gpu: { type: "string" },
      json: { type: "boolean" },
      },
    },
    args,
  ).values;
  const need = (value: string | undefined, flag: string) => path.resolve(required(value, flag, USAGE));
  const [modelPath, packPath, corpus, outDir] = [need(v.model, "--model"), need(v.pack, "--pack"), need(v.corpus, "--corpus"), need(v.out, "--out")];
  const ac = new AbortController();
  const onInt = () => ac.abort();
  process.once("SIGINT", onInt);
  const tty = process.stderr.isTTY;
  let last = 0;
  try {
    const report = await distillBasis(
      {
        modelPath,
        packPath,
        corpus,
        outDir,
        rank: int(v.rank, "--rank", 8, 1),
        positions: int(v.positions, "--positions", 1000, 2),
        window: int(v.window, "--window", 32, 2),
        perWindow: int(v["per-window"], "--per-window", 8, 1),
        refineSteps: int(v["refine-steps"], "--refine-steps", 100, 0),
        only: v.only?.split(",").map((s) => s.trim()),
        seed: int(v.seed, "--seed", 1, 0),
        threads: v.threads === undefined ? undefined : int(v.threads, "--threads", 1, 1),
        gpu: oneOf<GpuMode>(v.gpu, ["auto", "cuda", "vulkan", "metal", "off"], "--gpu", "off"),
      },
      ac.signal,
      (p) => {
        // Redraw in place on a terminal; otherwise a line every few seconds is enough for a log.
        if (tty) process.stderr.write(`\r${progressLine(p)}`);
        else if (performance.now() - last > 5000 || p.done === p.total) {
          last = performance.now();
          process.stderr.write(`${progressLine(p)}\n`);
        }
      },
    );
    if (tty) process.stderr.write("\n");
    if (v.json) out(JSON.stringify(report));
    else {
      const f = (x: number) => x.toExponential(2);
      out(`${report.positions.train} training and ${report.positions.heldOut} held-out positions (${report.windowsFromCache} windows from the cache)`);
      out(`collect ${(report.collectMs / 1000).toFixed(1)} s (${(report.collectMsPerThousand / 1000).toFixed(1)} s per 1000 positions computed), fit ${(report.fitMs / 1000).toFixed(1)} s`);
      out("held-out KL(expert || policy) and top-1 agreement:  base model  ->  regression  ->  adapter");
      for (const e of report.experts) {
        out(`  ${e.id.padEnd(20)} ${f(e.reference.kl)} ${(100 * e.reference.top1).toFixed(1)}%  ->  ${f(e.regression.kl)} ${(100 * e.regression.top1).toFixed(1)}%  ->  ${f(e.adapter.kl)} ${(100 * e.adapter.top1).toFixed(1)}%`);
      }
      out(`wrote ${report.experts.length} head adapters (rank ${report.experts[0]?.rank}) and ${report.pack}`);
    }
    return 0;
  } catch (e) {
    if (ac.signal.aborted) {
      if (tty) process.stderr.write("\n");
      throw new Error(`distillation cancelled; what was collected is cached under ${outDir}: run the same command again to resume`);
    }
    throw e;
  } finally {
    process.off("SIGINT", onInt);
  }
}
