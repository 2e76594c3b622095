// e2e steps for the side bar views (chat, preferences), run by test/e2e/run.ts after its editor steps on the same
// code-server session and engine. Each step waits on something observable (a page element, a line in the
// adaptation log, a settings file, the engine trace) with a timeout, and the page screenshots are saved in light,
// dark and high-contrast themes for a human to look at.
import { readdirSync, readFileSync, type Dirent } from "node:fs";
import * as path from "node:path";
import type { Frame, Page } from "playwright-core";
import { readJsonl, readJsonSettled } from "./files";

/** What run.ts lends these steps: its session and helpers. */
export interface ViewsHarness {
  page: Page;
  workspace: string;
  /** code-server's user-data folder: settings files and the extension's storage are under it. */
  userData: string;
  userSettingsFile: string;
  command(title: string): Promise<void>;
  shot(name: string): Promise<void>;
  /** Merges a patch into the extension host's settings file. */
  updateSettings(patch: Record<string, unknown>): void;
  until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T>;
  /** The engine's generate calls so far (the debug trace): their weights by policy id. */
  generates(): { weights: Record<string, number> }[];
}

type Step = [string, () => Promise<string>];

interface LoggedEvent {
  event: { type: string; surface?: string; signal?: string };
}

/** Every adaptation log line under user-data, wherever the extension keeps its state (log file names included). */
function loggedEvents(root: string): LoggedEvent[] {
  const out: LoggedEvent[] = [];
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      // The extension writes and renames temporary files and folders (the background distillation's cache) as we walk.
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
      throw e;
    }
    for (const entry of entries) {
      const name = entry.name;
      const p = path.join(dir, name);
      if (entry.isDirectory()) walk(p);
      else if (/^(events|feedback)\.jsonl$/.test(name) && p.includes("spectral-soup") && !p.includes(`${path.sep}user${path.sep}`)) {
        out.push(...readJsonl<LoggedEvent>(p));
      }
    }
  };
  walk(root);
  return out;
}

/** The webview frame whose page body has this class (the chat and preferences pages are told apart that way). */
async function pageFrame(h: ViewsHarness, bodyClass: string): Promise<Frame> {
  return h.until(`the ${bodyClass} webview`, 60_000, async () => {
    for (const f of h.page.frames()) {
      if (await f.locator(`body.${bodyClass}`).count().catch(() => 0)) return f;
    }
    return undefined;
  });
}

