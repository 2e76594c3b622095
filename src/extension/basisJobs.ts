// Basis jobs from the editor: "Distill Basis for This Workspace" (the current pack's prompted experts become head
// adapters learned on the workspace's own code, so parameter souping runs at plain-model speed) and the
// preferences view's basis diagnostics. Each job runs in a process of its own (src/engine/basisJobProcess.ts):
// the engine keeps serving completions and the extension host never blocks. One job at a time, since each loads
// its own copy of the model. Everything is written under the extension's global storage, never the workspace.
import { createHash } from "node:crypto";
import * as path from "node:path";
import * as vscode from "vscode";
import type { BasisDiagnosis } from "../core/basis/diagnose";
import { WORKSPACE_CORPUS } from "../core/basis/corpus";
import { nextVersion, type BasisPack } from "../core/basis/pack";
import type { DistillProgress, DistillReport } from "../engine/distill";
import { diagnoseInProcess, distillInProcess, type BasisJobOptions } from "../engine/basisJobClient";
import { distillOffer, formatDuration } from "../core/editor/status";
import { distillFraction } from "../engine/basisJobProtocol";
import { EngineError } from "../engine/protocol";
import { COMMANDS } from "./commands";
import type { BackgroundDistill } from "./backgroundDistill";
import type { Session } from "./session";
import { SECTION, type SoupSettings } from "./settings";

const USE_DISTILLED = "Use the distilled basis";

export class BasisJobs implements vscode.Disposable {
  private running: { kind: "distill" | "diagnose"; cancel: AbortController } | undefined;
  /** Distilled packs and their caches live under the extension's global storage, never the workspace. */
  private readonly storageDir: string;

  constructor(
    private readonly session: Session,
    /** Paused while a job here runs: each job loads its own copy of the model, and this one was asked for. */
    private readonly background: BackgroundDistill,
  ) {
    this.storageDir = session.context.globalStorageUri.fsPath;
  }

