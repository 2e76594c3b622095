// `npm start`: builds, then opens the product in a real VS Code on a sample workspace. Desktop VS Code
// (`code --extensionDevelopmentPath`) when `code` is on PATH, else code-server on 127.0.0.1 (installed into the
// cache by scripts/e2e-setup.sh on first use). The model is SOUP_MODEL when set, else the one the sample
// workspace already names, else the demo model the repository ships (models/demo: tinycoder, a small code model
// trained on TypeScript, JavaScript and Python, with four style adapters as its basis), so the whole loop runs on
// real text on a fresh machine.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { DEMO_SETTINGS } from "./demo";
import { e2eCache, prepareProfile, REPO, startCodeServer, tools } from "./vscode-server";

const MODEL_KEY = "spectralSoup.modelPath";

function onPath(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** The sample workspace, copied once so the user's edits and learned preferences survive restarts. */
async function sampleWorkspace(dir: string): Promise<string> {
  if (!existsSync(dir)) cpSync(path.join(REPO, "scripts", "sample-workspace"), dir, { recursive: true });
  const settingsFile = path.join(dir, ".vscode", "settings.json");
  const settings = existsSync(settingsFile) ? (JSON.parse(readFileSync(settingsFile, "utf8")) as Record<string, unknown>) : {};
  // Earlier versions generated a random model into the cache: such a workspace gets the demo model too.
  const configured =
    typeof settings[MODEL_KEY] === "string" && existsSync(settings[MODEL_KEY] as string) && !(settings[MODEL_KEY] as string).startsWith(path.join(e2eCache(), "models"));
  if (process.env.SOUP_MODEL) settings[MODEL_KEY] = path.resolve(process.env.SOUP_MODEL);
  else if (!configured) {
    console.log("No model configured: using the demo model, tinycoder (3M parameters: code-shaped text, not correct programs) and its four style adapters.");
    console.log("Use a real model with SOUP_MODEL=/path/to/model.gguf npm start, or the command Spectral Soup: Choose Model File.");
    Object.assign(settings, DEMO_SETTINGS);
  }
  mkdirSync(path.dirname(settingsFile), { recursive: true });
  writeFileSync(settingsFile, JSON.stringify(settings, null, 2));
  console.log(`Model: ${settings[MODEL_KEY]}`);
  return dir;
}

async function main(): Promise<void> {
  execFileSync(process.execPath, [path.join(REPO, "esbuild.mjs")], { cwd: REPO, stdio: "inherit" });
  const home = path.join(e2eCache(), "start");
  const workspace = await sampleWorkspace(path.join(home, "workspace"));

  if (onPath("code") && !process.env.SOUP_CODE_SERVER) {
    // Trust is off for this development window only: the sample workspace's settings name the model.
    execFileSync("code", ["--extensionDevelopmentPath", REPO, "--disable-workspace-trust", "--new-window", workspace], { stdio: "inherit" });
    console.log("Opened VS Code with Spectral Soup loaded from this repository.");
    return;
  }

  try {
    tools();
  } catch {
    console.log("code-server is not installed yet: installing it into the cache (about 6 minutes, once).");
    execFileSync("bash", [path.join(REPO, "scripts", "e2e-setup.sh")], { stdio: "inherit" });
  }
  const profile = await prepareProfile(path.join(home, "code-server"), {}, false);
  const port = Number(process.env.SOUP_PORT ?? 8080);
  const server = await startCodeServer(profile, { port, log: (line) => process.env.SOUP_VERBOSE && console.log(line) });
  console.log(`\nSpectral Soup is running in VS Code (code-server): open ${server.url}?folder=${encodeURIComponent(workspace)}`);
  console.log("Ctrl+C stops it.");
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  await new Promise<void>((resolve) => server.process.once("exit", () => resolve()));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
