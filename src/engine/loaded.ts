// Loading: a model and a basis become the contexts and sequences the engine serves from, after checks that
// turn bad files into messages naming the file and the problem.
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel } from "node-llama-cpp";
import { loadBasisPack } from "../core/basis/pack";
import { checkBasisCompatibility } from "../core/gguf/compat";
import { isAdapterFile } from "../core/gguf/lora";
import { readGguf } from "../core/gguf/reader";
import { modelProblem } from "../core/gguf/validate";
import { llamaFailure, llamaLogMark } from "./llamaLog";
import { PromptBuilder } from "./prompts";
import { EngineError, type BackendInfo, type LoadParams, type PolicySpec } from "./protocol";
import { ParameterSoup, setAdapterScales } from "./parameterSoup";

export type Nlc = typeof import("node-llama-cpp");

export interface Stream {
  policy?: PolicySpec;
  sequence: LlamaContextSequence;
}

export type AdapterPolicy = Extract<PolicySpec, { kind: "adapter" }>;

export interface Loaded {
  params: LoadParams;
  llama: Llama;
  model: LlamaModel;
  prompts: PromptBuilder;
  threads: number;
  contextSize: number;
  vocabSize: number;
  basisId: string;
  basisVersion: string;
  /** Basis policies in engine order: prompted experts, then adapters. */
  policies: PolicySpec[];
  adapters: AdapterPolicy[];
  /** What parameter souping applies: the adapter policies, then the prompted experts' head adapters, with their index in `policies`. */
  parameterPolicies: { k: number; adapter: AdapterPolicy }[];
  /** Base context: sequence 0 is pi_0, then one per prompted expert. */
  baseContext: LlamaContext;
  baseStream: Stream;
  promptedStreams: Stream[];
  /**
   * One context per adapter expert at scale 1, for explicit mode and for scoring adapters that change the KV
   * cache; created on first use (about a KV cache each), null until then.
   */
  adapterStreams: Promise<Stream[]> | null;
  /** The adapters at per-request scales (parameter mode); null without adapters. Head-only ones share the base context. */
  parameter: ParameterSoup | null;
  loadMs: number;
}

export type ProgressSink = (stage: "model" | "basis", fraction: number) => void;

/** Creates the contexts and sequences a loaded model and basis are served from. */
export async function createLoaded(
  nlc: Nlc,
  log: (message: string) => void,
  params: LoadParams,
  llama: Llama,
  model: LlamaModel,
  threads: number,
  basis: { id: string; version: string; policies: PolicySpec[] },
  t0: number,
  progress: ProgressSink,
): Promise<Loaded> {
  const prompted = basis.policies.filter((p) => p.kind === "prompted");
  const adapters = basis.policies.filter((p): p is AdapterPolicy => p.kind === "adapter");
  const policies = [...prompted, ...adapters];
  const parameterPolicies = [
    ...adapters.map((adapter) => ({ k: policies.indexOf(adapter), adapter })),
    ...prompted.flatMap((p, k) => (p.head ? [{ k, adapter: { id: p.id, kind: "adapter" as const, path: p.head } }] : [])),
  ];
  const parameterAdapters = parameterPolicies.map((p) => p.adapter);
  const contextSize = Math.min(params.contextSize, model.trainContextSize || params.contextSize);
  const baseContext = await model.createContext({
    contextSize,
    threads,
    sequences: 1 + prompted.length,
  });
  const baseStream: Stream = { sequence: baseContext.getSequence() };
  const promptedStreams = prompted.map((policy) => ({ policy, sequence: baseContext.getSequence() }));
  let parameter: ParameterSoup | null = null;
  if (parameterAdapters.length) {
    let headOnly = true;
    for (const a of parameterAdapters) headOnly &&= await isHeadOnlyAdapter(nlc, a.path);
    const context = headOnly ? baseContext : await model.createContext({ contextSize, threads });
    for (const [i, a] of parameterAdapters.entries()) {
      // Loading each adapter into the model once checks it now, and parameter mode needs it loaded anyway.
      const mark = llamaLogMark();
      try {
        await setAdapterScales(context, [{ filePath: a.path, scale: 1 }]);
      } catch (e) {
        throw new EngineError("bad-basis", `adapter "${a.id}" (${a.path}): llama.cpp rejected it for this model (${llamaFailure(e, mark)})`);
      }
      progress("basis", (i + 1) / parameterAdapters.length);
    }
    await setAdapterScales(context, []);
    parameter = new ParameterSoup(model, context, headOnly ? baseStream.sequence : context.getSequence(), parameterAdapters, headOnly, log);
  }
  return {
    params,
    llama,
    model,
    prompts: new PromptBuilder(nlc, model, params.modelPath),
    threads,
    contextSize,
    vocabSize: vocabularySize(model),
    basisId: basis.id,
    basisVersion: basis.version,
    policies,
    adapters,
    parameterPolicies,
    baseContext,
    baseStream,
    promptedStreams,
    adapterStreams: null,
    parameter,
    loadMs: performance.now() - t0,
  };
}

/**
 * The scales of parameter souping for a weight vector (one per policy): a prompted expert with weight cannot be
 * applied in the parameters unless it has a head adapter.
 */