  /** The command: asks nothing but a folder when there are several, shows progress, offers the result. */
  async distill(): Promise<void> {
    const model = this.session.settings.load.modelPath;
    if (!model) {
      const setUp = "Set Up Model";
      if ((await vscode.window.showErrorMessage("Spectral Soup: distillation needs a model. Set one up first.", setUp)) === setUp) {
        await vscode.commands.executeCommand(COMMANDS.setUpModel);
      }
      return;
    }
    const folder = await pickFolder();
    if (!folder) return;
    const { pack, path: packPath } = this.session.basis;
    const prompted = pack.policies.filter((p) => p.kind === "prompted");
    if (!prompted.length) {
      vscode.window.showInformationMessage(`Spectral Soup: the basis "${pack.label}" has no prompted experts: it already runs at plain-model speed.`);
      return;
    }
    const workDir = path.join(this.storageDir, "distilled", folderKey(folder));
    const outDir = path.join(workDir, `${pack.id}-v${nextVersion(pack.version)}`);
    this.session.log.info(`distilling ${prompted.length} prompted experts of ${packPath} on ${folder.uri.fsPath} into ${outDir}`);
    let report: DistillReport;
    try {
      report = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: "Spectral Soup: distilling the basis", cancellable: true },
        (progress, token) => {
          progress.report({ message: "loading the model…" });
          let shown = 0;
          const onProgress = (p: DistillProgress) => {
            const f = distillFraction(p);
            // withProgress adds up increments: report only what was gained since the last report.
            progress.report({ increment: Math.max(0, (f - shown) * 100), message: describeProgress(p, f) });
            shown = Math.max(shown, f);
          };
          const options = { modelPath: model, packPath, corpus: folder.uri.fsPath, corpusFilter: WORKSPACE_CORPUS, outDir, cacheDir: path.join(workDir, "cache"), ...this.compute() };
          return this.exclusive("distill", token, (o) => distillInProcess(options, { ...o, onProgress }));
        },
      );
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (e instanceof EngineError && e.code === "cancelled") {
        this.session.log.info("distillation cancelled");
        vscode.window.showInformationMessage("Spectral Soup: distillation cancelled. What was collected is kept: run the command again to resume.");
      } else {
        this.session.log.error(`distillation failed: ${message}`);
        const show = "Show Log";
        if ((await vscode.window.showErrorMessage(`Spectral Soup: distillation failed: ${message}`, show)) === show) this.session.log.show(true);
      }
      return;
    }
    await this.offer(report, pack);
  }

  /** Diagnostics of the current basis on the workspace's code (built-in prompts without a folder). */
  async diagnose(): Promise<{ pack: BasisPack; diagnosis: BasisDiagnosis }> {
    const model = this.session.settings.load.modelPath;
    if (!model) throw new Error("Basis diagnostics need a model: set one up first (Spectral Soup: Set Up Model).");
    const { pack, path: packPath } = this.session.basis;
    const folder = vscode.workspace.workspaceFolders?.[0];
    const calibration = folder ? { calibration: folder.uri.fsPath, calibrationFilter: WORKSPACE_CORPUS } : {};
    const { threads } = this.compute();
    const diagnosis = await this.exclusive("diagnose", undefined, (o) => diagnoseInProcess({ modelPath: model, packPath, ...calibration, threads }, o));
    this.session.log.info(
      `basis diagnostics of "${pack.id}" v${pack.version}: effective rank ${diagnosis.effectiveRank.toFixed(2)} of ${diagnosis.ids.length}, ` +
        `redundant pairs: ${diagnosis.redundantPairs.map((p) => `${p.a}/${p.b} (${p.correlation.toFixed(2)})`).join(", ") || "none"}; ` +
        `weak: ${diagnosis.weakDimensions.join(", ") || "none"}`,
    );
    return { pack, diagnosis };
  }

  /** Stops a running diagnostics job (the preferences view's cancel button). */
  cancelDiagnose(): void {
    if (this.running?.kind === "diagnose") this.running.cancel.abort();
  }

  dispose(): void {
    this.running?.cancel.abort();
  }

  /** Threads and GPU as the engine is configured; the job's llama.cpp instance is its own. */
  private compute(): { threads?: number; gpu: SoupSettings["load"]["gpu"] } {
    const load = this.session.settings.load;
    return { ...(load.threads > 0 ? { threads: load.threads } : {}), gpu: load.gpu };
  }

  /** Runs a job as the only one, with its process's log lines in the log channel and cancel wired to `token`. */
  private async exclusive<T>(kind: "distill" | "diagnose", token: vscode.CancellationToken | undefined, job: (o: BasisJobOptions) => Promise<T>): Promise<T> {
    if (this.running) throw new Error(`a basis ${this.running.kind === "distill" ? "distillation" : "diagnostics"} job is already running; wait for it or cancel it`);
    const cancel = new AbortController();
    this.running = { kind, cancel };
    const sub = token?.onCancellationRequested(() => cancel.abort());
    const hold = this.background.hold();
    try {
      return await job({
        entry: path.join(this.session.context.extensionPath, "dist", "basisJobs.js"),
        signal: cancel.signal,
        onLog: (level, message) => this.session.log[level](`${kind}: ${message}`),
      });
    } finally {
      sub?.dispose();
      hold.dispose();
      this.running = undefined;
    }
  }

  /** Logs the held-out figures and offers the new pack; accepting sets it at the user level, which reloads the engine. */
  private async offer(report: DistillReport, source: BasisPack): Promise<void> {
    for (const e of report.experts) {
      this.session.log.info(
        `distilled ${e.id} (rank ${e.rank}): held-out KL to the expert ${e.reference.kl.toExponential(2)} (base) -> ${e.adapter.kl.toExponential(2)} (adapter), top-1 ${(100 * e.adapter.top1).toFixed(1)}%`,
      );
    }
    this.session.log.info(`distilled pack written to ${report.pack}`);
    const offer = distillOffer(source.label, report.experts);
    const answer = await (offer.warn ? vscode.window.showWarningMessage : vscode.window.showInformationMessage)(offer.text, USE_DISTILLED, "Show Log");
    if (answer === "Show Log") this.session.log.show(true);
    if (answer !== USE_DISTILLED) return;
    const config = vscode.workspace.getConfiguration(SECTION);
    await config.update("basisPack", report.pack, vscode.ConfigurationTarget.Global);
    if (config.inspect<string>("basisPack")?.workspaceValue) {
      vscode.window.showWarningMessage("Spectral Soup: this workspace's settings name another basis pack, which takes precedence over the distilled one.");
    }
  }
}

function describeProgress(p: DistillProgress, fraction: number): string {
  const left = p.etaSeconds === null ? "" : ` · ${formatDuration(p.etaSeconds)} left${p.stage === "collect" ? " before fitting" : ""}`;
  const what = p.stage === "collect" ? `reading the workspace ${p.done}/${p.total} windows${p.cached ? ` (${p.cached} cached)` : ""}` : `fitting experts ${p.done}/${p.total}`;
  return `${Math.floor(fraction * 100)}% · ${what}${left}`;
}

/** The one folder to learn from: the only one, or the one the user picks. */
async function pickFolder(): Promise<vscode.WorkspaceFolder | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) {
    vscode.window.showErrorMessage("Spectral Soup: open a folder first; distillation learns from the workspace's code.");
    return undefined;
  }
  return folders.length === 1 ? folders[0] : vscode.window.showWorkspaceFolderPick({ placeHolder: "Distill the basis on the code of which folder?" });
}

/** A folder's key under global storage: readable, and unique per location. */
export function folderKey(folder: vscode.WorkspaceFolder): string {
  const name = folder.name.replace(/[^A-Za-z0-9_-]+/g, "-").slice(0, 40);
  return `${name}-${createHash("sha256").update(folder.uri.toString()).digest("hex").slice(0, 12)}`;
}
