// The closed loop's generated basis: three head adapters on the tiny generated model, each boosting one set of
// bytes (digits, vowels, brackets), and the share of a set's bytes in generated text as a user's hidden taste.
// Shared by the closed-loop integration test and bench/closedLoop.ts so both measure the same loop.
import { byteTokenId } from "../../src/core/gguf/synthetic-vocab";
import type { EngineClient } from "../../src/engine/client";
import type { PolicySpec } from "../../src/engine/protocol";
import { headAdapter, tinyModel } from "./engine";

export const BYTE_SETS = ["0123456789", "aeiou", "{}();"];
export const BYTE_PROMPT = { kind: "raw" as const, text: "The " };

/** Loads the tiny model with the three byte-set adapters as its basis; returns the policies in basis order. */
export async function loadByteSets(client: EngineClient): Promise<PolicySpec[]> {
  const heads = await Promise.all(BYTE_SETS.map((s, k) => headAdapter(40 + k, [...s].map((c) => byteTokenId(c.charCodeAt(0))))));
  const policies: PolicySpec[] = heads.map((path, k) => ({ id: `set${k}`, kind: "adapter", path }));
  await client.load({ modelPath: await tinyModel(), gpu: "off", gpuLayers: 0, threads: 1, contextSize: 512, basis: { kind: "policies", id: "bytes", version: "1", policies } });
  return policies;
}

/** The share of a byte set's characters in a text. */
export function setShare(set: string): (text: string) => number {
  const bytes = new Set(set);
  return (t) => [...t].filter((c) => bytes.has(c)).length / Math.max(1, t.length);
}

/** The mean share over 6 fixed-seed generations of 48 tokens under soup weights (parameter mode). */
export async function measureShare(client: EngineClient, share: (text: string) => number, weights: Record<string, number>): Promise<number> {
  let total = 0;
  for (let s = 0; s < 6; s++) {
    const r = await client.generate({ prompt: BYTE_PROMPT, mode: "parameter", weights, maxTokens: 48, temperature: 1, seed: 500 + s });
    total += share(r.text);
  }
  return total / 6;
}
