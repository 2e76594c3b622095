// Activation: opens the session (settings, basis, preferences, engine) and hands it to the status bar, the inline
// completion provider, the views and the commands. Nothing here throws out of activate: a missing or broken model
// is a state the status bar shows, not an activation failure.
import * as vscode from "vscode";
import { BackgroundDistill } from "./backgroundDistill";
import { offerFirstRun, registerCommands } from "./commands";
import { CompletionProvider } from "./completions";
import { Session } from "./session";
import { StatusBar } from "./statusBar";
import { createViews } from "./views";

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("Spectral Soup", { log: true });
  context.subscriptions.push(output);
  const session = await Session.open(context, output);
  const background = new BackgroundDistill(session);
  // Before the first load: head adapters a previous run finished are loaded with the model, not after it.
  await background.refresh();
  const statusBar = new StatusBar(session, background);
  const completions = new CompletionProvider(session);
  const views = await createViews(session, background);
  const reload = (run: () => Promise<void> | undefined) =>
    void run()?.catch((e: unknown) => output.error(`cannot apply the settings: ${e instanceof Error ? e.message : String(e)}`));
  context.subscriptions.push(
    session,
    background,
    statusBar,
    completions,
    vscode.languages.registerInlineCompletionItemProvider({ pattern: "**" }, completions),
    ...views.disposables,
    ...registerCommands(session, { completions, chat: views.chat, preferences: views.preferences, basisJobs: views.basisJobs, background }),
    vscode.workspace.onDidChangeConfiguration((e) => reload(() => session.onConfiguration(e))),
    // Granting trust can reveal a model path or pack set in the workspace's settings.
    vscode.workspace.onDidGrantWorkspaceTrust(() => reload(() => session.reload())),
    session.onDidChange((change) => {
      if (change.load && !session.settings.load.modelPath && session.settings.load.server.urls.length === 0) void offerFirstRun();
    }),
  );
  output.info(`activated; workspace state in ${session.workspaceDir}`);
  session.start();
}

export function deactivate(): void {
  // Everything is in context.subscriptions; VS Code disposes it, which stops the engine process.
}
