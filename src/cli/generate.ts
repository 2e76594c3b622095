// `soup generate` and `soup next`: run the engine process on a model and a basis given on the command line, or a
// llama-server pool (--server URL[,URL...]; the API key comes from SOUP_SERVER_API_KEY, never an argument).
import * as path from "node:path";
import type { EngineBackend } from "../engine/backend";
import { EngineClient } from "../engine/client";
import { ServerPool } from "../engine/remote/pool";
import { RemoteEngine } from "../engine/remote/remoteEngine";
import type { BasisSpec, GpuMode, LoadParams, PolicySpec, PromptSpec, SoupMode } from "../engine/protocol";
import { int, num, oneOf, parseCommand, required, UsageError } from "./args";

const USAGE = {
  generate: `usage: soup generate --model FILE [--adapter FILE[=W]]... [--pack FILE] [--weights id=w,...]
         [--mode explicit|parameter|rerank] (--prompt TEXT | --prefix TEXT [--suffix TEXT] | --chat TEXT)
         [--max-tokens N] [--temperature T] [--seed S] [--candidates N] [--threads N] [--context-size N]
         [--gpu auto|cuda|vulkan|metal|off] [--gpu-layers auto|max|N] [--json]
         [--server URL[,URL...] [--timeout MS]]   on a llama-server pool instead of --model (key: env SOUP_SERVER_API_KEY)`,
  next: `usage: soup next --model FILE [--adapter FILE[=W]]... [--pack FILE] [--weights id=w,...] [--mode explicit|parameter]
         (--prompt TEXT | --prefix TEXT [--suffix TEXT] | --chat TEXT) [--top N] [--threads N] [--context-size N]
         [--gpu auto|cuda|vulkan|metal|off] [--gpu-layers auto|max|N] [--json]
         [--server URL[,URL...] [--timeout MS]]   on a llama-server pool instead of --model (key: env SOUP_SERVER_API_KEY)`,
};

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

type Parsed = ReturnType<typeof parseCommand<typeof options>>["values"];

export async function generateCommand(command: "generate" | "next", args: string[], out: (line: string) => void): Promise<number> {
  const v = parseCommand({ usage: USAGE[command], options }, args).values;
  if (!v.server) required(v.model, "--model", USAGE[command]);
  const { basis, weights } = basisFromArgs(v);
  const prompt = promptFromArgs(v);
  // A server serves parameter souping (and rerank), not explicit generation: that is its default mode.
  const defaultMode = v.server ? "parameter" : "explicit";
  // The engine runs in a child: a model that makes llama.cpp abort ends that process, and this one says which file.
  const engine: EngineBackend = v.server
    ? new RemoteEngine(
        new ServerPool(v.server.split(","), {
          apiKey: process.env.SOUP_SERVER_API_KEY || undefined,
          timeoutMs: int(v.timeout, "--timeout", 30000, 1),
          onLog: (level, message) => process.stderr.write(`${level}: ${message}\n`),
        }),
      )
    : new EngineClient({ onLog: (level, message) => level === "warn" && process.stderr.write(`${message}\n`) });
  try {
    // The servers have their model: only the basis is read here.
    await engine.load(v.server ? { ...loadParams({ ...v, model: v.model ?? "" }, basis), modelPath: "" } : loadParams(v, basis));
    if (command === "next") {
      const mode: SoupMode = oneOf(v.mode, ["explicit", "parameter"], "--mode", defaultMode);
      const r = await engine.next({ prompt, mode, weights, top: int(v.top, "--top", 10, 1) });
      out(v.json ? JSON.stringify(r) : r.tokens.map((t) => `${t.p.toFixed(6)}  ${t.id}  ${JSON.stringify(t.text)}`).join("\n"));
      return 0;
    }
    const r = await engine.generate(
      {
        prompt,
        mode: oneOf(v.mode, ["explicit", "parameter", "rerank"], "--mode", defaultMode),
        weights,
        maxTokens: int(v["max-tokens"], "--max-tokens", 64, 1),
        temperature: num(v.temperature, "--temperature", 0),
        seed: v.seed === undefined ? undefined : int(v.seed, "--seed", 0),
        candidates: v.candidates === undefined ? undefined : int(v.candidates, "--candidates", 3, 1),
        withFeatures: true,
      },
      { onToken: v.json ? undefined : (t) => process.stdout.write(t) },
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
    engine.dispose();
  }
}

export function loadParams(v: Pick<Parsed, "model" | "gpu" | "gpu-layers" | "threads" | "context-size">, basis: BasisSpec): LoadParams {
  const layers = v["gpu-layers"] ?? "auto";
  return {
    modelPath: path.resolve(v.model!),
    gpu: oneOf<GpuMode>(v.gpu, ["auto", "cuda", "vulkan", "metal", "off"], "--gpu", "auto"),
    gpuLayers: layers === "auto" || layers === "max" ? layers : int(layers, "--gpu-layers", 0, 0),
    threads: v.threads === undefined ? undefined : int(v.threads, "--threads", 1, 1),
    contextSize: int(v["context-size"], "--context-size", 2048, 16),
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
