// e2e flow with the extension pointed at a local llama-server (scripts/llama-server.sh: the demo model and its four
// style adapters, the RAM prompt cache off) in a session of its own. Checked: the status bar shows the pool up;
// ghost text comes from the server; an accepted suggestion is recorded with its features scored through the server.
// Then the server is killed just before a suggestion is accepted: the status bar says no server is up, a keystroke
// gets no ghost text (and no hang), and the accepted suggestion waits instead of being lost; when the server is back
// on its port it is scored there and recorded. Skipped, with the reason, when llama.cpp's tools are not built.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { REPO } from "../../scripts/vscode-server";
import { readJsonl } from "./files";
import {
  E2E_DEMO_SETTINGS,
  GHOST,
  ghostText,
  indentTabs,
  takeSuggestion,
  unprintable,
  type TinycoderHarness,
  type TinycoderSession,
} from "./tinycoder.e2e";

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
  event: { signal: string; up: boolean; features: number[] | null };
}

function llamaServerBuilt(): boolean {
  try {
    execFileSync("bash", [path.join(REPO, "scripts", "llama-tools.sh"), "--path"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}


export function serverSteps(h: ServerHarness): Step[] {
  let server: ChildProcess | undefined;
  let s: TinycoderSession | undefined;
  let close: () => Promise<void> = async () => {};
  let skipped = "";
  let port = 0;
  /** Records in the feedback log before the server was killed. */
  let before = 0;

  const startServer = () => {
    const args = ["--model", path.join(DEMO, "tinycoder.gguf"), ...ADAPTERS.flatMap((a) => ["--lora", a]), "--port", String(port), "--parallel", "2"];
    return spawn("bash", [path.join(REPO, "scripts", "llama-server.sh"), ...args], { stdio: "ignore" });
  };

  /** Types `line` on a new last line; the ghost text, or undefined when none came within `ms`. */
  const suggest = async (line: string, ms: number): Promise<string | undefined> => {
    await s!.page.keyboard.press("Control+End");
    await s!.page.keyboard.press("Enter");
    await s!.page.keyboard.type(line, { delay: 20 });
    await s!.page.keyboard.press("Enter");
    const shown = await s!.page.locator(GHOST).first().waitFor({ state: "visible", timeout: ms }).then(() => true, () => false);
    return shown ? ghostText(s!.page) : undefined;
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
      await takeSuggestion(s.page, ghost);
      // The workspace's folder appears with its first record: look it up on every poll.
      accepted = await h
        .until("an accepted completion with features in the feedback log", 20_000, () =>
          readJsonl<LogRecord>(h.feedbackLog(s!)).find((r) => r.event.signal === "accepted" && Array.isArray(r.event.features)),
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
        port = await h.freePort();
        const url = `http://127.0.0.1:${port}`;
        server = startServer();
        try {
          return await acceptFromServer(url);
        } catch (e) {
          // The next steps, which stop the server, do not run after a failure.
          server.kill("SIGKILL");
          throw e;
        }
      },
    ],
    [
      "server: a suggestion accepted as the server dies waits for it; completions give nothing (no hang); 'no server up'; the log is intact",
      async () => {
        try {
          if (skipped) return `skipped: ${skipped}`;
          const log = h.feedbackLog(s!);
          // A suggestion that one Tab takes and that is still shown a moment later, which also gives the suggestion
          // before it (settled by typing the probe) time to be scored while the server lives: a Tab that only
          // indents, or lands after VS Code hid the suggestion, reads, rightly, as typing over it.
          let ghost: string | undefined;
          const seen: string[] = [];
          for (const line of [...PROBES, ...PROBES]) {
            const shown = await suggest(line, 30_000);
            if (shown === undefined) continue;
            seen.push(shown);
            if (indentTabs(shown) > 0) continue;
            await new Promise((resolve) => setTimeout(resolve, 2000));
            if (await s!.page.locator(GHOST).first().isVisible()) {
              ghost = shown;
              break;
            }
          }
          if (ghost === undefined) throw new Error(`no suggestion one Tab takes stayed shown for ${2 * PROBES.length} probes: ${JSON.stringify(seen)}`);
          before = readJsonl<LogRecord>(log).length;
          server!.kill("SIGKILL");
          const t0 = Date.now();
          // Taken with nothing to score it: the feedback must wait, not vanish.
          await takeSuggestion(s!.page, ghost);
          const none = await suggest(PROBES[0], 15_000);
          if (none !== undefined) throw new Error(`ghost text after the server died: ${JSON.stringify(none)}`);
          const status = await s!.waitEngine(/no server up/, 60_000);
          await s!.shot("server-down");
          const after = readJsonl<LogRecord>(log);
          if (after.length !== before) throw new Error(`the feedback log changed while no server could score: ${before} -> ${after.length} records`);
          return `no ghost text within 15 s; status "${status}" ${((Date.now() - t0) / 1000).toFixed(1)} s after the kill; feedback log ${before} records, all parse, the accepted one waiting`;
        } catch (e) {
          await close();
          throw e;
        }
      },
    ],
    [
      "server: once the server is back on its port, the feedback on the taken suggestion, which waited, is scored there and recorded",
      async () => {
        try {
          if (skipped) return `skipped: ${skipped}`;
          server = startServer();
          const t0 = Date.now();
          const log = h.feedbackLog(s!);
          // Tab takes the suggestion whole, or (when VS Code re-asked as the server died) the part still shown. The
          // suggestions settled while the probes were typed may land too, first when their scoring was still under
          // way at the kill.
          const taken = (r: LogRecord) => r.event.up && (r.event.signal === "accepted" || r.event.signal === "partial");
          let recorded: LogRecord[] = [];
          const r = await h
            .until("the taken suggestion's feedback in the log", 150_000, () => (recorded = readJsonl<LogRecord>(log).slice(before)).find(taken))
            .catch(() => undefined);
          if (!r || r.event.features?.length !== ADAPTERS.length) throw new Error(`not the taken suggestion with features: ${JSON.stringify(recorded)}`);
          const status = await s!.waitEngine(/server 1\/1 up/, 60_000);
          return `recorded (${r.event.signal}) ${((Date.now() - t0) / 1000).toFixed(1)} s after the restart with phi=[${r.event.features.map((x) => x.toFixed(2)).join(", ")}]; status "${status}"`;
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
