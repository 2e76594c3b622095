// End-to-end test in a real VS Code: code-server with the extension, driven by Chromium through playwright-core,
// on a model the project generates. Each step waits on an observable condition with a timeout (no fixed sleeps)
// and saves a screenshot. Needs scripts/e2e-setup.sh once (cached). Run: npm run test:e2e
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { syntheticModelCache } from "../../src/core/gguf/synthetic";
import { viewSteps } from "./chat.e2e";
import { readJsonl, readJsonSettled } from "./files";
import { feedbackLogIn, serverSteps } from "./server.e2e";
import { GHOST, tinycoderSteps } from "./tinycoder.e2e";
import {
  e2eCache,
  freePort,
  prepareProfile,
  QUIET_SETTINGS,
  REPO,
  startCodeServer,
  tools,
  type CodeServer,
  type Profile,
} from "../../scripts/vscode-server";

const ENGINE_ITEM = '[id="spectral-soup.spectral-soup.engine"]';
const READY = /CPU 1 thread/;
const EXTENSION_ID = "spectral-soup.spectral-soup";

const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const out = path.resolve(process.env.SOUP_E2E_OUT ?? path.join(REPO, "test", "e2e", "out", stamp));

/** A record of the adaptation store's log (src/core/adapt/store.ts). */
interface FeedbackLine {
  event: { signal: string; up: boolean; features: number[] };
}
interface Snapshot {
  state: { events: number };
  /** The posterior mean: the weights with exploration off. */
  mean: number[];
}
interface TraceLine {
  method: string;
  weights: Record<string, number>;
}

/** Polls `probe` until it returns a value (not undefined), or fails naming `what` after `timeoutMs`. */
async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sessions with a code-server and a browser running, stopped on Ctrl+C so that none is left behind. */
const live = new Set<Session>();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void Promise.all([...live].map((x) => x.stop())).finally(() => process.exit(130));
  });
}

class Session {
  page!: Page;
  private context!: BrowserContext;
  private server!: CodeServer;
  private browserDir = "";

  constructor(
    readonly profile: Profile,
    readonly workspace: string,
    private readonly workspaceTrust = false,
  ) {}

  get settings(): Record<string, unknown> {
    return JSON.parse(readFileSync(this.profile.machineSettingsFile, "utf8")) as Record<string, unknown>;
  }

  /** Edits the settings file on disk, as a user (or the Settings UI) would; VS Code picks the change up live. */
  updateSettings(patch: Record<string, unknown>): void {
    writeFileSync(this.profile.machineSettingsFile, JSON.stringify({ ...this.settings, ...patch }, null, 2));
  }

