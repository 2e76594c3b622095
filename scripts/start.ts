// `npm start`: builds, then opens the product in a real VS Code on a sample workspace. Desktop VS Code
// (`code --extensionDevelopmentPath`) when `code` is on PATH, else code-server on 127.0.0.1 (installed into the
// cache by scripts/e2e-setup.sh on first use). The model is SOUP_MODEL when set, else the one the sample
// workspace already names, else a tiny generated model, so the whole loop runs on a fresh machine.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { syntheticModelCache } from "../src/core/gguf/synthetic";
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
  const configured = typeof settings[MODEL_KEY] === "string" && existsSync(settings[MODEL_KEY] as string);
  if (process.env.SOUP_MODEL) settings[MODEL_KEY] = path.resolve(process.env.SOUP_MODEL);
  else if (!configured) {
    console.log("No model configured: generating a tiny one (random weights: the ghost text is gibberish, the loop is real).");
    console.log("Use a real model with SOUP_MODEL=/path/to/model.gguf npm start, or the command Spectral Soup: Choose Model File.");
    settings[MODEL_KEY] = await syntheticModelCache(path.join(e2eCache(), "models"), { seed: 1, nEmbd: 128, nLayer: 4 });
    // A random model rarely ends a completion by itself: keep them short so they fit the time budget on a CPU.
    settings["spectralSoup.completions.maxTokens"] = 24;
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
