// e2e flow with the extension pointed at a local llama-server (scripts/llama-server.sh: the demo model and its four
// style adapters, the RAM prompt cache off) in a session of its own. Checked: the status bar shows the pool up;
// ghost text comes from the server; an accepted suggestion is recorded with its features scored through the server.
// Then the server is killed: the status bar says no server is up, a keystroke gets no ghost text (and no hang), and
// the feedback log is intact. Skipped, with the reason, when llama.cpp's tools are not built.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { REPO } from "../../scripts/vscode-server";
import { E2E_DEMO_SETTINGS, unprintable, type TinycoderHarness, type TinycoderSession } from "./tinycoder.e2e";

const GHOST = ".ghost-text-decoration, .ghost-text";
const PROBES = ["export function total(items) {", "const names = [];", "if (count > 0) {", "export class Queue {", "function parse(text) {"];
const DEMO = path.join(REPO, "models", "demo");
const ADAPTERS = ["comments", "single-quotes", "four-spaces", "no-semicolons"].map((a) => path.join(DEMO, `tinycoder-${a}.gguf`));

export interface ServerHarness extends TinycoderHarness {
  freePort(): Promise<number>;
  /** The feedback log of the session's only workspace. */
  feedbackLog(session: TinycoderSession): string;
}

type Step = [string, () => Promise<string>];
interface LogRecord {
  event: { signal: string; features: number[] | null };
}

function llamaServerBuilt(): boolean {
  try {
    execFileSync("bash", [path.join(REPO, "scripts", "llama-tools.sh"), "--path"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const readLog = (file: string): LogRecord[] =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as LogRecord)
    : [];

export function serverSteps(h: ServerHarness): Step[] {
  let server: ChildProcess | undefined;
  let s: TinycoderSession | undefined;
  let close: () => Promise<void> = async () => {};
  let skipped = "";

  /** Types `line` on a new last line; the ghost text, or undefined when none came within `ms`. */
  const suggest = async (line: string, ms: number): Promise<string | undefined> => {
    await s!.page.keyboard.press("Control+End");
    await s!.page.keyboard.press("Enter");
    await s!.page.keyboard.type(line, { delay: 20 });
    await s!.page.keyboard.press("Enter");
    const shown = await s!.page.locator(GHOST).first().waitFor({ state: "visible", timeout: ms }).then(() => true, () => false);
    return shown ? (await s!.page.locator(GHOST).allInnerTexts()).join("\n") : undefined;
  };

  /** Points a session at the server and accepts its first suggestion; the step's report. */
  const acceptFromServer = async (url: string): Promise<string> => {
    await h.until("llama-server's /health", 120_000, async () => ((await fetch(`${url}/health`).catch(() => null))?.ok ? true : undefined));
    const opened = await h.open({ ...E2E_DEMO_SETTINGS, "spectralSoup.server.urls": [url] });
    s = opened.session;
    close = opened.close;
    const status = await s.waitEngine(/server 1\/1 up/, 180_000);
    await s.openFile("example.ts");
    // Tab right when ghost text shows: VS Code may ask again a moment later and hide it while that runs.
    let ghost: string | undefined;
    let accepted: LogRecord | undefined;
    for (const line of PROBES) {
      if ((ghost = await suggest(line, 30_000)) === undefined) continue;
      const bad = unprintable(ghost);
      if (bad) throw new Error(`ghost text has ${bad}: ${JSON.stringify(ghost)}`);
      await s.page.keyboard.press("Tab");
      // The workspace's folder appears with its first record: look it up on every poll.
      accepted = await h
        .until("an accepted completion with features in the feedback log", 20_000, () =>
          readLog(h.feedbackLog(s!)).find((r) => r.event.signal === "accepted" && Array.isArray(r.event.features)),
        )
        .catch(() => undefined);
      if (accepted) break;
    }
    if (ghost === undefined) throw new Error(`no ghost text from the server for ${PROBES.length} probes`);
    if (!accepted) throw new Error(`no accepted completion with features recorded for ${PROBES.length} probes`);
    await s.shot("server-accepted");
    if (accepted.event.features!.length !== ADAPTERS.length) throw new Error(`features ${JSON.stringify(accepted.event.features)}`);
    return `status "${status}"; ghost ${JSON.stringify(ghost.slice(0, 50))}; accepted with phi=[${accepted.event.features!.map((x) => x.toFixed(2)).join(", ")}]`;
  };

  return [
    [
      "server: against a local llama-server, ghost text comes from the server and an accepted one is recorded with features scored there",
      async () => {
        if (!llamaServerBuilt()) {
          skipped = "llama-server is not built (bash scripts/llama-tools.sh)";
          return `skipped: ${skipped}`;
        }
        const port = await h.freePort();
        const url = `http://127.0.0.1:${port}`;
        const args = ["--model", path.join(DEMO, "tinycoder.gguf"), ...ADAPTERS.flatMap((a) => ["--lora", a]), "--port", String(port), "--parallel", "2"];
        server = spawn("bash", [path.join(REPO, "scripts", "llama-server.sh"), ...args], { stdio: "ignore" });
        try {
          return await acceptFromServer(url);
        } catch (e) {
          // The next step, which stops the server, does not run after a failure.
          server.kill("SIGKILL");
          throw e;
        }
      },
    ],
    [
      "server: a killed server shows 'no server up', completions give nothing (no hang), the feedback log is intact",
      async () => {
        try {
          if (skipped) return `skipped: ${skipped}`;
          const log = h.feedbackLog(s!);
          const before = readLog(log).length;
          server!.kill("SIGKILL");
          const t0 = Date.now();
          const ghost = await suggest(PROBES[0], 15_000);
          if (ghost !== undefined) throw new Error(`ghost text after the server died: ${JSON.stringify(ghost)}`);
          const status = await s!.waitEngine(/no server up/, 60_000);
          await s!.shot("server-down");
          const after = readLog(log);
          if (after.length < before) throw new Error(`the feedback log lost records: ${before} -> ${after.length}`);
          return `no ghost text within 15 s; status "${status}" ${((Date.now() - t0) / 1000).toFixed(1)} s after the kill; feedback log ${before} -> ${after.length} records, all parse`;
        } finally {
          server?.kill("SIGKILL");
          await close();
        }
      },
    ],
  ];
}

/** The workspace folders under a profile's user data (one per workspace the extension has opened). */
export function feedbackLogIn(userData: string, extensionId: string): string {
  const root = path.join(userData, "User", "globalStorage", extensionId, "adapt", "workspaces");
  const dirs = existsSync(root) ? readdirSync(root) : [];
  return path.join(root, dirs[0] ?? "none", "events.jsonl");
}