  async start(): Promise<void> {
    live.add(this);
    const log = path.join(out, "code-server.log");
    this.server = await startCodeServer(this.profile, {
      port: await freePort(),
      log: (line) => writeFileSync(log, line + "\n", { flag: "a" }),
      workspaceTrust: this.workspaceTrust,
    });
    this.browserDir = await mkdtemp(path.join(os.tmpdir(), "soup-e2e-chromium-"));
    this.context = await chromium.launchPersistentContext(this.browserDir, {
      executablePath: tools().chromium,
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
      ],
    });
    this.page = this.context.pages()[0] ?? (await this.context.newPage());
    // A busy machine can take longer than playwright's default 30 s to serve the workbench.
    await this.page.goto(`${this.server.url}?folder=${encodeURIComponent(this.workspace)}`, { timeout: 120_000 });
    await this.page.waitForSelector(".monaco-workbench .part.statusbar", { timeout: 60_000 });
  }

  async stop(): Promise<void> {
    live.delete(this);
    await this.context?.close().catch(() => undefined);
    await this.server?.stop();
    if (this.browserDir) await rm(this.browserDir, { recursive: true, force: true });
  }

  async engineText(): Promise<string> {
    return (await this.page.locator(ENGINE_ITEM).innerText({ timeout: 5000 }).catch(() => "")).trim();
  }

  async waitEngine(re: RegExp, timeoutMs: number): Promise<string> {
    return until(`the status bar to match ${re}`, timeoutMs, async () => {
      const t = await this.engineText();
      return re.test(t) ? t : undefined;
    });
  }

  async command(title: string): Promise<void> {
    // A busy machine sometimes leaves the palette's list empty for a while: close it and ask once more.
    for (let attempt = 1; ; attempt++) {
      await this.page.keyboard.press("F1");
      const input = this.page.locator(".quick-input-widget input");
      await input.waitFor({ state: "visible", timeout: 10_000 });
      await input.fill(`>${title}`);
      // The row is clicked, not taken with Enter: the first fuzzy match need not be the command asked for.
      const row = this.page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first();
      const clicked = await row.click({ timeout: 20_000 }).then(() => true, (e: unknown) => (attempt < 2 ? false : Promise.reject(e)));
      if (clicked) return;
      await this.page.keyboard.press("Escape");
    }
  }

  async openFile(name: string): Promise<void> {
    await this.page.keyboard.press("Control+P");
    const input = this.page.locator(".quick-input-widget input");
    await input.waitFor({ state: "visible", timeout: 10_000 });
    await input.fill(name);
    await this.page.locator(".quick-input-list .monaco-list-row", { hasText: name }).first().click({ timeout: 10_000 });
    await this.page.locator(`.tab.active[aria-label*="${name}"]`).waitFor({ timeout: 10_000 });
    await this.page.locator(".editor-instance .view-lines").first().click();
  }

  /**
   * Types on a new line at the end of the file and waits for ghost text. A random-weight model can write only
   * blanks, which the extension rightly does not show: then one more character asks again, at most 3 times.
   */
  async typeForGhost(text: string): Promise<string> {
    await this.page.keyboard.press("Control+End");
    await this.page.keyboard.press("Enter");
    await this.page.keyboard.type(text, { delay: 30 });
    const ghost = this.page.locator(GHOST).first();
    for (let attempt = 1; ; attempt++) {
      try {
        await ghost.waitFor({ state: "visible", timeout: 20_000 });
        return await ghost.innerText();
      } catch (e) {
        if (attempt === 3) throw e;
        await this.page.keyboard.type("x");
      }
    }
  }

  async shot(name: string): Promise<void> {
    await this.page.screenshot({ path: path.join(out, `${name}.png`) });
  }
}

