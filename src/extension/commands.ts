// Every command of the extension, declared and registered here: the palette's, the status bar's, the views' title
// buttons, and the two the completion items call. Each runs through one guard, so a failure is logged and shown
// the same way wherever the command was started from. Also the first-run prompt that offers the two ways to get
// a model (a GGUF file on disk, or one of the recommended models of the catalogue).
import * as vscode from "vscode";
import { loadCatalogue } from "../core/setup/catalogue";
import { formatBytes } from "../core/setup/download";
import type { BackgroundDistill } from "./backgroundDistill";
import type { BasisJobs } from "./basisJobs";
import type { ChatView } from "./chatView";
import type { CompletionProvider } from "./completions";
import { buildLlamaForCpu } from "./llamaBuild";
import { chooseLocalModel, setUpModel } from "./modelSetup";
import type { PreferencesView } from "./preferencesView";
import { setServerApiKey } from "./serverBackend";
import type { Session } from "./session";
import { setCompletionsEnabled } from "./settings";

/** Command ids; those of the palette are also declared in package.json. */
export const COMMANDS = {
  toggle: "spectralSoup.toggleCompletions",
  chooseModel: "spectralSoup.chooseModel",
  recommendedModels: "spectralSoup.showRecommendedModels",
  resetPreferences: "spectralSoup.resetWorkspacePreferences",
  showLog: "spectralSoup.showEngineLog",
  setUpModel: "spectralSoup.setUpModel",
  distillBasis: "spectralSoup.distillBasis",
  stopBackgroundDistillation: "spectralSoup.stopBackgroundDistillation",
  resumeBackgroundDistillation: "spectralSoup.resumeBackgroundDistillation",
  clearChat: "spectralSoup.chat.clear",
  exportProfile: "spectralSoup.preferences.export",
  importProfile: "spectralSoup.preferences.import",
  /** The command of every inline completion item: its suggestion was accepted. */
  completionAccepted: "spectralSoup.completionAccepted",
  dismissCompletion: "spectralSoup.dismissCompletion",
  setServerApiKey: "spectralSoup.setServerApiKey",
  buildLlama: "spectralSoup.buildLlamaForCpu",
} as const;

export type CommandId = (typeof COMMANDS)[keyof typeof COMMANDS];

/** What the commands act on besides the session. */
export interface CommandTargets {
  completions: CompletionProvider;
  chat: ChatView;
  preferences: PreferencesView;
  basisJobs: BasisJobs;
  background: BackgroundDistill;
}

export function registerCommands(session: Session, t: CommandTargets): vscode.Disposable[] {
  const { log } = session;
  const handlers: Record<CommandId, (...args: never[]) => unknown> = {
    [COMMANDS.toggle]: () => setCompletionsEnabled(!session.settings.completions.enabled),
    [COMMANDS.chooseModel]: chooseLocalModel,
    [COMMANDS.recommendedModels]: () => showRecommended(session.catalogueFile, log),
    [COMMANDS.resetPreferences]: () => resetPreferences(session),
    [COMMANDS.showLog]: () => log.show(true),
    [COMMANDS.setUpModel]: () => setUpModel(session.catalogueFile, session.context.globalStorageUri.fsPath, log),
    [COMMANDS.distillBasis]: () => t.basisJobs.distill(),
    [COMMANDS.stopBackgroundDistillation]: () => t.background.stop(),
    [COMMANDS.resumeBackgroundDistillation]: () => t.background.resume(),
    [COMMANDS.buildLlama]: () => buildLlamaForCpu(session.context.extensionPath, log),
    [COMMANDS.clearChat]: () => t.chat.clear(),
    [COMMANDS.exportProfile]: () => t.preferences.exportProfile(),
    [COMMANDS.importProfile]: () => t.preferences.importProfile(),
    [COMMANDS.completionAccepted]: (id: string) => t.completions.accepted(id),
    [COMMANDS.dismissCompletion]: () => t.completions.dismiss(),
    [COMMANDS.setServerApiKey]: async () => {
      if (await setServerApiKey(session.context.secrets)) await session.reload((key) => key === "server");
    },
  };
  return Object.entries(handlers).map(([id, run]) =>
    vscode.commands.registerCommand(id, async (...args: never[]) => {
      try {
        await run(...args);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        log.error(`${id} failed: ${message}`);
        void vscode.window.showErrorMessage(`Spectral Soup: ${message}`);
      }
    }),
  );
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
  else if (answer === recommended) await vscode.commands.executeCommand(COMMANDS.setUpModel);
}

async function resetPreferences(session: Session): Promise<void> {
  const reset = "Reset";
  const answer = await vscode.window.showWarningMessage(
    "Forget what Spectral Soup learned in this workspace? Your preference settings stay as they are.",
    { modal: true },
    reset,
  );
  if (answer !== reset) return;
  await session.resetPreferences();
  vscode.window.showInformationMessage("Spectral Soup: this workspace's learned preferences were reset.");
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
