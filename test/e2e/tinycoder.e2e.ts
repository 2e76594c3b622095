// e2e flow on the demo model (models/demo: tinycoder and its four style adapters) in a session of its own: a
// scripted person who likes comments (test/e2e/taste.ts) types line starts in a TypeScript file, accepts (Tab)
// the suggestions with a comment and dismisses (Escape) the others. The file is emptied and a line of code typed
// before each, so a probe's prompt is the same every time, and the completion seed comes from the prompt: a probe's
// ghost text changes only when the weights do. Measured twice on the same 12 probes, under the posterior mean: at the start
// (weights 0, checked in the engine trace) and after EVENTS suggestions answered under Thompson draws. Asserted: the
// ghost text is printable and code-shaped, the Preferences view shows comments learned up, each measurement ran under one weight vector, and under the learned weights at least MARGIN more
// probes get a suggestion the person likes. bench/editorLoop.ts runs the same flow without the editor to size EVENTS
// and MARGIN, with two control persons (one who takes the suggestions without comments, one who answers at random).
// Last, a question in the chat: tinycoder has no chat template, so the chat asks it in code and shows its answer as
// a TypeScript code block under a notice saying so.
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Frame, Page } from "playwright-core";
import { DEMO_SETTINGS } from "../../scripts/demo";
import { readJsonl } from "./files";
import { HEADER, likes, PROBES, scoreTaste, typedText, type TasteScore } from "./taste";

export const GHOST = ".ghost-text-decoration, .ghost-text";
/**
 * Suggestions the person answers under Thompson draws, between the two measurements. 12 moved the style by 3 probes
 * or more in every run without the editor (bench/editorLoop.ts), but in code-server, where VS Code's extra requests
 * add weak "down"s, once only 1 -> 3 liked (and 1 -> 7 in the other run on the same rule).
 */
const EVENTS = 20;
/** The least rise, in probes whose suggestion the person likes, that counts as the style having moved (12 probes). */
const MARGIN = 3;
const IDS = ["comments", "single-quotes", "four-spaces", "no-semicolons"];

/** The demo model in a test session: one thread, quick requests, a generous budget, the posterior mean (no draws). */
export const E2E_DEMO_SETTINGS: Readonly<Record<string, unknown>> = {
  ...DEMO_SETTINGS,
  "spectralSoup.threads": 1,
  "spectralSoup.completions.debounceMs": 50,
  "spectralSoup.completions.timeBudgetMs": 30_000,
  "spectralSoup.exploration.enabled": false,
};

export interface TinycoderSession {
  page: Page;
  openFile(name: string): Promise<void>;
  command(title: string): Promise<void>;
  shot(name: string): Promise<void>;
  updateSettings(patch: Record<string, unknown>): void;
  waitEngine(re: RegExp, timeoutMs: number): Promise<string>;
}

export interface TinycoderHarness {
  /** Starts a session of its own with these machine settings on a copy of the sample workspace. */
  open(settings: Record<string, unknown>): Promise<{ session: TinycoderSession; close(): Promise<void> }>;
  until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T>;
}

type Step = [string, () => Promise<string>];

