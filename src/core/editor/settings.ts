// Pure parts of reading the `spectralSoup.*` settings (the VS Code side is src/extension/settings.ts).
import type { GpuLayers } from "../../engine/protocol";

/** "auto", "max" or a whole number of layers; anything else is "auto" (a typo must not stop the engine). */
export function parseGpuLayers(raw: string): GpuLayers {
  if (raw === "auto" || raw === "max") return raw;
  const n = Number(raw);
  return raw.trim() !== "" && Number.isInteger(n) && n >= 0 ? n : "auto";
}

/** The per-language switch: the language's own entry, else "*", else on. */
export function completionsEnabledFor(s: { enabled: boolean; languages: Record<string, boolean> }, languageId: string): boolean {
  return s.enabled && (s.languages[languageId] ?? s.languages["*"] ?? true);
}
