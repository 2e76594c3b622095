// `soup generate` and `soup next`: run the engine in-process on a model and a basis given on the command line, or
// on a llama-server pool (--server URL[,URL...]; the API key comes from SOUP_SERVER_API_KEY, never an argument).
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { EngineBackend } from "../engine/backend";
import { SoupEngine } from "../engine/soupEngine";
import type { BasisSpec, GenerateParams, GenerateResult, GpuMode, LoadParams, NextParams, NextResult, PolicySpec, PromptSpec, SoupMode } from "../engine/protocol";
import { ServerPool } from "../engine/remote/pool";
import { RemoteEngine } from "../engine/remote/remoteEngine";
import { UsageError } from "./usage";

const options = {
  model: { type: "string" },
  adapter: { type: "string", multiple: true },
  pack: { type: "string" },
  weights: { type: "string" },
  mode: { type: "string" },
  prompt: { type: "string" },
  prefix: { type: "string" },
  suffix: { type: "string" },
  chat: { type: "string" },
  "max-tokens": { type: "string" },
  temperature: { type: "string" },
  seed: { type: "string" },
  threads: { type: "string" },
  gpu: { type: "string" },
  "gpu-layers": { type: "string" },
  "context-size": { type: "string" },
  candidates: { type: "string" },
  top: { type: "string" },
  json: { type: "boolean" },
  server: { type: "string" },
  timeout: { type: "string" },
} as const;

type Parsed = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: false }>>["values"];

interface Soup {
  generate(p: GenerateParams, onText: (text: string) => void): Promise<GenerateResult>;
  next(p: NextParams): Promise<NextResult>;
  close(): Promise<void>;
}

export async function generateCommand(command: "generate" | "next", args: string[], out: (line: string) => void): Promise<number> {
  const v = parseArgs({ args, options, allowPositionals: false }).values;
  if (!v.model && !v.server) throw new UsageError("--model FILE (or --server URL) is required");
  const { basis, weights } = basisFromArgs(v);
  const prompt = promptFromArgs(v);
  const engine = v.server ? await remoteSoup(v, basis) : await localSoup(v, basis);
  try {
    if (command === "next") {
      const mode = (v.mode ?? (v.server ? "parameter" : "explicit")) as SoupMode;
      if (mode === "rerank") throw new UsageError("soup next: --mode must be explicit or parameter");
      const r = await engine.next({ prompt, mode, weights, top: int(v.top, "--top", 10) });
      out(v.json ? JSON.stringify(r) : r.tokens.map((t) => `${t.p.toFixed(6)}  ${t.id}  ${JSON.stringify(t.text)}`).join("\n"));
      return 0;
    }
    const r = await engine.generate(
      {
        prompt,
        mode: oneOf(v.mode ?? (v.server ? "parameter" : "explicit"), ["explicit", "parameter", "rerank"], "--mode"),
        weights,
        maxTokens: int(v["max-tokens"], "--max-tokens", 64),
        temperature: num(v.temperature, "--temperature", 0),
        seed: v.seed === undefined ? undefined : int(v.seed, "--seed", 0),
        candidates: v.candidates === undefined ? undefined : int(v.candidates, "--candidates", 3),
        withFeatures: true,
      },
      v.json ? () => {} : (t) => process.stdout.write(t),
    );
    if (v.json) {
      const { text, tokens, mode, features, timings, backend } = r;
      out(JSON.stringify({ text, tokens, mode, weights: r.weights, features, timings, backend, candidates: r.candidates }));
    } else {
      out("");
      out(`[${r.mode}, ${r.backend.backend}, ${r.timings.tokensPerSecond.toFixed(1)} tok/s]`);
    }
    return 0;
  } finally {
    await engine.close();
  }
}

async function localSoup(v: Parsed, basis: BasisSpec): Promise<Soup> {
  const engine = new SoupEngine();
  await engine.load(loadParams(v, basis), () => {});
  const signal = new AbortController().signal;
  return {
    generate: (p, onText) => engine.generate(p, signal, onText),
    next: (p) => engine.next(p, signal),
    close: () => engine.unload(),
  };
}

