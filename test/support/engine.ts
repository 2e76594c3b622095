// Shared fixtures for tests that run the real engine: generated models in a cache folder and a client
// that runs the TypeScript engine entry through tsx (no build needed).
import * as os from "node:os";
import * as path from "node:path";
import { existsSync } from "node:fs";
import { EngineClient } from "../../src/engine/client";
import type { LoadParams, PolicySpec } from "../../src/engine/protocol";
import { syntheticAdapterCache, syntheticModelCache, type SyntheticModelOptions } from "../../src/core/gguf/synthetic";

export const MODEL_CACHE = process.env.SOUP_TEST_MODELS ?? path.join(os.tmpdir(), "spectral-soup-test-models");
export const SHARED_MODELS = path.resolve(__dirname, "../../../shared/models");
export const STORIES = path.join(SHARED_MODELS, "stories260K.gguf");
export const SPARKY = path.join(SHARED_MODELS, "stories260K-sparky-lora.gguf");
export const hasSharedModels = () => existsSync(STORIES) && existsSync(SPARKY);

export const TINY: SyntheticModelOptions = { seed: 7, nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 4, nFf: 128, contextLength: 1024 };

export const tinyModel = () => syntheticModelCache(MODEL_CACHE, TINY);

export function headAdapter(seed: number, boostTokens?: number[], base: SyntheticModelOptions = TINY) {
  return syntheticAdapterCache(MODEL_CACHE, { seed, base, target: "head", rank: 4, boostTokens });
}

export function blockAdapter(seed: number, base: SyntheticModelOptions = TINY) {
  return syntheticAdapterCache(MODEL_CACHE, { seed, base, target: "attn_ffn", rank: 4 });
}

export function engineClient(onLog?: (level: string, message: string) => void): EngineClient {
  return new EngineClient({
    entry: path.resolve(__dirname, "../../src/engine/main.ts"),
    execArgv: ["--import", "tsx"],
    onLog,
  });
}

/** CPU, one thread, a 512-token context, and the policies as an inline basis. */
export const loadParams = (modelPath: string, policies: PolicySpec[], extra: Partial<LoadParams> = {}): LoadParams => ({
  modelPath,
  gpu: "off",
  gpuLayers: 0,
  threads: 1,
  contextSize: 512,
  basis: { kind: "policies", id: "test", version: "1", policies },
  ...extra,
});
