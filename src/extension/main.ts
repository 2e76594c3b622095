// Activation: wires settings, the engine, the workspace's preferences, the status bar, the commands and the
// inline completion provider. Nothing here throws out of activate: a missing or broken model is a state the
// status bar shows, not an activation failure.
import * as path from "node:path";
import * as vscode from "vscode";
import { loadBasisPack, type BasisPack } from "../core/basis/pack";
import { COMMANDS, offerFirstRun, registerCommands } from "./commands";
import { CompletionProvider } from "./completions";
import { EngineController } from "./engine";
import { Preferences } from "./preferences";
import { registerServerKeyCommand } from "./serverBackend";
import { affectsLoad, readSettings, SECTION, type SoupSettings } from "./settings";
import { StatusBar } from "./statusBar";
import { registerViews } from "./views";

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("Spectral Soup", { log: true });
  context.subscriptions.push(output);
  const defaultPack = path.join(context.extensionPath, "models", "default-pack.json");
  // Per workspace: learned preferences. Without a folder open there is no workspace storage, so such windows
  // share one state under the user-level folder.
  const workspaceDir = context.storageUri?.fsPath ?? path.join(context.globalStorageUri.fsPath, "no-workspace");

  const readBasis = () => readBasisPack(readSettings([]).load.basisPack, defaultPack, output);
  let basis = await readBasis();
  let policyIds = basis.policies.map((p) => p.id);
  let settings: SoupSettings = readSettings(policyIds);
  const openPreferences = () =>
    Preferences.open({
      // The user level lives with the user; each workspace's level under it, keyed by the workspace's identity.
      storeDir: path.join(context.globalStorageUri.fsPath, "adapt"),
      workspaceKey: context.storageUri?.toString() ?? "no-workspace",
      dir: path.join(workspaceDir, "preferences"),
      basis: { id: basis.id, version: basis.version },
      policyIds,
      sliders: settings.preferences,
      locked: settings.lockedPreferences,
      keepTexts: settings.keepTextsDays > 0,
      log: output,
    });
  let preferences = await openPreferences();

  const engine = new EngineController(context.extensionPath, output, () => settings.traceFile, context.secrets);
  const statusBar = new StatusBar(COMMANDS);
  statusBar.showEngine(engine.state);
  statusBar.showCompletions(settings.completions.enabled);
  engine.onDidChangeState((s) => statusBar.showEngine(s));

  const completions = new CompletionProvider(engine, () => preferences, () => settings, output);
  context.subscriptions.push(
    engine,
    statusBar,
    completions,
    vscode.languages.registerInlineCompletionItemProvider({ pattern: "**" }, completions),
    ...registerCommands({
      catalogueFile: path.join(context.extensionPath, "models", "catalogue.json"),
      output,
      preferences: () => preferences,
      completionsEnabled: () => settings.completions.enabled,
    }),
  );

  context.subscriptions.push(
    ...(await registerViews({ context, workspaceDir, defaultPack, engine, preferences: () => preferences, settings: () => settings, log: output })),
  );

  const load = () => {
    void engine.load(settings.load, defaultPack);
    if (!settings.load.modelPath && settings.load.server.urls.length === 0) void offerFirstRun();
  };
  context.subscriptions.push(
    registerServerKeyCommand(context.secrets, load),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration(SECTION)) return;
      if (e.affectsConfiguration(`${SECTION}.basisPack`)) {
        basis = await readBasis();
        policyIds = basis.policies.map((p) => p.id);
        settings = readSettings(policyIds);
        preferences = await openPreferences();
      } else {
        settings = readSettings(policyIds);
        if (e.affectsConfiguration(`${SECTION}.preferences`) || e.affectsConfiguration(`${SECTION}.lockedPreferences`)) {
          preferences.setSliders(settings.preferences, settings.lockedPreferences);
          output.info(`preference settings: ${JSON.stringify(settings.preferences)}`);
        }
      }
      statusBar.showCompletions(settings.completions.enabled);
      if (affectsLoad(e)) load();
    }),
    // Granting trust can reveal a model path or pack set in the workspace's settings.
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      settings = readSettings(policyIds);
      load();
    }),
  );
  output.info(`activated; workspace state in ${workspaceDir}`);
  load();
}

export function deactivate(): void {
  // Everything is in context.subscriptions; VS Code disposes it, which stops the engine process.
}

/** The configured basis pack; the bundled one when it is not set or cannot be read (the error is logged). */
async function readBasisPack(configured: string, defaultPack: string, output: vscode.LogOutputChannel): Promise<BasisPack> {
  if (configured) {
    try {
      return await loadBasisPack(configured);
    } catch (e) {
      output.error(`${(e as Error).message}; using the bundled basis pack`);
    }
  }
  return loadBasisPack(defaultPack);
}
