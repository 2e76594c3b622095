// Loading: a model and a basis become the contexts and sequences the engine serves from, after checks that
// turn bad files into messages naming the file and the problem.
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel } from "node-llama-cpp";
import { loadBasisPack } from "../core/basis/pack";
import { checkBasisCompatibility } from "../core/gguf/compat";
import { isAdapterFile } from "../core/gguf/lora";
import { readGguf } from "../core/gguf/reader";
import { PromptBuilder } from "./prompts";
import { EngineError, type BackendInfo, type LoadParams, type PolicySpec } from "./protocol";
import { SoupedAdapters } from "./soupedAdapters";

export type Nlc = typeof import("node-llama-cpp");

export interface Stream {
  policy?: PolicySpec;
  sequence: LlamaContextSequence;
}

export interface Loaded {
  params: LoadParams;
  llama: Llama;
  model: LlamaModel;
  prompts: PromptBuilder;
  threads: number;
  vocabSize: number;
  basisId: string;
  basisVersion: string;
  policies: PolicySpec[];
  /** Base context: sequence 0 is pi_0, then one per prompted expert. */
  baseContext: LlamaContext;
  baseStream: Stream;
  promptedStreams: Stream[];
  /** One context per adapter expert at scale 1 (explicit mode and scoring). */
  adapterContexts: LlamaContext[];
  adapterStreams: Stream[];
  /** One context with every adapter, scales set per request (parameter mode). */
  parameterContext: LlamaContext | null;
  parameterSequence: LlamaContextSequence | null;
  parameterScalesKey: string;
  /** Whether the parameter context runs one souped adapter (or none) rather than K separate ones. */
  parameterSouped: boolean;
  souped: SoupedAdapters | null;
  /** A souped adapter to write once the current request is done. */
  pendingSoup: (() => void) | null;
  /** Adapters that touch only output.weight leave the KV cache unchanged when their scales change. */
  headOnlyAdapters: boolean;
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
  const adapters = basis.policies.filter((p): p is Extract<PolicySpec, { kind: "adapter" }> => p.kind === "adapter");
  const contextSize = Math.min(params.contextSize, model.trainContextSize || params.contextSize);
  const baseContext = await model.createContext({
    contextSize,
    threads,
    sequences: 1 + prompted.length,
  });
  const baseStream: Stream = { sequence: baseContext.getSequence() };
  const promptedStreams = prompted.map((policy) => ({ policy, sequence: baseContext.getSequence() }));
  const adapterContexts: LlamaContext[] = [];
  const adapterStreams: Stream[] = [];
  let headOnly = true;
  for (const [i, a] of adapters.entries()) {
    headOnly &&= await isHeadOnlyAdapter(nlc, a.path);
    let ctx: LlamaContext;
    try {
      ctx = await model.createContext({ contextSize, threads, lora: { adapters: [{ filePath: a.path, scale: 1 }] } });
    } catch (e) {
      throw new EngineError("bad-basis", `adapter "${a.id}" (${a.path}): llama.cpp rejected it for this model (${errorText(e)})`);
    }
    adapterContexts.push(ctx);
    adapterStreams.push({ policy: a, sequence: ctx.getSequence() });
    progress("basis", (i + 1) / adapters.length);
  }
  // Starts with no adapter: all weights are 0 until a request says otherwise.
  const parameterContext = adapters.length ? await model.createContext({ contextSize, threads }) : null;
  return {
    params,
    llama,
    model,
    prompts: new PromptBuilder(nlc, model, params.modelPath),
    threads,
    vocabSize: vocabularySize(model),
    basisId: basis.id,
    basisVersion: basis.version,
    policies: [...prompted, ...adapters],
    baseContext,
    baseStream,
    promptedStreams,
    adapterContexts,
    adapterStreams,
    parameterContext,
    parameterSequence: parameterContext?.getSequence() ?? null,
    parameterScalesKey: adapters.map(() => 0).join(","),
    parameterSouped: true,
    souped: parameterContext ? new SoupedAdapters(model, parameterContext, log) : null,
    pendingSoup: null,
    headOnlyAdapters: headOnly,
    loadMs: performance.now() - t0,
  };
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

/** Reads the GGUF header and tensor index first, so a bad file gets a message naming the file and the problem. */
export async function checkModelFile(file: string): Promise<void> {
  let gguf;
  try {
    gguf = await readGguf(file);
  } catch (e) {
    throw new EngineError("bad-model", errorText(e));
  }
  if (isAdapterFile(gguf)) throw new EngineError("bad-model", `${file}: this is a LoRA adapter, not a model: give it as a basis policy`);
}

/** Adapters must fit the base model (architecture, tensor shapes): the message names the first mismatch. */
export async function checkAdapters(modelPath: string, policies: PolicySpec[]): Promise<void> {
  const adapters = policies.flatMap((p) => (p.kind === "adapter" ? [{ id: p.id, path: p.path }] : []));
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
  const policies: PolicySpec[] = pack.policies.map((p) => {
    if (p.kind === "prompted") return { id: p.id, kind: "prompted", chat: p.chat, fim: p.fim };
    if (p.kind === "adapter") return { id: p.id, kind: "adapter", path: p.path, ...(p.sha256 ? { sha256: p.sha256 } : {}) };
    throw new EngineError(
      "bad-basis",
      `${params.basis.kind === "pack" ? params.basis.path : ""}: policy "${p.id}" is a full model; the engine runs prompted and adapter policies (merge it with "soup gguf merge" or distill it)`,
    );
  });
  return { id: pack.id, version: pack.version, policies };
}
