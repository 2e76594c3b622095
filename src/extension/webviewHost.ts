// What the chat and preferences views share as webview hosts: the page shell with its Content-Security-Policy, and
// the one gate every message from a page passes through. A page is untrusted (model output is rendered in it), so
// it may load nothing but the extension's own bundles and styles, run no script without the nonce, reach no
// network, and anything it posts is validated against its page protocol (webview/protocol/) before the extension
// acts on it.
import { randomBytes } from "node:crypto";
import * as vscode from "vscode";
import type { PageError } from "../../webview/protocol/page";

/** One of our pages: its bundle name, title, and the parser of what it posts. */
export interface Page<From> {
  extensionUri: vscode.Uri;
  name: "chat" | "preferences";
  title: string;
  log: vscode.LogOutputChannel;
  parse: (raw: unknown) => From | { error: string };
}

/**
 * One page in a webview view: locked-down options, the page shell, validated messages to `handle`, and typed
 * posting (`To`: the page's protocol) that a hidden or disposed view drops (the page asks again when shown).
 */
export class PageHost<From extends { type: string }, To> implements vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly page: Page<From>,
    private readonly handle: (msg: From) => Promise<void> | void,
  ) {}

  /** The view VS Code resolved for the page (again after it was disposed). */
  resolve(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = webviewOptions(this.page.extensionUri);
    view.webview.html = webviewHtml(view.webview, this.page.extensionUri, this.page.name, this.page.title);
    this.disposables.push(
      onValidMessage(view.webview, this.page, this.handle),
      view.onDidDispose(() => {
        if (this.view === view) this.view = undefined;
      }),
    );
  }

  get visible(): boolean {
    return this.view !== undefined;
  }

  post(msg: To): void {
    if (this.view) void this.view.webview.postMessage(msg);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

/** Folders a page may load from; everything else (the workspace, node_modules, the network) stays out of reach. */
function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    enableCommandUris: false,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, "media"), vscode.Uri.joinPath(extensionUri, "dist", "webview")],
  };
}

/** The page shell: one nonce-tagged script bundle (dist/webview/<name>.js) and the shared stylesheet. */
function webviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, name: "chat" | "preferences", title: string): string {
  const nonce = randomBytes(16).toString("base64");
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, "dist", "webview", `${name}.js`));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, "media", "webview.css"));
  // style-src has no 'unsafe-inline': the web components style themselves through constructable stylesheets,
  // which CSP does not govern, and the pages set styles only through the CSSOM.
  const csp = [
    "default-src 'none'",
    `style-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
    `img-src ${webview.cspSource} data:`,
    `script-src 'nonce-${nonce}'`,
  ].join("; ");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>${title}</title>
</head>
<body class="page-${name}">
<main id="app" aria-live="polite"></main>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
}

/**
 * Routes a page's messages to `handle` after validation; a malformed one is logged and dropped. Errors from the
 * handler are logged and reported to the page, so one failed action never leaves the page waiting.
 */
function onValidMessage<From extends { type: string }>(
  webview: vscode.Webview,
  page: Page<From>,
  handle: (msg: From) => Promise<void> | void,
): vscode.Disposable {
  const { name: view, log } = page;
  return webview.onDidReceiveMessage(async (raw: unknown) => {
    const msg = page.parse(raw);
    if ("error" in msg) {
      log.warn(`${view} view: ignored a malformed message: ${msg.error}`);
      return;
    }
    try {
      await handle(msg);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      log.error(`${view} view: ${msg.type} failed: ${message}`);
      void webview.postMessage({ type: "error", message } satisfies PageError);
    }
  });
}
