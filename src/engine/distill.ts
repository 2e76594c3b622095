// Spectral distillation, the engine side: for positions of a corpus, the reference model's final hidden state h(s)
// (embedding context: the last token's state after the output norm) and every policy's next-token log-probs on the
// same window (each expert sees its own prefix, then the window), cached per window on disk; then one head adapter
// per expert (src/core/basis/distill) and a new version of the pack that uses them.
import { createHash } from "node:crypto";
import { mkdir, stat } from "node:fs/promises";
import * as path from "node:path";
import type { LlamaContextSequence, LlamaEmbeddingContext, Token } from "node-llama-cpp";
import { readCorpus, sampleWindows, type CorpusFilter } from "../core/basis/corpus";
import { evaluateHead, fitHeadDelta, refineHeadDelta, writeHeadAdapter, type DistillSample, type HeadEvaluation } from "../core/basis/distill";
import { loadBasisPack, nextVersion, writeBasisPack, type BasisPack, type BasisPolicy } from "../core/basis/pack";
import { sha256File } from "../core/files";
import { readDistributions, readHiddenStates, writeDistributions, writeHiddenStates, type PositionDistributions } from "../core/basis/sampleCache";
import { metaValue, readGguf } from "../core/gguf/reader";
import { logFloor, policyLogProb } from "../core/soup/mix";
import { EngineError, type GpuMode } from "./protocol";
import { evaluateWithProbabilities, throwIfAborted, type DistillTarget } from "./sequences";
import { SoupEngine } from "./soupEngine";

export interface DistillOptions {
  modelPath: string;
  packPath: string;
  /** A folder (the workspace) or a file of text. */
  corpus: string;
  /** Which files of a corpus folder are read (default: every text file). */
  corpusFilter?: CorpusFilter;
  outDir: string;
  /** Rank of each head adapter (default 8). */
  rank?: number;
  /** Positions in all, held-out ones included (default 1000). */
  positions?: number;
  /** Tokens of context of the last position in a window (default 32). */
  window?: number;
  /** Positions taken at the end of each window (default 8): each sees at least window - perWindow + 1 tokens. */
  perWindow?: number;
  /** Share of windows held out for evaluation (default 0.2). */
  heldOut?: number;
  /** KL refinement steps after the regression (default 100; 0: regression only). */
  refineSteps?: number;
  ridge?: number;
  seed?: number;
  /** Default: outDir/.distill-cache. */
  cacheDir?: string;
  threads?: number;
  gpu?: GpuMode;
  /** Policy ids to distill (default: every prompted expert, or every policy when the pack has none). */
  only?: string[];
}

export interface DistillProgress {
  stage: "collect" | "fit";
  done: number;
  total: number;
  /** Seconds left at the current pace (null until there is a pace). */
  etaSeconds: number | null;
  /** Collect: windows taken from the cache rather than computed. */
  cached?: number;
}

export interface DistilledExpert {
  id: string;
  file: string;
  rank: number;
  /** On held-out positions: the reference model vs the expert, and the distilled adapter vs the expert. */
  reference: HeadEvaluation;
  regression: HeadEvaluation;
  adapter: HeadEvaluation;
}

export interface DistillReport {
  pack: string;
  experts: DistilledExpert[];
  positions: { train: number; heldOut: number };
  windowsFromCache: number;
  collectMs: number;
  fitMs: number;
  /** Collecting hidden states and every policy's distributions, per 1000 positions computed (not cached). */
  collectMsPerThousand: number;
}

/** Where a job may stop (throws once cancelled) or wait (while paused). */
export type Checkpoint = () => Promise<void>;

const hash = (x: unknown) => createHash("sha256").update(JSON.stringify(x)).digest("hex").slice(0, 16);

/**
 * Hidden states of the last `positions` positions of a window. The embedding context keeps the tokens before the
 * first position in its KV cache and then evaluates one token per position, reading that token's state: window +
 * positions tokens per window instead of re-evaluating each prefix (positions x window). This reaches into
 * node-llama-cpp's embedding context (its sequence and native context; checked against 3.21.1); without them,
 * each prefix is evaluated on its own through the public call.
 */
