// The page side of a page's protocol (webview/protocol/), shared by the chat and preferences pages: typed posting
// to the extension, typed receiving, and a tiny element builder. Pages never parse HTML from strings except the renderer's output
// (src/core/chat/markdown.ts escapes everything it is given), so text always lands as text.
interface VsCodeApi {
  postMessage(msg: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

// acquireVsCodeApi may be called once per page.
const api = acquireVsCodeApi();

/** The page's two directions, typed by its protocol (`To`: from the extension, `From`: to it). */
export function connect<To, From>(): { send: (msg: From) => void; onMessage: (handle: (msg: To) => void) => void } {
  return {
    send: (msg) => api.postMessage(msg),
    // Messages come from the extension only (VS Code's webview host), so they are typed, not validated.
    onMessage: (handle) => window.addEventListener("message", (e: MessageEvent<To>) => handle(e.data)),
  };
}

type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;
type Child = Node | string | null | undefined | false;

/**
 * Builds an element: `on<event>` keys become listeners, booleans toggle attributes, other values are set as
 * attributes (never `style`: the CSP forbids inline styles, layout goes through classes and the CSSOM).
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Attrs, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== undefined && v !== false) el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** Signed number with fixed decimals, for weights and contributions. */
export function signed(x: number, digits = 2): string {
  return `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(digits)}`;
}
