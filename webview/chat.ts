// The chat page (bundled to dist/webview/chat.js). It renders what the extension sends and posts what the user
// does; it holds no state the extension does not also have, so a reload simply asks for the history again.
import "@vscode-elements/elements/dist/vscode-button/index.js";
import "@vscode-elements/elements/dist/vscode-option/index.js";
import "@vscode-elements/elements/dist/vscode-progress-ring/index.js";
import "@vscode-elements/elements/dist/vscode-single-select/index.js";
import "@vscode-elements/elements/dist/vscode-textarea/index.js";
import { MarkdownStream, renderMarkdown, splitAnswer, type RenderedPart } from "../src/core/chat/markdown";
import type { AttachMode, ChatTurn, Contribution } from "../src/shared/chat";
import { connect, h, signed } from "./host";
import type { FromChat, ToChat } from "./protocol/chat";

const { send, onMessage } = connect<ToChat, FromChat>();

/** Contributions shown under an answer: the few that moved it most. */
const TOP_CONTRIBUTIONS = 3;

interface FormValue extends HTMLElement {
  value: string;
}

const app = document.getElementById("app")!;
const log = h("div", { class: "log", role: "log" });
const banner = h("div", { class: "banner", role: "alert", hidden: true });
const busyRow = h("div", { class: "busy", hidden: true }, h("vscode-progress-ring"), h("span", {}, "Writing two answers to compare…"));
const input = h("vscode-textarea", { class: "prompt", rows: 3, resize: "vertical", placeholder: "Ask about your code (Ctrl+Enter sends)", "aria-label": "Message" }) as FormValue;
const attach = h(
  "vscode-single-select",
  { class: "attach", "aria-label": "Attach" },
  h("vscode-option", { value: "none" }, "No context"),
  h("vscode-option", { value: "selection" }, "Attach selection"),
  h("vscode-option", { value: "file" }, "Attach file"),
) as FormValue;
const sendButton = h("vscode-button", { class: "send", onclick: () => submit() }, "Send");
const stopButton = h("vscode-button", { class: "stop", secondary: true, hidden: true, onclick: () => send({ type: "stop" }) }, "Stop");
app.append(
  log,
  banner,
  busyRow,
  h("div", { class: "composer" }, input, h("div", { class: "composer-row" }, attach, h("span", { class: "spacer" }), stopButton, sendButton)),
);

input.addEventListener("keydown", (e: KeyboardEvent) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    submit();
  }
});

let busy = false;
/**
 * The answer being streamed: its element, the text not yet rendered, and its rendering: finished blocks are appended to `done`
 * once, only the unfinished tail is rendered again (per frame), so a long answer streams in linear time.
 */
let streaming: { id: string; el: HTMLElement; pending: string; frame: number; md: MarkdownStream; done: HTMLElement; tail: HTMLElement } | undefined;

function submit(): void {
  const text = input.value.trim();
  if (!text || busy) return;
  send({ type: "send", text, attach: (attach.value || "none") as AttachMode });
  input.value = "";
  attach.value = "none";
}

function setBusy(on: boolean, comparing = false): void {
  busy = on;
  stopButton.hidden = !on;
  sendButton.toggleAttribute("disabled", on);
  busyRow.hidden = !(on && comparing);
  for (const b of log.querySelectorAll<HTMLElement>(".regenerate")) b.toggleAttribute("disabled", on);
}

function showError(message: string): void {
  banner.replaceChildren(h("span", {}, message), h("vscode-button", { secondary: true, onclick: () => (banner.hidden = true) }, "Dismiss"));
  banner.hidden = false;
}

function userTurn(t: Extract<ChatTurn, { role: "user" }>): HTMLElement {
  return h(
    "div",
    { class: "turn user" },
    h("div", { class: "who" }, "You", t.attach !== "none" && h("span", { class: "tag" }, t.attach === "file" ? "+ file" : "+ selection")),
    h("div", { class: "text" }, t.text),
  );
}

