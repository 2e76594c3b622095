// The commands of the palette and the status bar, and the first-run prompt that offers the two ways to get a
// model (a GGUF file on disk, or one of the recommended models of the catalogue).
import * as vscode from "vscode";
import { formatBytes } from "../core/setup/download";
import { loadCatalogue } from "../core/setup/catalogue";
import { chooseLocalModel, SET_UP_MODEL } from "./modelSetup";
import type { Preferences } from "./preferences";
import { setCompletionsEnabled } from "./settings";

export const COMMANDS = {
  toggle: "spectralSoup.toggleCompletions",
  chooseModel: "spectralSoup.chooseModel",
  recommendedModels: "spectralSoup.showRecommendedModels",
  resetPreferences: "spectralSoup.resetWorkspacePreferences",
  showLog: "spectralSoup.showEngineLog",
} as const;

export function registerCommands(deps: {
  catalogueFile: string;
  output: vscode.LogOutputChannel;
  preferences: () => Preferences;
  completionsEnabled: () => boolean;
}): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(COMMANDS.toggle, () => setCompletionsEnabled(!deps.completionsEnabled())),
    vscode.commands.registerCommand(COMMANDS.chooseModel, chooseLocalModel),
    vscode.commands.registerCommand(COMMANDS.recommendedModels, () => showRecommended(deps.catalogueFile, deps.output)),
    vscode.commands.registerCommand(COMMANDS.resetPreferences, async () => {
      const reset = "Reset";
      const answer = await vscode.window.showWarningMessage(
        "Forget what Spectral Soup learned in this workspace? Your preference settings stay as they are.",
        { modal: true },
        reset,
      );
      if (answer !== reset) return;
      await deps.preferences().reset();
      vscode.window.showInformationMessage("Spectral Soup: this workspace's learned preferences were reset.");
    }),
    vscode.commands.registerCommand(COMMANDS.showLog, () => deps.output.show(true)),
  ];
}

/** Offered once per activation when no model is configured; never an error, the editor works without one. */
export async function offerFirstRun(): Promise<void> {
  const choose = "Choose a GGUF file";
  const recommended = "Download a recommended model";
  const answer = await vscode.window.showInformationMessage(
    "Spectral Soup needs a local GGUF code model for completions. Choose one you have, or pick a recommended one to download.",
    choose,
    recommended,
  );
  if (answer === choose) await vscode.commands.executeCommand(COMMANDS.chooseModel);
  else if (answer === recommended) await vscode.commands.executeCommand(SET_UP_MODEL);
}

async function showRecommended(catalogueFile: string, output: vscode.LogOutputChannel): Promise<void> {
  let models;
  try {
    models = (await loadCatalogue(catalogueFile)).models;
  } catch (e) {
    output.error((e as Error).message);
    vscode.window.showErrorMessage("Spectral Soup: the model catalogue cannot be read; see the engine log.");
    return;
  }
  const pick = await vscode.window.showQuickPick(
    models.map((m) => ({
      label: m.name,
      description: m.sizeBytes === null ? m.license : `${formatBytes(m.sizeBytes)} · ${m.license}`,
      detail: m.note,
      model: m,
    })),
    { title: "Recommended models: opens the download; then choose the file with “Spectral Soup: Choose Model File”" },
  );
  if (pick) await vscode.env.openExternal(vscode.Uri.parse(pick.model.url));
}