export function viewSteps(h: ViewsHarness): Step[] {
  let chat: Frame;
  let prefs: Frame;
  const answers = () => chat.locator(".turn.assistant");
  const ask = async (text: string) => {
    await chat.locator("vscode-textarea.prompt textarea").fill(text);
    await chat.locator("vscode-button.send").click();
  };
  const learned = async () => (await prefs.locator(".dim .value").allInnerTexts()).join(" | ");
  const chatEvents = () => loggedEvents(h.userData).filter((e) => e.event.type === "choice" || e.event.surface === "chat");
  const settingsValue = (key: string) => {
    for (const f of [h.userSettingsFile, path.join(h.userData, "Machine", "settings.json")]) {
      const v = readJsonSettled<Record<string, unknown>>(f)?.[key];
      if (v !== undefined) return v;
    }
    return undefined;
  };
  // Through the theme picker, as a user would (an edit of the settings file is not always noticed in time).
  const theme = async (name: string, cls: string) => {
    const input = h.page.locator(".quick-input-widget input");
    const row = (text: string) => h.page.locator(".quick-input-list .monaco-list-row", { hasText: text }).first();
    // Rows are clicked, not taken with Enter: the best fuzzy match for the command is the marketplace browser.
    await h.page.keyboard.press("F1");
    await input.fill(">Preferences: Color Theme");
    await row("Preferences: Color Theme").click({ timeout: 10_000 });
    await input.fill(name);
    await row(name).click({ timeout: 10_000 });
    await h.page.locator(`.monaco-workbench.${cls}`).waitFor({ timeout: 20_000 });
  };
  /** Focuses a view and waits until the command palette has faded, so screenshots do not catch it. */
  const focus = async (name: "Chat" | "Preferences") => {
    await h.command(`Spectral Soup: Focus on ${name} View`);
    await h.page.locator(".quick-input-widget").waitFor({ state: "hidden", timeout: 10_000 });
  };
  /** Collapses or expands one of the two views, so a screenshot shows the other one whole. */
  const section = async (name: "Chat" | "Preferences", expanded: boolean) => {
    const header = h.page.locator(".part.sidebar .pane-header", { hasText: name }).first();
    if ((await header.getAttribute("aria-expanded")) !== String(expanded)) await header.click();
  };

  return [
    [
      "the chat view opens in the side bar and streams an answer from the real engine",
      async () => {
        h.updateSettings({
          "spectralSoup.chat.maxTokens": 24,
          // A comparison right on the second question, so the A/B step does not wait ten minutes.
          "spectralSoup.chat.comparisons.minAnswersBetween": 1,
          "spectralSoup.chat.comparisons.minMinutesBetween": 0,
        });
        await h.command("Spectral Soup: Focus on Chat View");
        chat = await pageFrame(h, "page-chat");
        prefs = await pageFrame(h, "page-preferences");
        // Earlier steps taught the posterior; start the views' story from the slider prior.
        await prefs.locator("vscode-button.forget").click();
        await h.page.locator(".monaco-dialog-box .monaco-button", { hasText: "Reset" }).click({ timeout: 10_000 });
        const calls = h.generates().length;
        await ask("Write a function that adds two numbers.");
        await chat.locator(".turn.assistant .footer").first().waitFor({ timeout: 90_000 });
        const text = await answers().first().locator(".md").innerText();
        if (h.generates().length <= calls) throw new Error("an answer appeared but the engine was never called");
        return `answer of ${text.length} chars streamed; hint: "${(await answers().first().locator(".why").innerText().catch(() => "none")).replace(/\s+/g, " ")}"`;
      },
    ],
    [
      "an uncertain posterior gets an A/B comparison; the pick is recorded as a choice event",
      async () => {
        const before = chatEvents().filter((e) => e.event.type === "choice").length;
        await ask("And one that multiplies them?");
        const card = chat.locator(".turn.comparison");
        await card.waitFor({ timeout: 120_000 });
        await h.shot("views-ab-comparison");
        await card.locator("vscode-button.pick-a").click();
        await h.until("a choice event in the adaptation log", 20_000, () =>
          chatEvents().filter((e) => e.event.type === "choice").length > before ? true : undefined,
        );
        await chat.locator(".turn.comparison").waitFor({ state: "detached", timeout: 10_000 });
        return `question "${(await chat.locator(".turn.assistant").last().locator(".md").innerText()).slice(0, 30)}…" picked; choice events ${before} -> ${before + 1}`;
      },
    ],
    [
      "thumbs up on an answer records a chat rating and changes the weights the preferences view shows",
      async () => {
        await h.command("Spectral Soup: Focus on Preferences View");
        const shown = await learned();
        const ratings = chatEvents().filter((e) => e.event.type === "rating").length;
        await h.command("Spectral Soup: Focus on Chat View");
        await answers().first().locator("vscode-button.thumb.up").click();
        await h.until("a chat thumb rating in the adaptation log", 20_000, () =>
          chatEvents().filter((e) => e.event.type === "rating" && e.event.signal === "thumb").length > ratings ? true : undefined,
        );
        const after = await h.until("the preferences view to show new weights", 20_000, async () => {
          const now = await learned();
          return now !== shown ? now : undefined;
        });
        return `weights before: ${shown.slice(0, 60)}…; after: ${after.slice(0, 60)}…`;
      },
    ],
    [
      "moving a slider writes spectralSoup.preferences.typed and the next answer uses a higher typed weight",
      async () => {
        const before = h.generates().at(-1)!.weights.typed ?? 0;
        const slider = prefs.locator('.dim[data-id="typed"] input.slider');
        // A range input: set the value and fire the events a drag fires.
        await slider.evaluate((el: HTMLInputElement) => {
          el.value = "1.5";
          el.dispatchEvent(new Event("input", { bubbles: true }));
          el.dispatchEvent(new Event("change", { bubbles: true }));
        });
        await h.until("spectralSoup.preferences.typed = 1.5 in a settings file", 20_000, () =>
          settingsValue("spectralSoup.preferences.typed") === 1.5 ? true : undefined,
        );
        await prefs.locator('.dim[data-id="typed"] .value', { hasText: "you +1.50" }).waitFor({ timeout: 20_000 });
        const calls = h.generates().length;
        await ask("Once more, please.");
        const w = await h.until("a generate call after the slider move", 120_000, () => h.generates().slice(calls).at(-1)?.weights);
        // The A/B scheduler may have asked a question: wait for the page to settle either way.
        await chat.locator(".turn.assistant .footer, .turn.comparison").last().waitFor({ timeout: 120_000 });
        if (!((w.typed ?? 0) > before + 0.3)) throw new Error(`typed weight ${before} -> ${w.typed}: the slider did not reach the engine`);
        return `settings.json has typed = 1.5; engine weight typed ${before.toFixed(3)} -> ${w.typed!.toFixed(3)}`;
      },
    ],
    [
      "export writes the profile to .vscode/spectral-soup.json",
      async () => {
        const file = path.join(h.workspace, ".vscode", "spectral-soup.json");
        await prefs.locator("vscode-button.export").click();
        const profile = await h.until(`${file} to appear`, 20_000, () =>
          readJsonSettled<{ sliders: Record<string, { value: number }> }>(file),
        );
        if (profile.sliders.typed?.value !== 1.5) throw new Error(`exported typed slider is ${profile.sliders.typed?.value}, not 1.5`);
        return `profile with ${Object.keys(profile.sliders).length} sliders written`;
      },
    ],
    [
      "the Basis tab runs diagnostics on request in a job process and shows the effective rank and eigenvalue bars",
      async () => {
        await focus("Preferences");
        await prefs.locator("vscode-tab-header.tab-basis").click();
        await prefs.locator(".basis .basis-head").waitFor({ timeout: 10_000 });
        await prefs.locator(".basis vscode-button.diagnose").click();
        const outcome = prefs.locator(".basis .effective-rank, .basis .diagnose-failed").first();
        await outcome.waitFor({ timeout: 180_000 });
        if (await prefs.locator(".basis .diagnose-failed").count()) throw new Error(await outcome.innerText());
        const bars = await prefs.locator(".basis .eigen-svg .eigen-bar").count();
        const dims = await prefs.locator(".dim").count();
        if (bars !== dims) throw new Error(`${bars} eigenvalue bars for ${dims} dimensions`);
        await h.shot("views-preferences-basis");
        const found = (await prefs.locator(".basis .diagnosis").innerText()).replace(/\s+/g, " ");
        await prefs.locator("vscode-tab-header.tab-weights").click();
        return `${bars} bars; ${found.slice(0, 160)}`;
      },
    ],
    [
      "screenshots of chat and preferences in light, dark and high-contrast themes",
      async () => {
        const shots: string[] = [];
        if (await h.page.locator(".part.panel").isVisible()) await h.command("View: Toggle Panel Visibility");
        for (const [name, cls, tag] of [
          // The picker's labels (the setting values carry a "Default " prefix).
          ["Light Modern", "vs", "light"],
          ["Dark Modern", "vs-dark", "dark"],
          ["Dark High Contrast", "hc-black", "hc"],
        ] as const) {
          await theme(name, cls);
          await focus("Chat");
          await section("Preferences", false);
          await h.shot(`views-chat-${tag}`);
          await section("Preferences", true);
          await section("Chat", false);
          await focus("Preferences");
          await h.shot(`views-preferences-${tag}`);
          await prefs.locator("vscode-tab-header.tab-history").click();
          await prefs.locator(".chart svg, .chart .empty").first().waitFor({ timeout: 10_000 });
          await h.shot(`views-preferences-chart-${tag}`);
          await prefs.locator("vscode-tab-header.tab-weights").click();
          await section("Chat", true);
          shots.push(tag);
        }
        return `saved views-{chat,preferences,preferences-chart}-{${shots.join(",")}}.png`;
      },
    ],
    [
      "Distill Basis for This Workspace: progress notification, then the offered pack (in global storage) is set and loaded",
      async () => {
        await h.command("Spectral Soup: Distill Basis for This Workspace");
        const toast = (text: string) => h.page.locator(".notifications-toasts .notification-list-item", { hasText: text }).first();
        const sawProgress = await toast("distilling the basis")
          .waitFor({ timeout: 30_000 })
          .then(() => true, () => false);
        const offer = toast("distilled into head adapters");
        await offer.waitFor({ timeout: 300_000 });
        await h.shot("views-distill-offer");
        await offer.locator(".monaco-button", { hasText: "Use the distilled basis" }).click();
        const pack = await h.until("spectralSoup.basisPack in the user's settings", 20_000, () => settingsValue("spectralSoup.basisPack") as string | undefined);
        if (!pack.includes(`${path.sep}globalStorage${path.sep}`) || pack.startsWith(h.workspace)) throw new Error(`the distilled pack ${pack} is not in the extension's global storage`);
        const kinds = (JSON.parse(readFileSync(pack, "utf8")) as { policies: { kind: string }[] }).policies.map((p) => p.kind);
        if (!kinds.every((k) => k === "adapter")) throw new Error(`distilled pack kinds: ${kinds.join(", ")}`);
        // The engine reloads with the new pack, and the Basis tab describes it.
        await h.until("the Basis tab to describe the head adapters", 120_000, async () =>
          /\b8 head adapters\b/.test((await prefs.locator(".basis .basis-head").textContent().catch(() => "")) ?? "") ? true : undefined,
        );
        return `progress notification ${sawProgress ? "seen" : "not caught"}; ${pack} with ${kinds.length} adapters in use`;
      },
    ],
  ];
}