/** Renders markdown into `body` and gives every code block its copy / insert / replace buttons. */
function renderAnswer(body: HTMLElement, text: string): void {
  const code = splitAnswer(text).filter((s) => s.kind === "code");
  showPart(body, { html: renderMarkdown(text), firstBlock: 0, code });
}

/** Puts a rendered part into `el` (replacing what was there) with buttons on its code blocks. */
function showPart(el: HTMLElement, part: RenderedPart): void {
  el.innerHTML = part.html;
  for (const pre of el.querySelectorAll<HTMLElement>("pre.code-block")) {
    const seg = part.code[Number(pre.dataset.block) - part.firstBlock];
    if (!seg) continue;
    const code = seg.code;
    const tool = (label: string, type: "copy" | "insert" | "replace", title: string) =>
      h("vscode-button", { secondary: true, title, class: `code-${type}`, onclick: () => send({ type, code }) }, label);
    pre.before(
      h(
        "div",
        { class: "code-tools" },
        h("span", { class: "lang" }, seg.language || "code"),
        tool("Copy", "copy", "Copy to the clipboard"),
        tool("Insert", "insert", "Insert at the cursor"),
        tool("Replace", "replace", "Replace the selection"),
      ),
    );
  }
}

/** Feeds what arrived since the last frame to the stream renderer. */
function renderStreamed(s: NonNullable<typeof streaming>): void {
  const { settled, tail } = s.md.push(s.pending);
  s.pending = "";
  for (const part of settled) {
    const block = h("div", {});
    showPart(block, part);
    s.done.append(block);
  }
  showPart(s.tail, tail);
}

/** The "why" hint: each dimension's w_k phi_k, largest magnitude first, as signed bars. */
function contributionHint(contributions: readonly Contribution[]): HTMLElement | null {
  const top = [...contributions].filter((c) => Math.abs(c.value) > 1e-3).sort((a, b) => Math.abs(b.value) - Math.abs(a.value)).slice(0, TOP_CONTRIBUTIONS);
  if (!top.length) return null;
  const scale = Math.max(...top.map((c) => Math.abs(c.value)));
  return h(
    "div",
    { class: "why", title: "Preference dimensions that drove this answer: weight × feature (w·φ) for each" },
    h("span", { class: "why-label" }, "Driven by"),
    ...top.map((c) => {
      const bar = h("span", { class: `bar ${c.value >= 0 ? "pos" : "neg"}` });
      bar.style.width = `${Math.max(4, (Math.abs(c.value) / scale) * 40)}px`;
      return h("span", { class: "contribution", "data-id": c.id }, bar, `${c.label} ${signed(c.value)}`);
    }),
  );
}

/** A thumb drawn inline (no icon font is bundled, and emoji fonts are not everywhere); down is up turned over. */
function thumbIcon(up: boolean): SVGElement {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("class", `icon${up ? "" : " flip"}`);
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", "M1.5 7h2.5v7.5H1.5zM5.5 14.5V7l3-5.5c1.2 0 2 .9 1.7 2.2L9.6 6.5h4c.9 0 1.6.9 1.3 1.8l-1.6 5.2c-.2.6-.7 1-1.3 1z");
  svg.append(path);
  return svg;
}

function answerFooter(id: string, contributions: readonly Contribution[], rating: "up" | "down" | undefined): HTMLElement {
  const thumb = (up: boolean) =>
    h(
      "vscode-button",
      {
        secondary: true,
        class: `thumb ${up ? "up" : "down"}${rating === (up ? "up" : "down") ? " chosen" : ""}`,
        title: up ? "Good answer: more like this" : "Bad answer: less like this",
        "aria-label": up ? "Thumbs up" : "Thumbs down",
        "aria-pressed": rating === (up ? "up" : "down") ? "true" : "false",
        onclick: (e: Event) => {
          send({ type: "rate", answerId: id, up });
          const footer = (e.currentTarget as HTMLElement).parentElement!;
          for (const b of footer.querySelectorAll(".thumb")) b.classList.remove("chosen");
          (e.currentTarget as HTMLElement).classList.add("chosen");
        },
      },
      thumbIcon(up),
    );
  return h(
    "div",
    { class: "footer" },
    thumb(true),
    thumb(false),
    h("vscode-button", { secondary: true, class: "regenerate", title: "Another answer to the last question", onclick: () => send({ type: "regenerate" }) }, "Regenerate"),
    contributionHint(contributions),
  );
}