async function remoteSoup(v: Parsed, basis: BasisSpec): Promise<Soup> {
  const pool = new ServerPool(v.server!.split(","), {
    apiKey: process.env.SOUP_SERVER_API_KEY || undefined,
    timeoutMs: int(v.timeout, "--timeout", 30000),
    onLog: (level, message) => process.stderr.write(`${level}: ${message}\n`),
  });
  const engine: EngineBackend = new RemoteEngine(pool);
  await engine.load({ ...loadParams({ ...v, model: v.model ?? "" }, basis), modelPath: "" });
  return {
    generate: (p, onText) => engine.generate(p, { onToken: onText }),
    next: (p) => engine.next(p),
    close: async () => engine.dispose(),
  };
}

export function loadParams(v: Pick<Parsed, "model" | "gpu" | "gpu-layers" | "threads" | "context-size">, basis: BasisSpec): LoadParams {
  const layers = v["gpu-layers"] ?? "auto";
  return {
    modelPath: path.resolve(v.model!),
    gpu: oneOf(v.gpu ?? "auto", ["auto", "cuda", "vulkan", "metal", "off"], "--gpu") as GpuMode,
    gpuLayers: layers === "auto" || layers === "max" ? layers : int(layers, "--gpu-layers", 0),
    threads: v.threads === undefined ? undefined : int(v.threads, "--threads", 1),
    contextSize: int(v["context-size"], "--context-size", 2048),
    basis,
  };
}

function basisFromArgs(v: Parsed): { basis: BasisSpec; weights: Record<string, number> } {
  const weights: Record<string, number> = {};
  for (const pair of v.weights ? v.weights.split(",") : []) {
    const [id, w] = pair.split("=");
    if (!id || w === undefined) throw new UsageError(`--weights: expected id=w, got "${pair}"`);
    weights[id.trim()] = num(w, `--weights ${id}`, 0);
  }
  if (v.pack) {
    if (v.adapter?.length) throw new UsageError("give either --pack or --adapter, not both");
    return { basis: { kind: "pack", path: path.resolve(v.pack) }, weights };
  }
  const policies: PolicySpec[] = (v.adapter ?? []).map((spec) => {
    const eq = spec.lastIndexOf("=");
    const file = eq > 0 ? spec.slice(0, eq) : spec;
    const id = path.basename(file, ".gguf").toLowerCase().replace(/[^a-z0-9-]+/g, "-").slice(0, 32);
    if (eq > 0 && !(id in weights)) weights[id] = num(spec.slice(eq + 1), `--adapter ${file}`, 1);
    return { id, kind: "adapter", path: path.resolve(file) };
  });
  return { basis: { kind: "policies", id: "cli", version: "1", policies }, weights };
}

function promptFromArgs(v: Parsed): PromptSpec {
  const given = [v.prompt, v.prefix, v.chat].filter((x) => x !== undefined).length;
  if (given !== 1) throw new UsageError("give exactly one of --prompt TEXT, --prefix TEXT [--suffix TEXT], --chat TEXT");
  if (v.prompt !== undefined) return { kind: "raw", text: v.prompt };
  if (v.prefix !== undefined) return { kind: "fim", prefix: v.prefix, suffix: v.suffix ?? "" };
  return { kind: "chat", messages: [{ role: "user", content: v.chat! }] };
}

function int(s: string | undefined, flag: string, dflt: number): number {
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!Number.isInteger(n)) throw new UsageError(`${flag}: expected an integer, got "${s}"`);
  return n;
}

function num(s: string | undefined, flag: string, dflt: number): number {
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!Number.isFinite(n)) throw new UsageError(`${flag}: expected a number, got "${s}"`);
  return n;
}

function oneOf<T extends string>(s: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(s)) throw new UsageError(`${flag}: expected one of ${allowed.join(", ")}, got "${s}"`);
  return s as T;
}
