// The chat side panel: the page's messages to the conversation (src/core/chat/session.ts) and its updates back to
// the page, plus what only the editor can do: attach the active editor's selection or file, copy, insert or replace
// code. What the page may show or send is webview/protocol/chat.ts.
import * as vscode from "vscode";
import type { ChatHistory } from "../core/chat/history";
import { ChatSession } from "../core/chat/session";
import type { AttachMode, ChatEditor } from "../shared/chat";
import { parseFromChat, type FromChat, type ToChat } from "../../webview/protocol/chat";
import type { Session } from "./session";
import { PageHost } from "./webviewHost";

export const CHAT_VIEW = "spectralSoup.chat";

export class ChatView implements vscode.WebviewViewProvider, vscode.Disposable {
  private readonly page: PageHost<FromChat, ToChat>;
  private readonly conversation: ChatSession;

  constructor(
    session: Session,
    history: ChatHistory,
  ) {
    this.page = new PageHost(
      { extensionUri: session.context.extensionUri, name: "chat", title: "Spectral Soup chat", log: session.log, parse: parseFromChat },
      (msg) => this.handle(msg),
    );
    this.conversation = new ChatSession({
      history,
      generator: session.engine,
      weights: session,
      feedback: session.feedback,
      settings: () => session.settings,
      chatTemplate: () => session.engine.chatTemplate(),
      labels: () => Object.fromEntries(session.basis.pack.policies.map((p) => [p.id, p.label])),
      log: session.log,
      onUpdate: (update) => this.page.post(update),
    });
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.page.resolve(view);
  }

  /** Clears the conversation (the view's title bar button). */
  clear(): Promise<void> {
    return this.conversation.clear();
  }

  dispose(): void {
    this.conversation.stop();
    this.page.dispose();
  }

  private async handle(msg: FromChat): Promise<void> {
    switch (msg.type) {
      case "ready":
        return this.conversation.pageShown();
      case "send":
        return this.conversation.send(msg.text, msg.attach, activeEditor(msg.attach));
      case "stop":
        return this.conversation.stop();
      case "regenerate":
        return this.conversation.regenerate();
      case "clear":
        return this.conversation.clear();
      case "rate":
        return this.conversation.rate(msg.answerId, msg.up);
      case "choose":
        return this.conversation.choose(msg.comparisonId, msg.pick);
      case "copy":
        await vscode.env.clipboard.writeText(msg.code);
        return;
      case "insert":
      case "replace":
        return edit(msg.code, msg.type);
    }
  }
}

/** The active editor's file and language, with its selection or file as `mode` asks (null: no editor, none asked). */
function activeEditor(mode: AttachMode): ChatEditor | null {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    if (mode === "none") return null;
    throw new Error(`No editor is open to attach its ${mode}.`);
  }
  const doc = editor.document;
  const code = mode === "none" ? "" : mode === "file" ? doc.getText() : doc.getText(editor.selection);
  if (mode !== "none" && !code.trim()) throw new Error("The selection is empty: select some code to attach, or attach the file.");
  return { file: vscode.workspace.asRelativePath(doc.uri), language: doc.languageId, code };
}

async function edit(code: string, how: "insert" | "replace"): Promise<void> {
  // A view in the side bar does not take the active editor away, so this is the editor the user worked in.
  const editor = vscode.window.activeTextEditor;
  if (!editor) throw new Error(`Open an editor to ${how} the code into.`);
  await editor.edit((b) => {
    for (const sel of editor.selections) {
      if (how === "replace") b.replace(sel, code);
      else b.insert(sel.active, code);
    }
  });
}
