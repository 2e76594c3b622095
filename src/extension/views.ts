// Registers the side bar's two webview views (chat, preferences), their commands, "Set Up Model" and "Distill Basis
// for This Workspace" (whose jobs the preferences view's Basis tab shares). One call from
// activation; everything it needs from the rest of the extension comes in as getters, because the settings and
// the workspace's Preferences are replaced when the user changes them.
import * as path from "node:path";
import * as vscode from "vscode";
import { loadBasisPack, type BasisPack } from "../core/basis/pack";
import { ChatHistory } from "../core/chat/history";
import { CHAT_VIEW, ChatView } from "./chatView";
import { BasisJobs, DISTILL_COMMAND } from "./basisJobs";
import type { EngineController } from "./engine";
import { SET_UP_MODEL, setUpModel } from "./modelSetup";
import type { Preferences } from "./preferences";
import { PREFERENCES_VIEW, PreferencesView } from "./preferencesView";
import type { SoupSettings } from "./settings";

export const VIEW_COMMANDS = {
  clearChat: "spectralSoup.chat.clear",
  exportProfile: "spectralSoup.preferences.export",
  importProfile: "spectralSoup.preferences.import",
} as const;

export async function registerViews(deps: {
  context: vscode.ExtensionContext;
  /** The workspace's state folder (the chat history lives next to the preferences). */
  workspaceDir: string;
  defaultPack: string;
  engine: EngineController;
  preferences: () => Preferences;
  settings: () => SoupSettings;
  log: vscode.LogOutputChannel;
}): Promise<vscode.Disposable[]> {
  const { context, log } = deps;
  const { history, message } = await ChatHistory.open(path.join(deps.workspaceDir, "chat-history.json"));
  if (message) {
    log.warn(message);
    vscode.window.showWarningMessage(`Spectral Soup: ${message}`);
  }
  const basis = basisLoader(() => deps.settings().load.basisPack || deps.defaultPack, log);
  const labels = async () => Object.fromEntries((await basis())?.policies.map((p) => [p.id, p.label]) ?? []);
  const chat = new ChatView({ extensionUri: context.extensionUri, history, engine: deps.engine, preferences: deps.preferences, settings: deps.settings, labels, log });
  const basisJobs = new BasisJobs({ extensionPath: context.extensionPath, storageDir: context.globalStorageUri.fsPath, defaultPack: deps.defaultPack, settings: deps.settings, log });
  const prefs = new PreferencesView({ extensionUri: context.extensionUri, preferences: deps.preferences, settings: deps.settings, basis, basisJobs, log });
  // Commands run outside the webview gate, so their errors are shown here.
  const guarded = (f: () => Promise<void>) => () =>
    f().catch((e: unknown) => {
      log.error((e as Error).message);
      vscode.window.showErrorMessage(`Spectral Soup: ${(e as Error).message}`);
    });
  return [
    chat,
    prefs,
    // Kept alive while hidden: a streaming answer or a slider drag is not lost by switching side bar views.
    vscode.window.registerWebviewViewProvider(CHAT_VIEW, chat, { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.window.registerWebviewViewProvider(PREFERENCES_VIEW, prefs, { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.commands.registerCommand(VIEW_COMMANDS.clearChat, guarded(() => chat.clear())),
    vscode.commands.registerCommand(VIEW_COMMANDS.exportProfile, guarded(() => prefs.exportProfile())),
    vscode.commands.registerCommand(VIEW_COMMANDS.importProfile, guarded(() => prefs.importProfile())),
    basisJobs,
    vscode.commands.registerCommand(DISTILL_COMMAND, guarded(() => basisJobs.distill())),
    vscode.commands.registerCommand(
      SET_UP_MODEL,
      guarded(() => setUpModel(path.join(context.extensionPath, "models", "catalogue.json"), context.globalStorageUri.fsPath, log)),
    ),
  ];
}

/** The current basis pack (labels, descriptions, defaults), read once per manifest path; undefined when unreadable. */
function basisLoader(file: () => string, log: vscode.LogOutputChannel): () => Promise<BasisPack | undefined> {
  let cached: { file: string; pack: Promise<BasisPack | undefined> } | undefined;
  return () => {
    const f = file();
    if (cached?.file !== f) {
      cached = {
        file: f,
        pack: loadBasisPack(f).catch((e: unknown) => {
          log.error((e as Error).message);
          return undefined;
        }),
      };
    }
    return cached.pack;
  };
}
