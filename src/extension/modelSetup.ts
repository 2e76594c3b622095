// "Spectral Soup: Set Up Model" (also the first step of the walkthrough): from nothing to a loaded model. Either a
// catalogue model downloaded into the extension's global storage (never the workspace) with a cancellable progress
// notification, resumed from its .part file after an interruption and checked against its sha256 before use, or a
// local GGUF file checked by validateLocalModel in a process of its own. Either way the result is the user-level spectralSoup.modelPath,
// which the engine controller picks up and loads.
import { existsSync } from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import { loadCatalogue, type CatalogueModel } from "../core/setup/catalogue";
import { sha256File } from "../core/files";
import { DownloadError, downloadModel, formatBytes } from "../core/setup/download";
import { checkModelInProcess } from "../engine/basisJobClient";
import { COMMANDS } from "./commands";
import { SECTION } from "./settings";

type Pick = vscode.QuickPickItem & ({ model: CatalogueModel } | { local: true });

export async function setUpModel(catalogueFile: string, storageDir: string, log: vscode.LogOutputChannel): Promise<void> {
  let models: CatalogueModel[];
  try {
    models = (await loadCatalogue(catalogueFile)).models;
  } catch (e) {
    log.error((e as Error).message);
    models = [];
  }
  const items: Pick[] = [
    ...models.map((m) => ({
      label: m.name,
      description: [m.sizeBytes === null ? "size unknown" : formatBytes(m.sizeBytes), m.license, m.sha256 ? "" : "no checksum: opens its page"]
        .filter(Boolean)
        .join(" · "),
      detail: m.note,
      model: m,
    })),
    { label: "$(folder-opened) Choose a GGUF file on this computer…", local: true },
  ];
  const pick = await vscode.window.showQuickPick(items, {
    title: "Spectral Soup: set up a model",
    placeHolder: models.length ? "Download a recommended model, or choose a file you have" : "The catalogue cannot be read; choose a file",
    matchOnDetail: true,
  });
  if (!pick) return;
  if ("local" in pick) return chooseLocalModel();
  const model = pick.model;
  if (!model.sha256) {
    // Without a checksum the file could not be verified before use: the user downloads it and chooses it.
    await vscode.env.openExternal(vscode.Uri.parse(model.url));
    vscode.window.showInformationMessage(`${model.name} has no published checksum; once downloaded, choose the file with “Set Up Model”.`);
    return;
  }
  const file = await download(model, model.sha256, storageDir, log);
  if (file) await useModel(file);
}

/** Asks for a .gguf file and uses it only if it validates (a clear message otherwise). */
export async function chooseLocalModel(): Promise<void> {
  const picked = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: "Use this model", filters: { "GGUF models": ["gguf"] } });
  if (picked?.[0]) await useModel(picked[0].fsPath);
}

async function useModel(file: string): Promise<void> {
  const check = await checkModelInProcess(file);
  if (!check.ok) {
    vscode.window.showErrorMessage(`Spectral Soup: ${check.message}`);
    return;
  }
  // User level: a model file belongs to the machine, not to a project (and workspace values need trust).
  await vscode.workspace.getConfiguration(SECTION).update("modelPath", file, vscode.ConfigurationTarget.Global);
  vscode.window.showInformationMessage(`Spectral Soup: using ${check.message}.`);
}

/** Downloads (or resumes) into storageDir/models; the path once verified, undefined when it failed or was cancelled. */
async function download(model: CatalogueModel, sha256: string, storageDir: string, log: vscode.LogOutputChannel): Promise<string | undefined> {
  const dest = path.join(storageDir, "models", path.basename(new URL(model.url).pathname));
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Downloading ${model.name}`, cancellable: true },
    async (progress, token) => {
      if (existsSync(dest)) {
        progress.report({ message: "checking the file already downloaded…" });
        if ((await sha256File(dest)) === sha256) return dest;
        log.warn(`${dest} does not match its sha256; downloading it again`);
      }
      const abort = new AbortController();
      const cancel = token.onCancellationRequested(() => abort.abort());
      let reported = 0;
      try {
        const result = await downloadModel({
          url: model.url,
          dest,
          sha256,
          ...(model.sizeBytes === null ? {} : { sizeBytes: model.sizeBytes }),
          signal: abort.signal,
          onProgress: (p) => {
            const total = p.totalBytes;
            const fraction = total ? (p.receivedBytes / total) * 100 : 0;
            progress.report({
              increment: fraction - reported,
              message: `${formatBytes(p.receivedBytes)}${total ? ` of ${formatBytes(total)}` : ""} · ${formatBytes(p.bytesPerSecond)}/s`,
            });
            reported = fraction;
          },
        });
        log.info(`downloaded ${model.url} to ${result.path} (${formatBytes(result.bytes)}, resumed from ${formatBytes(result.resumedFrom)}, sha256 ok)`);
        return result.path;
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        log.error(`download failed: ${message}`);
        if (e instanceof DownloadError && e.kind === "cancelled") {
          vscode.window.showInformationMessage("Spectral Soup: download cancelled; “Set Up Model” resumes it where it stopped.");
        } else {
          // Not awaited: the progress notification closes now, the error stays until the user answers it.
          const retry = "Retry";
          void vscode.window.showErrorMessage(`Spectral Soup: ${message}`, retry).then((answer) => {
            if (answer === retry) void vscode.commands.executeCommand(COMMANDS.setUpModel);
          });
        }
        return undefined;
      } finally {
        cancel.dispose();
      }
    },
  );
}
