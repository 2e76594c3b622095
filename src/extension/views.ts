// The side bar's two webview views (chat, preferences) and the basis jobs the preferences view's Basis tab shares
// with "Distill Basis for This Workspace". Created once at activation; each takes the session, so none holds a
// copy of state that a settings change could leave stale.
import * as path from "node:path";
import * as vscode from "vscode";
import { ChatHistory } from "../core/chat/history";
import type { BackgroundDistill } from "./backgroundDistill";
import { BasisJobs } from "./basisJobs";
import { CHAT_VIEW, ChatView } from "./chatView";
import { PREFERENCES_VIEW, PreferencesView } from "./preferencesView";
import type { Session } from "./session";

export interface Views {
  chat: ChatView;
  preferences: PreferencesView;
  basisJobs: BasisJobs;
  disposables: vscode.Disposable[];
}

export async function createViews(session: Session, background: BackgroundDistill): Promise<Views> {
  const { history, message } = await ChatHistory.open(path.join(session.workspaceDir, "chat-history.json"));
  if (message) {
    session.log.warn(message);
    vscode.window.showWarningMessage(`Spectral Soup: ${message}`);
  }
  const chat = new ChatView(session, history);
  const basisJobs = new BasisJobs(session, background);
  const preferences = new PreferencesView(session, basisJobs);
  return {
    chat,
    preferences,
    basisJobs,
    disposables: [
      chat,
      preferences,
      basisJobs,
      // Kept alive while hidden: a streaming answer or a slider drag is not lost by switching side bar views.
      vscode.window.registerWebviewViewProvider(CHAT_VIEW, chat, { webviewOptions: { retainContextWhenHidden: true } }),
      vscode.window.registerWebviewViewProvider(PREFERENCES_VIEW, preferences, { webviewOptions: { retainContextWhenHidden: true } }),
    ],
  };
}