/** Text a person could read: no replacement characters, no control bytes other than newline and tab. */
export function unprintable(text: string): string | undefined {
  const bad = [...text].find((c) => c === "\uFFFD" || (/[\u0000-\u001f\u007f]/.test(c) && c !== "\n" && c !== "\t"));
  return bad === undefined ? undefined : `U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * The ghost text as the person reads it. VS Code draws it in pieces (a span per token, the first line inline, the
 * others in a zone below it): the pieces are put back in lines by where they are drawn, top to bottom, left to right.
 */
export async function ghostText(page: Page): Promise<string> {
  return page.evaluate((selector) => {
    const pieces = [...document.querySelectorAll(selector)]
      .filter((el) => !el.parentElement?.closest(selector))
      .map((el) => ({ rect: el.getBoundingClientRect(), text: (el.textContent ?? "").replace(/\u00a0/g, " ") }));
    const lines: { top: number; parts: { left: number; text: string }[] }[] = [];
    for (const p of pieces) {
      const line = lines.find((l) => Math.abs(l.top - p.rect.top) < p.rect.height / 2);
      if (line) line.parts.push({ left: p.rect.left, text: p.text });
      else lines.push({ top: p.rect.top, parts: [{ left: p.rect.left, text: p.text }] });
    }
    return lines
      .sort((a, b) => a.top - b.top)
      .map((l) => l.parts.sort((a, b) => a.left - b.left).map((x) => x.text).join(""))
      .join("\n");
  }, GHOST);
}

/**
 * How many Tabs only indent before one takes `ghost`: when it starts with indentation at least a tab wide (2 spaces
 * here; a first line of blanks counts one less), VS Code's Tab indents by a tab instead of taking it.
 */
export function indentTabs(ghost: string): number {
  const firstLine = ghost.split("\n")[0];
  const blank = /^ *$/.test(firstLine);
  return Math.floor(Math.max(0, blank ? firstLine.length - 1 : /^ */.exec(firstLine)![0].length) / 2);
}

/** Takes the shown suggestion `ghost`: Tab until it is taken (typing through its indentation first). */
export async function takeSuggestion(page: Page, ghost: string): Promise<void> {
  const first = page.locator(GHOST).first();
  const indents = indentTabs(ghost);
  for (let i = 0; i < indents; i++) {
    await page.keyboard.press("Tab");
    await first.waitFor({ state: "visible", timeout: 5_000 });
  }
  for (let press = 1; ; press++) {
    await page.keyboard.press("Tab");
    if (await first.waitFor({ state: "hidden", timeout: 3_000 }).then(() => true, () => false)) return;
    if (press === 3) throw new Error(`Tab did not take the suggestion after ${indents} indents and ${press} presses: ${JSON.stringify(ghost)}`);
  }
}

interface TraceLine {
  method: string;
  weights: Record<string, number>;
}

export function tinycoderSteps(h: TinycoderHarness): Step[] {
  let s: TinycoderSession;
  let close: () => Promise<void> = async () => {};
  // The engine calls the extension makes (debug.traceFile): the weights each suggestion was generated under. Each
  // phase names a trace file of its own in the same settings change, so a call traced in a phase's file was made
  // under that phase's settings (VS Code applies an edited settings file a moment later, not at once).
  const traceDir = mkdtempSync(path.join(os.tmpdir(), "soup-e2e-tinycoder-trace-"));
  const trace = (phase: string) => path.join(traceDir, `${phase}.jsonl`);
  const generates = (phase: string) => {
    return readJsonl<TraceLine>(trace(phase)).filter((l) => l.method === "generate");
  };
  const ghosts: string[] = [];
  let before: { ghosts: (string | undefined)[]; score: TasteScore } | undefined;
  let learned: number[] = [];
  let accepted = 0;
  let dismissed = 0;

  /**
   * Empties the file, types HEADER, Enter, `line`, Enter, and returns the whole ghost text, or undefined when none
   * came. The same document every time `line` is typed (test/e2e/taste.ts says which), so the same prompt.
   */
  const suggest = async (line: string): Promise<string | undefined> => {
    await s.page.keyboard.press("Control+A");
    await s.page.keyboard.press("Backspace");
    await s.page.keyboard.type(HEADER, { delay: 20 });
    await s.page.keyboard.press("Enter");
    await s.page.keyboard.type(line, { delay: 20 });
    await s.page.keyboard.press("Enter");
    const first = s.page.locator(GHOST).first();
    const shown = await first.waitFor({ state: "visible", timeout: 20_000 }).then(() => true, () => false);
    if (!shown) return undefined;
    const text = await ghostText(s.page);
    const bad = unprintable(text);
    if (bad) throw new Error(`ghost text has ${bad}: ${JSON.stringify(text)}`);
    ghosts.push(text);
    return text;
  };
  /**
   * The person's answer: Tab when they like the suggestion, Escape otherwise, then on to the next line at once (the
   * suggestion VS Code asks for after an accepted one is not waited for).
   */
  const answer = async (line: string, ghost: string) => {
    if (!likes(typedText(line), ghost)) {
      await s.page.keyboard.press("Escape");
      await s.page.locator(GHOST).first().waitFor({ state: "hidden", timeout: 10_000 });
      dismissed++;
      return;
    }
    await takeSuggestion(s.page, ghost);
    accepted++;
  };
  /** One suggestion for each probe under the current weights, answered by the person; a screenshot of each. */
  const measure = async (shot: string) => {
    const shown: (string | undefined)[] = [];
    for (const [i, line] of PROBES.entries()) {
      const ghost = await suggest(line);
      shown.push(ghost);
      if (ghost !== undefined) {
        await s.shot(`${shot}-${String(i + 1).padStart(2, "0")}`);
        await answer(line, ghost);
      }
    }
    const score = scoreTaste(PROBES.flatMap((line, i) => (shown[i] === undefined ? [] : [{ typed: typedText(line), ghost: shown[i]! }])));
    return { ghosts: shown, score };
  };
  /** The weights of a phase's engine calls: one vector, or a failure naming what differed. */
  const oneWeightVector = (phase: string, what: string): number[] => {
    const calls = generates(phase);
    if (!calls.length) throw new Error(`no engine call traced for ${what}`);
    const vectors = calls.map((c) => IDS.map((id) => c.weights[id] ?? 0));
    const differing = vectors.find((w) => w.some((x, k) => x !== vectors[0][k]));
    if (differing) throw new Error(`${what} were not all generated under one weight vector: ${JSON.stringify(vectors[0])} and ${JSON.stringify(differing)}`);
    return vectors[0];
  };
  /** The learned weight of each dimension as the Preferences view shows it ("learned +0.46 ± 0.22"). */
  const prefsValues = async (): Promise<number[]> => {
    await s.command("Spectral Soup: Focus on Preferences View");
    const frame: Frame = await h.until("the preferences webview", 60_000, async () => {
      for (const f of s.page.frames()) if (await f.locator("body.page-preferences").count().catch(() => 0)) return f;
      return undefined;
    });
    const values: number[] = [];
    for (const id of IDS) {
      const text = await frame.locator(`.dim[data-id="${id}"] .value`).innerText({ timeout: 20_000 });
      const m = /learned ([+-]?\d+(?:\.\d+)?)/.exec(text.replace("\u2212", "-"));
      if (!m) throw new Error(`no learned value in the ${id} row: ${JSON.stringify(text)}`);
      values.push(Number(m[1]));
    }
    return values;
  };
  const fmt = (xs: readonly number[]) => xs.map((x) => x.toFixed(2)).join(", ");
  const summary = (c: TasteScore) => `${c.liked}/${PROBES.length} liked, comment lines ${c.commentLines}/${c.lines}`;

  return [
    [
      "tinycoder: the demo model loads and writes printable, code-shaped ghost text; its style at the start",
      async () => {
        const opened = await h.open({
          ...E2E_DEMO_SETTINGS,
          // Typing is not a request: only the pause after Enter asks for a suggestion.
          "spectralSoup.completions.debounceMs": 150,
          // Each measurement is one episode of the posterior mean; the trace shows which weights it was.
          "spectralSoup.exploration.episodeCompletions": 100,
          "spectralSoup.debug.traceFile": trace("start"),
        });
        s = opened.session;
        close = opened.close;
        // Loading the model, checking the pack against it and preparing the adapters: slow on a busy machine.
        await s.waitEngine(/CPU 1 thread/, 300_000);
        await s.openFile("example.ts");
        before = await measure("tinycoder-before");
        console.log(`tinycoder ghost texts at the start: ${JSON.stringify(before.ghosts)}`);
        const start = oneWeightVector("start", "the suggestions at the start");
        if (start.some((x) => x !== 0)) throw new Error(`the start is not the base model: weights ${fmt(start)}`);
        if (!ghosts.length) throw new Error("no ghost text for any probe");
        const codeShaped = ghosts.filter((g) => /[A-Za-z_]{2,}/.test(g) && /[;{}()=]|\/\//.test(g)).length;
        if (codeShaped * 2 < ghosts.length) throw new Error(`fewer than half the ghost texts look like code: ${JSON.stringify(ghosts)}`);
        return `${ghosts.length} ghost texts for ${PROBES.length} probes, all printable, ${codeShaped} code-shaped (e.g. ${JSON.stringify(ghosts[0].slice(0, 60))}); at weights 0: ${summary(before.score)}`;
      },
    ],
    [
      `tinycoder: a person who likes comments accepts or dismisses ${EVENTS} suggestions (Thompson draws)`,
      async () => {
        s.updateSettings({ "spectralSoup.exploration.enabled": true, "spectralSoup.exploration.episodeCompletions": 1, "spectralSoup.debug.traceFile": trace("learn") });
        // Suggestions made before VS Code applied the change are answered too, but only draws count as events.
        let drawn = 0;
        let early = 0;
        for (let i = 0; drawn < EVENTS && i < EVENTS * 3; i++) {
          const line = PROBES[i % PROBES.length];
          const traced = generates("learn").length;
          const ghost = await suggest(line);
          if (ghost === undefined) continue;
          await answer(line, ghost);
          if (generates("learn").length > traced) drawn++;
          else early++;
          console.log(`tinycoder learning: ${likes(typedText(line), ghost) ? "Tab" : "Escape"} ${JSON.stringify(ghost)} (comments weight ${generates("learn").at(-1)?.weights.comments?.toFixed(2)})`);
        }
        if (drawn < EVENTS) throw new Error(`only ${drawn} suggestions under Thompson draws in ${EVENTS * 3} tries`);
        const draws = generates("learn").map((c) => (c.weights.comments ?? 0).toFixed(2));
        return `${drawn} suggestions under Thompson draws (comments weight ${draws.join(" ")}), ${early} before the settings applied; all answers so far: ${accepted} accepted, ${dismissed} dismissed`;
      },
    ],
    [
      `tinycoder: the Preferences view shows comments learned up; under the learned weights at least ${MARGIN} more probes get a suggestion the person likes`,
      async () => {
        try {
          s.updateSettings({ "spectralSoup.exploration.enabled": false, "spectralSoup.exploration.episodeCompletions": 100, "spectralSoup.debug.traceFile": trace("after") });
          learned = await prefsValues();
          await s.shot("tinycoder-preferences");
          await s.openFile("example.ts");
          // The measurement starts once VS Code has applied the change: a suggestion traced under the new settings.
          for (let i = 0; !generates("after").length; i++) {
            if (i === 5) throw new Error("the settings for the second measurement did not apply within 5 suggestions");
            const ghost = await suggest(PROBES[0]);
            if (ghost !== undefined) await answer(PROBES[0], ghost);
          }
          const learnCalls = generates("learn").length;
          const after = await measure("tinycoder-after");
          console.log(`tinycoder ghost texts under the learned weights: ${JSON.stringify(after.ghosts)}`);
          if (generates("learn").length !== learnCalls) throw new Error("a suggestion of the second measurement was made under the learning phase's settings");
          const w = oneWeightVector("after", "the suggestions under the learned weights");
          const b = before!.score;
          const detail =
            `liked ${b.liked} -> ${after.score.liked} of ${PROBES.length} probes, comment lines ${b.commentLines}/${b.lines} -> ${after.score.commentLines}/${after.score.lines}; ` +
            `weights of the second measurement ${fmt(w)}; Preferences: learned ${IDS.map((id, k) => `${id} ${learned[k].toFixed(2)}`).join(", ")}`;
          const turned = PROBES.findIndex((line, i) => after.ghosts[i] !== undefined && before!.ghosts[i] !== undefined && likes(typedText(line), after.ghosts[i]!) && !likes(typedText(line), before!.ghosts[i]!));
          if (turned >= 0) console.log(`tinycoder: probe ${turned + 1} turned to the taste: screenshots tinycoder-before-${String(turned + 1).padStart(2, "0")}.png and tinycoder-after-${String(turned + 1).padStart(2, "0")}.png`);
          if (!(learned[0] > 0)) throw new Error(`the Preferences view does not show comments rising: ${detail}`);
          if (after.score.liked - b.liked < MARGIN) throw new Error(`the ghost text did not move toward comments by ${MARGIN} probes: ${detail}`);
          return detail;
        } finally {
          rmSync(traceDir, { recursive: true, force: true });
        }
      },
    ],
    [
      "tinycoder: the chat asks the base code model in code and shows its answer as a TypeScript code block",
      async () => {
        try {
          s.updateSettings({ "spectralSoup.chat.maxTokens": 64 });
          // The question takes the language of the editor the user works in.
          await s.openFile("example.ts");
          await s.command("Spectral Soup: Focus on Chat View");
          const chat: Frame = await h.until("the chat webview", 60_000, async () => {
            for (const f of s.page.frames()) if (await f.locator("body.page-chat").count().catch(() => 0)) return f;
            return undefined;
          });
          await chat.locator("vscode-textarea.prompt textarea").fill("Return the largest number in a list");
          await chat.locator("vscode-button.send").click();
          const answer = chat.locator(".turn.assistant").last();
          await answer.locator(".footer").waitFor({ timeout: 120_000 });
          const block = answer.locator("pre.code-block > code.language-typescript");
          if ((await block.count()) !== 1) throw new Error(`no TypeScript code block in the answer: ${JSON.stringify(await answer.innerHTML())}`);
          const code = await block.innerText();
          const bad = unprintable(code);
          if (bad || !code.trim()) throw new Error(`the code block is ${bad ? `not printable (${bad})` : "empty"}: ${JSON.stringify(code)}`);
          const notices = await chat.locator(".note.base-model").allInnerTexts();
          if (notices.length !== 1 || !/base code model/.test(notices[0])) throw new Error(`the view should say once that a base code model answers in code: ${JSON.stringify(notices)}`);
          const tools = await answer.locator(".code-tools").innerText();
          // The chat whole in the side bar, from the notice down, for the screenshot.
          const prefsHeader = s.page.locator(".part.sidebar .pane-header", { hasText: "Preferences" }).first();
          if ((await prefsHeader.getAttribute("aria-expanded")) === "true") await prefsHeader.click();
          await chat.locator(".note.base-model").scrollIntoViewIfNeeded();
          await s.shot("tinycoder-chat-code-block");
          return `code block (${tools.replace(/\s+/g, " ")}): ${JSON.stringify(code.slice(0, 80))}; notice: ${JSON.stringify(notices[0].slice(0, 60))}…`;
        } finally {
          await close();
        }
      },
    ],
  ];
}
