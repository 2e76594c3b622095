// The optional build of llama.cpp for this CPU: node-llama-cpp's own `source download` (the llama.cpp release it
// bundles, CPU only, compiled with -march=native) run in the extension's copy of node-llama-cpp, whose getLlama then
// loads that local build before its prebuilt binary. Measured on the benchmark model: prompt processing 1.9x the
// prebuilt binary's, generation unchanged. It needs cmake, a C++ compiler and git, and takes minutes of every core;
// "remove" goes back to the prebuilt binary.
import { spawn } from "node:child_process";
import { existsSync, promises as fs } from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import { sourceBuildProgress } from "../core/setup/sourceBuild";

const BUILD = "Build for this CPU";
const REMOVE = "Remove the local build (use the prebuilt binary)";

export async function buildLlamaForCpu(extensionPath: string, log: vscode.LogOutputChannel): Promise<void> {
  const pkg = path.join(extensionPath, "node_modules", "node-llama-cpp");
  const cli = path.join(pkg, "dist", "cli", "cli.js");
  if (!existsSync(cli)) {
    vscode.window.showErrorMessage(`Spectral Soup: ${cli} is missing: this installation has no node-llama-cpp command line to build with.`);
    return;
  }
  const localBuilds = path.join(pkg, "llama", "localBuilds");
  // Written by node-llama-cpp after a build that succeeded (a cancelled one leaves only a build folder).
  const lastBuild = path.join(pkg, "llama", "lastBuild.json");
  const hasBuild = existsSync(lastBuild);
  const choice = await vscode.window.showWarningMessage(
    hasBuild
      ? "A llama.cpp build for this CPU is in use. Build it again, or remove it and go back to the prebuilt binary?"
      : "Build llama.cpp for this CPU? Prompt processing measured 1.9x faster than the prebuilt binary, generation the same. It needs cmake, a C++ compiler and git, about 250 MB of disk while it builds (40 MB after), and keeps every core busy for several minutes (39 on 2 cores shared with other work, where it was measured).",
    { modal: true },
    BUILD,
    ...(hasBuild ? [REMOVE] : []),
  );
  if (choice === REMOVE) {
    await fs.rm(localBuilds, { recursive: true, force: true });
    await fs.rm(lastBuild, { force: true });
    log.info(`removed the local llama.cpp build ${localBuilds}`);
    return offerReload("Spectral Soup: the local llama.cpp build is removed; reload the window to use the prebuilt binary.");
  }
  if (choice !== BUILD) return;
  const started = Date.now();
  const ok = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: "Building llama.cpp for this CPU", cancellable: true },
    (progress, token) =>
      new Promise<boolean>((resolve) => {
        // The extension host's executable runs as plain Node with ELECTRON_RUN_AS_NODE (it is Node outside Electron).
        const child = spawn(process.execPath, [cli, "source", "download", "--gpu", "false", "--noUsageExample"], {
          cwd: pkg,
          env: { ...process.env, ELECTRON_RUN_AS_NODE: "1" },
          detached: process.platform !== "win32",
        });
        const tail: string[] = [];
        let reported = 0;
        const onOutput = (d: Buffer) => {
          const text = d.toString();
          for (const line of text.split("\n").filter((l) => l.trim())) {
            log.debug(`[source build] ${line}`);
            tail.push(line);
          }
          tail.splice(0, Math.max(0, tail.length - 20));
          const fraction = sourceBuildProgress(text);
          if (fraction !== undefined && fraction * 100 > reported) {
            progress.report({ increment: fraction * 100 - reported, message: `${Math.round(fraction * 100)}%` });
            reported = fraction * 100;
          }
        };
        child.stdout.on("data", onOutput);
        child.stderr.on("data", onOutput);
        const cancel = token.onCancellationRequested(() => {
          // The compilers are the build's children: end the whole group where there is one.
          if (child.pid !== undefined && process.platform !== "win32") process.kill(-child.pid, "SIGTERM");
          else child.kill();
        });
        child.on("error", (e) => {
          log.error(`cannot start the llama.cpp build: ${e.message}`);
          tail.push(e.message);
        });
        child.on("close", (code) => {
          cancel.dispose();
          if (code === 0) return resolve(true);
          if (token.isCancellationRequested) {
            log.info("llama.cpp build cancelled");
            vscode.window.showInformationMessage("Spectral Soup: llama.cpp build cancelled; the prebuilt binary stays in use.");
          } else {
            log.error(`llama.cpp build failed (exit ${code}):\n${tail.join("\n")}`);
            vscode.window.showErrorMessage(`Spectral Soup: the llama.cpp build failed (is cmake, a C++ compiler and git installed?): ${tail.at(-1) ?? `exit ${code}`}. The prebuilt binary stays in use; the engine log has the build's output.`);
          }
          resolve(false);
        });
      }),
  );
  // The source clone (about 200 MB) is only needed to build: a rebuild clones it again from the bundle.
  await fs.rm(path.join(pkg, "llama", "llama.cpp"), { recursive: true, force: true });
  if (!ok) {
    if (!hasBuild) await fs.rm(localBuilds, { recursive: true, force: true });
    return;
  }
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  log.info(`built llama.cpp for this CPU in ${minutes} min into ${localBuilds}`);
  return offerReload(`Spectral Soup: llama.cpp is built for this CPU (${minutes} min); reload the window to start the engine on it.`);
}

async function offerReload(message: string): Promise<void> {
  if ((await vscode.window.showInformationMessage(message, "Reload Window")) === "Reload Window") {
    await vscode.commands.executeCommand("workbench.action.reloadWindow");
  }
}
