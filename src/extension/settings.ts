// Typed reading of the `spectralSoup.*` settings. Files the engine loads (model, basis pack) are the one place
// where a workspace could make the editor run something it chose, so in an untrusted workspace those come from
// the user's own (global) settings only.
import * as vscode from "vscode";
import type { ChatSettings } from "../core/chat/session";
import type { CompletionSettings } from "../core/completion/settings";
import { parseGpuLayers, type GpuLayers, type GpuMode, type SoupMode } from "../shared/soup";

export const SECTION = "spectralSoup";

export interface LoadSettings {
  modelPath: string;
  /** Empty: the bundled default pack. */
  basisPack: string;
  gpu: GpuMode;
  gpuLayers: GpuLayers;
  /** 0: the engine's default (physical cores minus one). */
  threads: number;
  contextSize: number;
  /** A llama-server pool instead of the in-process engine; no URLs: in-process. */
  server: { urls: string[]; timeoutMs: number };
}

export interface SoupSettings {
  load: LoadSettings;
  soupMode: SoupMode | "auto";
  completions: CompletionSettings;
  exploration: boolean;
  episodeCompletions: number;
  episodeMinutes: number;
  /** Days response texts stay in the feedback log; features and hashes are always kept. */
  keepTextsDays: number;
  /** The slider values by basis policy id, for the ids that have a setting. */
  preferences: Record<string, number>;
  /** Policy ids whose weight is pinned at the slider value (feedback does not move it). */
  lockedPreferences: string[];
  chat: ChatSettings;
  /** Empty: off. */
  traceFile: string;
  /** Distill the basis' prompted experts into head adapters in the background. */
  backgroundDistillation: boolean;
}

/** Settings that only the user, never an untrusted workspace, may set (also declared in package.json). */
const TRUSTED_ONLY = ["modelPath", "basisPack", "debug.traceFile"] as const;

function trustedOnly(config: vscode.WorkspaceConfiguration, key: (typeof TRUSTED_ONLY)[number]): string {
  if (vscode.workspace.isTrusted) return config.get<string>(key, "");
  return config.inspect<string>(key)?.globalValue ?? "";
}

export function readSettings(policyIds: readonly string[]): SoupSettings {
  const c = vscode.workspace.getConfiguration(SECTION);
  const preferences: Record<string, number> = {};
  for (const id of policyIds) {
    const v = c.get<number>(`preferences.${id}`);
    if (typeof v === "number" && Number.isFinite(v)) preferences[id] = v;
  }
  return {
    load: {
      modelPath: trustedOnly(c, "modelPath"),
      basisPack: trustedOnly(c, "basisPack"),
      gpu: c.get<GpuMode>("gpu", "auto"),
      gpuLayers: parseGpuLayers(String(c.get("gpuLayers", "auto"))),
      threads: c.get<number>("threads", 0),
      contextSize: c.get<number>("contextSize", 2048),
      server: {
        // Where the user's code is sent: a workspace the user has not trusted cannot choose it.
        urls: (vscode.workspace.isTrusted ? c.get<string[]>("server.urls", []) : (c.inspect<string[]>("server.urls")?.globalValue ?? [])).filter((u) => u.trim()),
        timeoutMs: Math.max(500, c.get<number>("server.timeoutMs", 10000)),
      },
    },
    soupMode: c.get<SoupMode | "auto">("soupMode", "auto"),
    completions: {
      enabled: c.get<boolean>("completions.enabled", true),
      languages: c.get<Record<string, boolean>>("completions.languages", { "*": true }),
      debounceMs: c.get<number>("completions.debounceMs", 150),
      prefixLines: c.get<number>("completions.prefixLines", 256),
      suffixLines: c.get<number>("completions.suffixLines", 64),
      maxTokens: c.get<number>("completions.maxTokens", 128),
      timeBudgetMs: c.get<number>("completions.timeBudgetMs", 1500),
      candidates: c.get<number>("completions.candidates", 3),
      multiline: c.get<"auto" | "always" | "never">("completions.multiline", "auto"),
      prefetch: c.get<boolean>("completions.prefetch", true),
    },
    exploration: c.get<boolean>("exploration.enabled", true),
    episodeCompletions: c.get<number>("exploration.episodeCompletions", 20),
    episodeMinutes: c.get<number>("exploration.episodeMinutes", 10),
    keepTextsDays: c.get<number>("privacy.keepTextsDays", 30),
    preferences,
    lockedPreferences: c.get<string[]>("lockedPreferences", []).filter((id) => policyIds.includes(id)),
    chat: {
      maxTokens: c.get<number>("chat.maxTokens", 512),
      comparisons: c.get<boolean>("chat.comparisons.enabled", true),
      comparisonMinAnswers: c.get<number>("chat.comparisons.minAnswersBetween", 5),
      comparisonMinMinutes: c.get<number>("chat.comparisons.minMinutesBetween", 10),
    },
    traceFile: trustedOnly(c, "debug.traceFile"),
    backgroundDistillation: c.get<boolean>("distillation.background", true),
  };
}

/** The settings (under SECTION) the engine is loaded with: a change to any of them loads it again. */
export const LOAD_SETTINGS = ["modelPath", "basisPack", "gpu", "gpuLayers", "threads", "contextSize", "server"] as const;

/** Writes the on/off switch where the user will look for it: the workspace if it set one, else the user settings. */
export async function setCompletionsEnabled(on: boolean): Promise<void> {
  const c = vscode.workspace.getConfiguration(SECTION);
  const target =
    c.inspect<boolean>("completions.enabled")?.workspaceValue !== undefined
      ? vscode.ConfigurationTarget.Workspace
      : vscode.ConfigurationTarget.Global;
  await c.update("completions.enabled", on, target);
}