export function parameterScales(l: Loaded, weights: number[]): number[] {
  const inParameters = new Set(l.parameterPolicies.map((p) => p.k));
  const prompted = l.policies.find((_, k) => !inParameters.has(k) && weights[k] !== 0);
  if (prompted) {
    throw new EngineError(
      "bad-request",
      `parameter souping cannot apply prompted expert "${prompted.id}": give it weight 0, use explicit or rerank mode, or distill it into a head adapter`,
    );
  }
  return l.parameterPolicies.map((p) => weights[p.k]);
}

/** The scale-1 adapter streams, created on first use. */
export function adapterStreams(l: Loaded): Promise<Stream[]> {
  l.adapterStreams ??= Promise.all(
    l.adapters.map(async (policy) => {
      const ctx = await l.model.createContext({ contextSize: l.contextSize, threads: l.threads, lora: { adapters: [{ filePath: policy.path, scale: 1 }] } });
      return { policy, sequence: ctx.getSequence() };
    }),
  ).catch((e: unknown) => {
    l.adapterStreams = null;
    throw new EngineError("internal", `could not create the adapter experts' contexts (${errorText(e)})`);
  });
  return l.adapterStreams;
}

/**
 * The reference stream, then every expert stream in policy order (prompted, then adapters): streams[k + 1] is
 * policies[k]. The base context is cleared of adapters first.
 */
export async function policyStreams(l: Loaded): Promise<Stream[]> {
  await l.parameter?.reference();
  return [l.baseStream, ...l.promptedStreams, ...(l.adapters.length ? await adapterStreams(l) : [])];
}

/** Every context the loaded state holds now (for memory reporting). */
export async function liveContexts(l: Loaded): Promise<LlamaContext[]> {
  const adapters = l.adapterStreams ? await l.adapterStreams : [];
  const parameter = l.parameter && !l.parameter.headOnly ? [l.parameter.sequence.context] : [];
  return [l.baseContext, ...adapters.map((s) => s.sequence.context), ...parameter];
}

export async function isHeadOnlyAdapter(nlc: Nlc, file: string): Promise<boolean> {
  const info = await nlc.readGgufFileInfo(file);
  return (info.fullTensorInfo ?? []).every((t) => t.name.startsWith("output.weight."));
}

export function vocabularySize(model: LlamaModel): number {
  const tokens = model.fileInfo.metadata.tokenizer?.ggml?.tokens;
  if (!Array.isArray(tokens) || tokens.length === 0) throw new EngineError("bad-model", "the model has no tokenizer vocabulary");
  return tokens.length;
}

export function backendInfo(l: Loaded): BackendInfo {
  const gpu = l.llama.gpu;
  return {
    backend: gpu === false ? "cpu" : gpu,
    gpuLayers: l.model.gpuLayers,
    totalLayers: l.model.fileInsights.totalLayers,
    threads: l.threads,
  };
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Reads the GGUF header and tensor index and checks what llama.cpp's loader assumes, so a bad file gets a message
 * naming the file and the problem instead of crashing the engine inside llama.cpp.
 */
export async function checkModelFile(file: string): Promise<void> {
  let gguf;
  try {
    gguf = await readGguf(file);
  } catch (e) {
    throw new EngineError("bad-model", errorText(e));
  }
  if (isAdapterFile(gguf)) throw new EngineError("bad-model", `${file}: this is a LoRA adapter, not a model: give it as a basis policy`);
  const problem = modelProblem(gguf);
  if (problem) throw new EngineError("bad-model", `${file}: ${problem}`);
}

/** Adapters must fit the base model (architecture, tensor shapes): the message names the first mismatch. */
export async function checkAdapters(modelPath: string, policies: PolicySpec[]): Promise<void> {
  const adapters = policies.flatMap((p) => (p.kind === "adapter" ? [{ id: p.id, path: p.path }] : p.head ? [{ id: `${p.id} (distilled head)`, path: p.head }] : []));
  if (adapters.length === 0) return;
  const result = await checkBasisCompatibility(modelPath, adapters);
  if (!result.ok) throw new EngineError("bad-basis", result.message);
}

export async function resolveBasis(params: LoadParams): Promise<{ id: string; version: string; policies: PolicySpec[] }> {
  if (params.basis.kind === "policies") {
    const { id, version, policies } = params.basis;
    return { id, version, policies };
  }
  let pack;
  try {
    pack = await loadBasisPack(params.basis.path);
  } catch (e) {
    throw new EngineError("bad-basis", errorText(e));
  }
  const heads = params.basis.heads ?? {};
  const unknown = Object.keys(heads).filter((id) => !pack.policies.some((p) => p.id === id && p.kind === "prompted"));
  if (unknown.length) throw new EngineError("bad-basis", `${params.basis.path}: head adapters given for ${unknown.join(", ")}, which are not prompted experts of this pack`);
  const policies: PolicySpec[] = pack.policies.map((p) => {
    if (p.kind === "prompted") return { id: p.id, kind: "prompted", chat: p.chat, fim: p.fim, exemplars: p.exemplars, ...(heads[p.id] ? { head: heads[p.id] } : {}) };
    if (p.kind === "adapter") return { id: p.id, kind: "adapter", path: p.path, ...(p.sha256 ? { sha256: p.sha256 } : {}) };
    throw new EngineError(
      "bad-basis",
      `${params.basis.kind === "pack" ? params.basis.path : ""}: policy "${p.id}" is a full model; the engine runs prompted and adapter policies (merge it with "soup gguf merge" or distill it)`,
    );
  });
  return { id: pack.id, version: pack.version, policies };
}