async function main(): Promise<number> {
  const t0 = Date.now();
  await mkdir(out, { recursive: true });
  console.log(`e2e output: ${out}`);
  tools();
  execFileSync(process.execPath, [path.join(REPO, "esbuild.mjs")], { cwd: REPO, stdio: "inherit" });
  const model = await syntheticModelCache(path.join(e2eCache(), "models"), { seed: 4242 });
  const trace = path.join(out, "trace.jsonl");
  const profileDir = await mkdtemp(path.join(os.tmpdir(), "soup-e2e-profile-"));
  const profile = await prepareProfile(
    profileDir,
    {
      // No model yet: the first step checks the first-run prompt, then configures the model.
      // 2 cores here: llama.cpp's default thread count makes decoding orders of magnitude slower.
      "spectralSoup.threads": 1,
      "spectralSoup.debug.traceFile": trace,
      // The mean instead of Thompson draws, so that the weights the engine is called with are predictable.
      "spectralSoup.exploration.enabled": false,
      "spectralSoup.completions.debounceMs": 50,
      "spectralSoup.completions.timeBudgetMs": 30_000,
      "spectralSoup.completions.maxTokens": 16,
    },
    true,
  );
  const workspace = path.join(profileDir, "workspace");
  cpSync(path.join(REPO, "scripts", "sample-workspace"), workspace, { recursive: true });
  const s = new Session(profile, workspace);

  // The store keeps each workspace's log and snapshot under the user-level folder; this profile has one workspace.
  const workspaces = path.join(profile.userData, "User", "globalStorage", EXTENSION_ID, "adapt", "workspaces");
  const stateFile = (name: string) => {
    const dirs = existsSync(workspaces) ? readdirSync(workspaces) : [];
    if (dirs.length > 1) throw new Error(`expected one workspace in ${workspaces}, found ${dirs.length}`);
    return dirs.length ? path.join(workspaces, dirs[0], name) : path.join(workspaces, "none", name);
  };
  const feedback = () => readJsonl<FeedbackLine>(stateFile("events.jsonl"));
  const snapshot = () => {
    const f = stateFile("snapshot.json");
    return readJsonSettled<Snapshot>(f);
  };
  const generates = () => readJsonl<TraceLine>(trace).filter((l) => l.method === "generate");

  const steps: [string, () => Promise<string>][] = [
    [
      "in an untrusted workspace, a model path from the workspace's settings is not loaded; the user's own is",
      async () => {
        // A session of its own: trust on, the workspace opened in restricted mode, its settings naming a model.
        const dir = await mkdtemp(path.join(os.tmpdir(), "soup-e2e-untrusted-"));
        const p = await prepareProfile(dir, { "spectralSoup.threads": 1 }, true);
        const trustOn = { "security.workspace.trust.enabled": true, "security.workspace.trust.startupPrompt": "never", "security.workspace.trust.banner": "never" };
        writeFileSync(p.userSettingsFile, JSON.stringify({ ...QUIET_SETTINGS, ...trustOn }, null, 2));
        const ws = path.join(dir, "workspace");
        cpSync(path.join(REPO, "scripts", "sample-workspace"), ws, { recursive: true });
        await mkdir(path.join(ws, ".vscode"));
        writeFileSync(path.join(ws, ".vscode", "settings.json"), JSON.stringify({ "spectralSoup.modelPath": model }));
        const u = new Session(p, ws, true);
        try {
          await u.start();
          const ignored = await u.waitEngine(/no model/, 60_000);
          await u.shot("00-untrusted-workspace-model-ignored");
          u.updateSettings({ "spectralSoup.modelPath": model });
          const ready = await u.waitEngine(READY, 60_000);
          return `workspace setting ignored ("${ignored}"); user setting loaded ("${ready}")`;
        } finally {
          await u.stop();
          await rm(dir, { recursive: true, force: true });
        }
      },
    ],
    [
      "first run without a model: a notification with the choices, no errors",
      async () => {
        await s.start();
        const toast = s.page.locator(".notifications-toasts .notification-toast", { hasText: "needs a local GGUF" });
        await toast.waitFor({ timeout: 60_000 });
        const buttons = await toast.locator(".monaco-button").allInnerTexts();
        if (!buttons.some((b) => /GGUF file/i.test(b))) throw new Error(`no "choose a GGUF file" choice: ${buttons.join(", ")}`);
        const status = await s.waitEngine(/no model/, 10_000);
        const errors = s.page.locator(".notifications-toasts .notification-toast .codicon-error");
        if (await errors.count()) throw new Error("an error notification is shown");
        return `notification with ${buttons.map((b) => `"${b}"`).join(", ")}; status "${status}"`;
      },
    ],
    [
      "configuring a model loads it without reload; status bar shows the engine ready and its backend",
      async () => {
        s.updateSettings({ "spectralSoup.modelPath": model });
        const text = await s.waitEngine(READY, 120_000);
        await s.page.keyboard.press("Escape"); // the first-run notification
        return `status "${text}"`;
      },
    ],
    [
      "typing shows ghost text from the real engine",
      async () => {
        await s.openFile("example.ts");
        const ghost = await s.typeForGhost("export const total = ");
        const calls = generates();
        if (!calls.length) throw new Error("ghost text appeared but the engine was never called");
        return `ghost ${JSON.stringify(ghost.slice(0, 40))}; ${calls.length} engine generate call(s)`;
      },
    ],
    [
      "Tab accepts; the feedback log and the posterior change on disk",
      async () => {
        const before = snapshot()?.state.events ?? 0;
        // What shows the Tab took the suggestion is the accepted event: the ghost text may not be seen hidden, since
        // VS Code asks again at once and the speculative completion after Tab can be shown as soon as it is.
        await s.page.keyboard.press("Tab");
        const line = await until("an accepted event in feedback.jsonl", 30_000, () => feedback().find((l) => l.event.signal === "accepted"));
        const snap = await until("posterior.json to count the event", 10_000, () => {
          const sn = snapshot();
          return sn && sn.state.events > before ? sn : undefined;
        });
        return `accepted in ${path.relative(profile.dir, stateFile(""))}, up=${line.event.up}, phi=[${line.event.features.map((f) => f.toFixed(2)).join(", ")}]; posterior events ${before} -> ${snap.state.events}`;
      },
    ],
    [
      "Escape on the next suggestion records a dismissal",
      async () => {
        await s.typeForGhost("export const count = ");
        const dismissed = feedback().filter((l) => l.event.signal === "dismissed").length;
        await s.page.keyboard.press("Escape");
        await s.page.locator(GHOST).first().waitFor({ state: "hidden", timeout: 10_000 });
        await until("a new dismissed event", 30_000, () =>
          feedback().filter((l) => l.event.signal === "dismissed").length > dismissed ? true : undefined,
        );
        return `dismissed events ${dismissed} -> ${dismissed + 1}; log has ${feedback().length} events`;
      },
    ],
    [
      "changing spectralSoup.preferences.<id> changes the weights the engine is called with",
      async () => {
        const before = generates().at(-1)!.weights;
        s.updateSettings({ "spectralSoup.preferences.concise": 1.5 });
        const n = generates().length;
        // Each attempt types one more character and waits for the request it causes (a cache hit causes none).
        const after = await until("a generate call with a higher concise weight", 60_000, async () => {
          const changed = generates().slice(n).find((c) => c.weights.concise > before.concise + 0.1);
          if (changed) return changed.weights;
          const count = generates().length;
          await s.page.keyboard.type("1");
          await until("a new generate call", 10_000, () => (generates().length > count ? true : undefined)).catch(() => undefined);
          return undefined;
        });
        return `concise ${before.concise.toFixed(3)} -> ${after.concise.toFixed(3)}`;
      },
    ],
    [
      "reloading the window keeps the learned state",
      async () => {
        // Settle first: hide any suggestion, then wait until nothing is still being recorded (a rating whose
        // features are scored after the fact lands seconds later) and the snapshot covers the whole log.
        await s.page.keyboard.press("Escape");
        const before = await until("the feedback log and the snapshot to settle", 60_000, async () => {
          const events = feedback().length;
          const snap = snapshot();
          await new Promise((r) => setTimeout(r, 2000));
          const still = feedback().length === events && snapshot()?.state.events === events;
          return still && snap?.state.events === events ? { events, mean: snap.mean } : undefined;
        });
        await s.command("Developer: Reload Window");
        await s.page.waitForSelector(".monaco-workbench .part.statusbar", { timeout: 60_000 });
        await s.waitEngine(READY, 120_000);
        // What the closing window left: normally the settled state; if it still recorded something while closing,
        // its last snapshot (the new window has shown nothing yet, so it has written nothing).
        const events = feedback().length;
        let mean = before.mean;
        if (events !== before.events) {
          const left = snapshot();
          if (left?.state.events !== events) throw new Error(`the log has ${events} events but the last snapshot covers ${left?.state.events}`);
          mean = left.mean;
        }
        const n = generates().length;
        await s.openFile("example.ts");
        await s.typeForGhost("export const after = ");
        // The first request after the reload: the new window has shown nothing yet, so no feedback of its own can
        // have moved the state (later requests may follow a typed-over suggestion).
        const w = await until("a generate call after the reload", 30_000, () => generates()[n]?.weights);
        const ids = Object.keys(w);
        const drift = Math.max(...ids.map((id, k) => Math.abs(w[id] - mean[k])));
        if (drift > 1e-3) throw new Error(`weights after reload differ from the saved posterior mean by ${drift}`);
        if (events < before.events) throw new Error("the feedback log lost events");
        return `weights after reload = saved posterior mean (max diff ${drift.toExponential(1)}); ${events} events kept (${before.events} before the reload)`;
      },
    ],
    [
      "a broken model path shows the error in the status bar and the log; fixing it recovers without reload",
      async () => {
        await s.page.keyboard.press("Escape");
        s.updateSettings({ "spectralSoup.modelPath": path.join(profileDir, "missing.gguf") });
        await s.waitEngine(/error/, 60_000);
        await s.page.locator(ENGINE_ITEM).click();
        const logLine = s.page.locator(".part.panel .view-line", { hasText: "cannot load the model" }).first();
        await logLine.waitFor({ timeout: 20_000 });
        await s.shot("07a-broken-model");
        s.updateSettings({ "spectralSoup.modelPath": model });
        const text = await s.waitEngine(READY, 120_000);
        return `error shown and logged ("${(await logLine.innerText()).slice(0, 80)}"); recovered: "${text}"`;
      },
    ],
    // The side bar views (chat, preferences), on the same session: test/e2e/chat.e2e.ts.
    ...viewSteps({
      get page() {
        return s.page;
      },
      workspace,
      userData: profile.userData,
      userSettingsFile: profile.userSettingsFile,
      command: (title) => s.command(title),
      shot: (name) => s.shot(name),
      updateSettings: (patch) => s.updateSettings(patch),
      until,
      generates,
    }),
  ];

  // The demo model's flow and the llama-server flow, each in a session of its own; closed at the end whatever happened.
  const closers: (() => Promise<void>)[] = [];
  const openOwn = (prefix: string) => async (settings: Record<string, unknown>) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), `soup-e2e-${prefix}-`));
    const p = await prepareProfile(dir, settings, true);
    const ws = path.join(dir, "workspace");
    cpSync(path.join(REPO, "scripts", "sample-workspace"), ws, { recursive: true });
    const t = new Session(p, ws);
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await t.stop();
      if (failed) console.log(`${prefix} profile kept for inspection: ${dir}`);
      else await rm(dir, { recursive: true, force: true });
    };
    closers.push(close);
    await t.start();
    return { session: t, close };
  };
  steps.push(...tinycoderSteps({ until, open: openOwn("tinycoder") }));
  steps.push(
    ...serverSteps({
      until,
      open: openOwn("server"),
      freePort,
      // The sessions openOwn hands out are this file's Sessions.
      feedbackLog: (t) => feedbackLogIn((t as Session).profile.userData, EXTENSION_ID),
    }),
  );

  const results: { step: string; ok: boolean | null; ms: number; detail: string }[] = [];
  let failed = false;
  // SOUP_E2E_ONLY=text runs only the steps whose name contains it (e.g. "tinycoder", whose flow starts its own session).
  const only = process.env.SOUP_E2E_ONLY;
  for (const [i, [name, run]] of steps.entries()) {
    if (only && !name.includes(only)) continue;
    if (failed) {
      results.push({ step: name, ok: null, ms: 0, detail: "not run (an earlier step failed)" });
      continue;
    }
    const start = Date.now();
    try {
      const detail = await run();
      results.push({ step: name, ok: true, ms: Date.now() - start, detail });
    } catch (e) {
      failed = true;
      results.push({ step: name, ok: false, ms: Date.now() - start, detail: (e as Error).message.split("\n")[0] });
    }
    await s.shot(`${String(i + 1).padStart(2, "0")}-${failed ? "FAILED" : "ok"}`).catch(() => undefined);
    const r = results.at(-1)!;
    console.log(`${r.ok ? "PASS" : "FAIL"} ${name} (${(r.ms / 1000).toFixed(1)} s): ${r.detail}`);
  }
  await s.stop();
  for (const close of closers) await close();
  if (!failed) await rm(profileDir, { recursive: true, force: true });
  else console.log(`code-server profile kept for inspection: ${profileDir}`);
  const total = (Date.now() - t0) / 1000;
  writeFileSync(path.join(out, "summary.json"), JSON.stringify({ passed: !failed, seconds: total, results }, null, 2));
  console.log(`${failed ? "FAILED" : "PASSED"} in ${total.toFixed(1)} s; screenshots and logs in ${out}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