async function hiddenStates(t: DistillTarget, embedding: LlamaEmbeddingContext, window: Token[], positions: number, checkpoint: Checkpoint) {
  const prefix = t.streams[0].prefix;
  const first = window.length - positions;
  const out: Float32Array[] = [];
  const internal = embedding as unknown as {
    _sequence?: LlamaContextSequence;
    _llamaContext?: { _ctx?: { getEmbedding?: (inputLength: number) => Float64Array } };
    _prepareInput?: (tokens: Token[]) => void;
  };
  const sequence = internal._sequence;
  const native = internal._llamaContext?._ctx;
  // The public call may add a BOS or an end token to its input: then its states are not the incremental ones.
  const prepared = [...prefix, ...window];
  internal._prepareInput?.(prepared);
  const same = internal._prepareInput !== undefined && prepared.length === prefix.length + window.length;
  if (!sequence || typeof native?.getEmbedding !== "function" || !same) {
    for (let j = first; j < window.length; j++) {
      await checkpoint();
      out.push(Float32Array.from((await embedding.getEmbeddingFor([...prefix, ...window.slice(0, j + 1)])).vector));
    }
    return out;
  }
  await sequence.clearHistory();
  const evaluate = async (tokens: Token[]) => {
    for await (const _ of sequence.evaluate(tokens, { _noSampling: true } as Parameters<LlamaContextSequence["evaluate"]>[1])) break;
  };
  const before = [...prefix, ...window.slice(0, first)];
  if (before.length) await evaluate(before);
  for (let j = first; j < window.length; j++) {
    await checkpoint();
    await evaluate([window[j]]);
    out.push(Float32Array.from(native.getEmbedding(sequence.nextTokenIndex)));
  }
  return out;
}

/**
 * Every policy's next-token log-probs at the last `positions` positions, on the union of what the policies report.
 * Each policy's prefix (its header or exemplar) stays in its sequence's KV cache from one window to the next, so a
 * window costs its own tokens only.
 */
async function distributions(t: DistillTarget, window: Token[], positions: number, checkpoint: Checkpoint): Promise<PositionDistributions[]> {
  await checkpoint();
  const first = window.length - positions;
  // One pass per policy gives the distributions at every position; the reference and prompted experts share a batch.
  const perPolicy = await Promise.all(
    t.streams.map(async ({ prefix, sequence }) => {
      const tokens = [...prefix, ...window];
      const from = prefix.length + first;
      // Kept: what the cache shares with these tokens, up to the first position whose distribution is wanted.
      const cached = sequence.contextTokens;
      let keep = 0;
      while (keep < from && keep < cached.length && cached[keep] === tokens[keep]) keep++;
      if (sequence.nextTokenIndex > keep) await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
      return evaluateWithProbabilities(sequence, tokens.slice(keep), from - keep, positions, t.distribution);
    }),
  );
  return Array.from({ length: positions }, (_, q) => {
    const dists = perPolicy.map((d) => d[q]);
    const union = new Set<number>();
    for (const d of dists) for (const tok of d.keys()) union.add(tok);
    const tokens = Int32Array.from([...union].sort((a, b) => a - b));
    const floors = dists.map((d) => logFloor(d, t.vocabSize));
    const logp = new Float32Array(dists.length * tokens.length);
    dists.forEach((d, p) => tokens.forEach((tok, j) => (logp[p * tokens.length + j] = policyLogProb(d, floors[p], tok))));
    return { tokens, logp, tail: Float32Array.from(floors) };
  });
}

/** Which policies become head adapters: those asked for, else the prompted experts, else all. */
function chooseExperts(pack: BasisPack, only: string[] | undefined): BasisPolicy[] {
  if (only?.length) {
    const unknown = only.filter((id) => !pack.policies.some((p) => p.id === id));
    if (unknown.length) throw new EngineError("bad-request", `no policy ${unknown.join(", ")} in pack "${pack.id}" (it has ${pack.policies.map((p) => p.id).join(", ")})`);
    return pack.policies.filter((p) => only.includes(p.id));
  }
  const prompted = pack.policies.filter((p) => p.kind === "prompted");
  return prompted.length ? prompted : pack.policies;
}

/**
 * Distills a pack's experts into head adapters: collects (or reads from the cache) hidden states and distributions
 * for `positions` corpus positions, fits each expert on the training windows, evaluates on the held-out ones, and
 * writes OUT/<id>.gguf plus OUT/pack.json (the next version of the pack, with these policies as adapters).
 */
