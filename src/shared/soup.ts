// The words of the method that every layer speaks: how policies are souped, what a policy is, the box the soup
// weights live in, and the engine's backend settings. Pure and dependency-free.

export type SoupMode = "explicit" | "parameter" | "rerank";
export const SOUP_MODES: readonly SoupMode[] = ["explicit", "parameter", "rerank"];

export type GpuMode = "auto" | "cuda" | "vulkan" | "metal" | "off";
export const GPU_MODES: readonly GpuMode[] = ["auto", "cuda", "vulkan", "metal", "off"];
export type GpuLayers = "auto" | "max" | number;

/** How a basis policy is run: a prompt on the base model, or a LoRA adapter souped in the parameters. */
export type PolicyKind = "prompted" | "adapter";

/** Basis policy (preference dimension) ids, as basis pack manifests define them. */
export const POLICY_ID = /^[a-z][a-z0-9-]{0,31}$/;

/** The box every soup weight lives in (the posterior clips to it; sliders range over it). */
export const WEIGHT_MIN = -0.5;
export const WEIGHT_MAX = 2;

/** "auto", "max" or a whole number of layers; anything else is "auto" (a typo must not stop the engine). */
export function parseGpuLayers(raw: string): GpuLayers {
  if (raw === "auto" || raw === "max") return raw;
  const n = Number(raw);
  return raw.trim() !== "" && Number.isInteger(n) && n >= 0 ? n : "auto";
}
