// Activation: wires settings, the engine, the workspace's preferences, the status bar, the commands and the
// inline completion provider. Nothing here throws out of activate: a missing or broken model is a state the
// status bar shows, not an activation failure.
import * as path from "node:path";
import * as vscode from "vscode";
import { loadBasisPack } from "../core/basis/pack";
import { COMMANDS, offerFirstRun, registerCommands } from "./commands";
import { CompletionProvider } from "./completions";
import { EngineController } from "./engine";
import { Preferences } from "./preferences";
import { affectsLoad, readSettings, SECTION, type SoupSettings } from "./settings";
import { StatusBar } from "./statusBar";

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("Spectral Soup", { log: true });
  context.subscriptions.push(output);
  const defaultPack = path.join(context.extensionPath, "models", "default-pack.json");
  // Per workspace: learned preferences. Without a folder open there is no workspace storage, so such windows
  // share one state under the user-level folder.
  const workspaceDir = context.storageUri?.fsPath ?? path.join(context.globalStorageUri.fsPath, "no-workspace");

  let policyIds = await readPolicyIds(readSettings([]).load.basisPack || defaultPack, output);
  let settings: SoupSettings = readSettings(policyIds);
  const openPreferences = (ids: readonly string[]) =>
    Preferences.open(path.join(workspaceDir, "preferences"), ids, settings.preferences, settings.lockedPreferences, () => settings.keepTextsDays > 0, output);
  let preferences = await openPreferences(policyIds);

  const engine = new EngineController(context.extensionPath, output, () => settings.traceFile);
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

  const load = () => {
    void engine.load(settings.load, defaultPack);
    if (!settings.load.modelPath) void offerFirstRun();
  };
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration(SECTION)) return;
      if (e.affectsConfiguration(`${SECTION}.basisPack`)) {
        policyIds = await readPolicyIds(readSettings([]).load.basisPack || defaultPack, output);
        settings = readSettings(policyIds);
        preferences = await openPreferences(policyIds);
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

/** The policy ids of a basis pack, for the preference sliders; none when it cannot be read (logged). */
async function readPolicyIds(file: string, output: vscode.LogOutputChannel): Promise<string[]> {
  try {
    return (await loadBasisPack(file)).policies.map((p) => p.id);
  } catch (e) {
    output.error((e as Error).message);
    return [];
  }
}