export async function distillBasis(
  o: DistillOptions,
  signal: AbortSignal,
  progress: (p: DistillProgress) => void,
  checkpoint: Checkpoint = async () => throwIfAborted(signal, "distillation"),
): Promise<DistillReport> {
  const rank = o.rank ?? 8;
  const total = o.positions ?? 1000;
  const windowTokens = o.window ?? 32;
  const perWindow = Math.min(o.perWindow ?? 8, windowTokens);
  const nWindows = Math.ceil(total / perWindow);
  const nHeld = Math.max(1, Math.round(nWindows * (o.heldOut ?? 0.2)));
  if (nWindows - nHeld < 1) throw new EngineError("bad-request", `${total} positions are too few to hold some out: ask for more`);
  const pack = await loadBasisPack(o.packPath);
  const experts = chooseExperts(pack, o.only);
  const modelGguf = await readGguf(o.modelPath);
  const architecture = String(metaValue(modelGguf, "general.architecture") ?? "llama");

  const engine = new SoupEngine();
  await engine.load(
    {
      modelPath: o.modelPath,
      gpu: o.gpu ?? "off",
      gpuLayers: o.gpu && o.gpu !== "off" ? "max" : 0,
      threads: o.threads,
      contextSize: 512,
      basis: { kind: "pack", path: o.packPath },
    },
    () => {},
  );
  let embedding: LlamaEmbeddingContext | null = null;
  try {
    const t = await engine.distillTarget();
    const longestPrefix = Math.max(...t.streams.map((s) => s.prefix.length));
    if (longestPrefix + windowTokens >= 512) throw new EngineError("bad-request", `window of ${windowTokens} tokens plus the longest prompt (${longestPrefix}) does not fit 512 tokens`);
    embedding = await t.model.createEmbeddingContext({ contextSize: t.streams[0].prefix.length + windowTokens + 8, threads: t.threads });
    const files = await readCorpus(o.corpus, o.corpusFilter);
    const windows = sampleWindows(files, nWindows, windowTokens, o.seed ?? 1, (text) => t.model.tokenize(text)) as Token[][];

    const st = await stat(o.modelPath);
    const cacheDir = o.cacheDir ?? path.join(o.outDir, ".distill-cache");
    const hiddenDir = path.join(cacheDir, hash({ model: path.resolve(o.modelPath), size: st.size, mtime: st.mtimeMs, perWindow }));
    await mkdir(hiddenDir, { recursive: true });
    const policyKey = hash({ policies: t.policies, distribution: t.distribution });

    const samples: DistillSample[][] = [];
    let fromCache = 0;
    const t0 = performance.now();
    let computedMs = 0;
    let computed = 0;
    for (const [i, window] of windows.entries()) {
      const hFile = path.join(hiddenDir, `h-${i}.gguf`);
      const dFile = path.join(hiddenDir, `p-${policyKey}-${i}.gguf`);
      const started = performance.now();
      let hidden = await readHiddenStates(hFile, window);
      let dists = await readDistributions(dFile, window, t.streams.length);
      if (hidden && dists) fromCache++;
      else {
        if (!hidden) await writeHiddenStates(hFile, window, (hidden = await hiddenStates(t, embedding, window, perWindow, checkpoint)));
        if (!dists) await writeDistributions(dFile, window, (dists = await distributions(t, window, perWindow, checkpoint)));
        computed++;
        computedMs += performance.now() - started;
      }
      samples.push(dists.map((d, q) => ({ ...d, h: hidden![q] })));
      const left = windows.length - i - 1;
      progress({ stage: "collect", done: i + 1, total: windows.length, cached: fromCache, etaSeconds: computed ? (left * computedMs) / computed / 1000 : null });
    }
    const collectMs = performance.now() - t0;
    await embedding.dispose();
    embedding = null;

    // Held-out windows are whole windows (positions of one window are alike), the last ones drawn.
    const train = samples.slice(0, nWindows - nHeld).flat();
    const held = samples.slice(nWindows - nHeld).flat();
    const t1 = performance.now();
    const results: DistilledExpert[] = [];
    const version = nextVersion(pack.version);
    for (const [n, policy] of experts.entries()) {
      await checkpoint();
      const k = t.policies.findIndex((p) => p.id === policy.id) + 1;
      const regression = fitHeadDelta(train, k, t.vocabSize, { rank, ridge: o.ridge });
      const refined = o.refineSteps === 0 ? regression : refineHeadDelta(regression, train, k, { steps: o.refineSteps ?? 100 });
      // Keep the refinement only when it lowers the training KL (what it minimizes); held-out figures are reported.
      const delta = evaluateHead(refined, train, k).kl <= evaluateHead(regression, train, k).kl ? refined : regression;
      const file = path.join(o.outDir, `${policy.id}.gguf`);
      await mkdir(o.outDir, { recursive: true });
      await writeHeadAdapter(file, delta, { architecture, name: `${pack.id}-${policy.id}-distilled-r${rank}` });
      results.push({
        id: policy.id,
        file,
        rank,
        reference: evaluateHead(null, held, k),
        regression: evaluateHead(regression, held, k),
        adapter: evaluateHead(delta, held, k),
      });
      const done = n + 1;
      progress({ stage: "fit", done, total: experts.length, etaSeconds: (((performance.now() - t1) / done) * (experts.length - done)) / 1000 });
    }
    const fitMs = performance.now() - t1;
    const distilled = new Set(results.map((r) => r.id));
    const packFile = path.join(o.outDir, "pack.json");
    await writeBasisPack(packFile, {
      ...pack,
      version,
      base: { name: path.basename(o.modelPath), sha256: await sha256File(o.modelPath) },
      policies: pack.policies.map((p) =>
        distilled.has(p.id)
          ? { id: p.id, label: p.label, description: p.description, kind: "adapter", path: path.join(o.outDir, `${p.id}.gguf`), default: p.default }
          : p,
      ),
    });
    return {
      pack: packFile,
      experts: results,
      positions: { train: train.length, heldOut: held.length },
      windowsFromCache: fromCache,
      collectMs,
      fitMs,
      collectMsPerThousand: computed ? (computedMs / (computed * perWindow)) * 1000 : NaN,
    };
  } finally {
    await embedding?.dispose();
    await engine.unload();
  }
}
