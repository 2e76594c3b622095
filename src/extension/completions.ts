// Inline completions: VS Code's events to the completion session (src/core/completion/session.ts) and its
// suggestions back as inline completion items. Everything else of the pipeline lives in the session.
import * as vscode from "vscode";
import { CompletionSession } from "../core/completion/session";
import type { CompletionEvent } from "../core/completion/feedback";
import { COMMANDS } from "./commands";
import type { Session } from "./session";

export class CompletionProvider implements vscode.InlineCompletionItemProvider, vscode.Disposable {
  private readonly completions: CompletionSession;
  private lastEditor = vscode.window.activeTextEditor;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(session: Session) {
    this.completions = new CompletionSession({ generator: session.engine, weights: session, feedback: session.feedback, settings: () => session.settings, log: session.log });
    this.disposables.push(
      // A draw made before the preferences moved, were reset or replaced by another basis is not reused.
      session.onDidChange((change) => {
        if (change.preferences) this.completions.weightsChanged();
      }),
      vscode.workspace.onDidChangeTextDocument((e) => this.onDocumentChange(e)),
      vscode.window.onDidChangeActiveTextEditor((e) => this.onEditorChange(e)),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (e.kind === vscode.TextEditorSelectionChangeKind.Mouse) this.observe({ type: "dismissed" });
      }),
    );
  }

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    _context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const abort = new AbortController();
    const cancel = token.onCancellationRequested(() => abort.abort());
    if (token.isCancellationRequested) abort.abort();
    try {
      const items = await this.completions.complete(
        { lines: document.getText().split(/\r?\n/), cursor: position, languageId: document.languageId, file: vscode.workspace.asRelativePath(document.uri), repo: vscode.workspace.name },
        abort.signal,
      );
      return items?.map(({ id, text }) => {
        const item = new vscode.InlineCompletionItem(text, new vscode.Range(position, position));
        item.command = { title: "Accepted", command: COMMANDS.completionAccepted, arguments: [id] };
        return item;
      });
    } finally {
      cancel.dispose();
    }
  }

  /** The accept command of the items (Tab). */
  accepted(id: string): void {
    this.completions.accepted(id);
  }

  /** Escape while a suggestion is shown. */
  async dismiss(): Promise<void> {
    this.observe({ type: "dismissed" });
    await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  private onDocumentChange(e: vscode.TextDocumentChangeEvent): void {
    const editor = vscode.window.activeTextEditor;
    if (!editor || e.document !== editor.document || e.contentChanges.length === 0) return;
    // Text the user typed, pasted or accepted at the cursor: feedback decides whether it follows the suggestion.
    for (const change of e.contentChanges) this.observe({ type: "typed", text: change.text });
  }

  /**
   * The ring of context chunks is refreshed when the user leaves an editor (where they worked) and enters one
   * (what they look at), not on every keystroke: a chunk costs a copy of the document's lines.
   */
  private onEditorChange(editor: vscode.TextEditor | undefined): void {
    this.observe({ type: "dismissed" });
    if (this.lastEditor) this.addContext(this.lastEditor);
    this.lastEditor = editor;
    if (editor) this.addContext(editor);
  }

  private addContext(editor: vscode.TextEditor): void {
    const doc = editor.document;
    if (doc.isClosed || doc.uri.scheme === "output") return;
    this.completions.addContext(vscode.workspace.asRelativePath(doc.uri), doc.getText().split(/\r?\n/), editor.selection.active.line);
  }

  private observe(event: CompletionEvent): void {
    this.completions.observe(event);
  }
}