function assistantTurn(t: Extract<ChatTurn, { role: "assistant" }>): HTMLElement {
  const body = h("div", { class: "md" });
  renderAnswer(body, t.text);
  return h("div", { class: "turn assistant", "data-answer": t.answerId }, h("div", { class: "who" }, "Soup"), body, answerFooter(t.answerId, t.contributions, t.rating));
}

function showHistory(turns: readonly ChatTurn[], notice: string | undefined): void {
  streaming = undefined;
  log.replaceChildren(
    ...(notice ? [h("div", { class: "note base-model", role: "note" }, notice)] : []),
    ...(turns.length
      ? turns.map((t) => (t.role === "user" ? userTurn(t) : assistantTurn(t)))
      : [h("div", { class: "empty" }, "Ask about your code. Rate answers with the thumbs under them: the assistant learns what this workspace prefers.")]),
  );
  scrollDown();
}

function scrollDown(): void {
  log.lastElementChild?.scrollIntoView({ block: "end" });
}

function handle(msg: ToChat): void {
  switch (msg.type) {
    case "history":
      showHistory(msg.turns, msg.notice);
      return;
    case "answerStart": {
      log.querySelector(".empty")?.remove();
      const done = h("div", {});
      const tail = h("div", {});
      const body = h("div", { class: "md streaming" }, done, tail);
      const el = h("div", { class: "turn assistant", "data-answer": msg.answerId }, h("div", { class: "who" }, "Soup"), body);
      log.append(el);
      streaming = { id: msg.answerId, el: body, pending: "", frame: 0, md: new MarkdownStream(), done, tail };
      setBusy(true);
      scrollDown();
      return;
    }
    case "answerDelta": {
      const s = streaming;
      if (s?.id !== msg.answerId) return;
      s.pending += msg.text;
      // One render per frame however fast tokens come.
      s.frame ||= requestAnimationFrame(() => {
        s.frame = 0;
        renderStreamed(s);
        scrollDown();
      });
      return;
    }
    case "answerEnd": {
      const s = streaming;
      if (s?.id === msg.answerId) {
        cancelAnimationFrame(s.frame);
        renderStreamed(s);
        s.el.classList.remove("streaming");
        if (msg.stopped) s.el.append(h("div", { class: "note" }, "(stopped)"));
        s.el.after(answerFooter(msg.answerId, msg.contributions, undefined));
        streaming = undefined;
      }
      setBusy(false);
      scrollDown();
      return;
    }
    case "comparison": {
      const side = (key: "a" | "b", text: string) => {
        const body = h("div", { class: "md" });
        renderAnswer(body, text);
        return h(
          "div",
          { class: `side side-${key}` },
          h("div", { class: "who" }, `Answer ${key.toUpperCase()}`),
          body,
          h("vscode-button", { class: `pick pick-${key}`, onclick: () => send({ type: "choose", comparisonId: msg.comparisonId, pick: key }) }, `${key.toUpperCase()} is better`),
        );
      };
      log.append(
        h(
          "div",
          { class: "turn comparison" },
          h("div", { class: "question" }, "Which answer do you prefer? ", h("span", { class: "hint" }, `(helps learn: ${msg.dimension})`)),
          h("div", { class: "sides" }, side("a", msg.a.text), side("b", msg.b.text)),
        ),
      );
      scrollDown();
      return;
    }
    case "busy":
      setBusy(msg.busy, true);
      return;
    case "error":
      setBusy(false);
      showError(msg.message);
      return;
  }
}

onMessage(handle);
send({ type: "ready" });
