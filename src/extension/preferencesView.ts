// The preferences view: the extension side of webview/preferences.ts. It shows what the workspace posterior learned
// (mean and std per dimension, and how the means moved over time) next to the user's own slider values, and turns
// the user's moves into settings: `spectralSoup.preferences.<id>` and `spectralSoup.lockedPreferences`. Settings
// are the single source of truth for sliders and locks, so the Settings UI and this view stay in sync both ways
// (a change from either side reaches Preferences through the configuration event, which re-renders the view).
// Its Basis tab describes the current basis pack and, on request, runs basis diagnostics in a job process.
import { existsSync } from "node:fs";
import { appendFile, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import * as vscode from "vscode";
import type { BasisDiagnosis } from "../core/basis/diagnose";
import type { BasisPack } from "../core/basis/pack";
import { exportProfile, importProfile, PROFILE_PATH, type Profile } from "../core/profile/profile";
import { parseFromPreferences, type BasisInfo, type DiagnosisState, type DimensionState, type FromPreferences, type ToPreferences, type WeightSnapshot } from "../../webview/protocol/preferences";
import { COMMANDS } from "./commands";
import type { BasisJobs } from "./basisJobs";
import type { Preferences } from "./preferences";
import type { Session } from "./session";
import { SECTION } from "./settings";
import { PageHost } from "./webviewHost";

export const PREFERENCES_VIEW = "spectralSoup.preferences";

const HISTORY_FILE = "weights-history.jsonl";
/** Points kept for the chart; the file is compacted to this many when it grows to twice as many. */
const HISTORY_POINTS = 300;
/** Means closer than this to the last point are not a new point (a slider echo, a no-op refit). */
const HISTORY_EPSILON = 1e-4;

export class PreferencesView implements vscode.WebviewViewProvider, vscode.Disposable {
  private readonly page: PageHost<FromPreferences, ToPreferences>;
  /** The chart's points per preferences folder (a basis change opens another folder's state). */
  private history: { dir: string; points: WeightSnapshot[] } | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  /** The Basis tab's diagnostics, for the pack (id and version) they were run on: another pack shows none. */
  private diagnosis: { pack: string; state: DiagnosisState } | undefined;

  constructor(
    private readonly session: Session,
    private readonly basisJobs: BasisJobs,
  ) {
    this.page = new PageHost(
      { extensionUri: session.context.extensionUri, name: "preferences", title: "Spectral Soup preferences", log: session.log, parse: parseFromPreferences },
      (msg) => this.handle(msg),
    );
    this.disposables.push(
      this.page,
      session.onDidChange((change) => {
        if (!change.preferences && !change.learned && !change.basis) return;
        // Recorded even while the view is hidden, so the chart has the whole story when it is opened.
        void this.track(session.preferences).then(() => this.postState());
      }),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.page.resolve(view);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  /** Writes `.vscode/spectral-soup.json` of the first workspace folder (also a palette command). */
  async exportProfile(): Promise<void> {
    const file = profileFile();
    const pack = this.session.basis.pack;
    const dims = await this.dimensions();
    const profile: Profile = {
      schema: 1,
      basis: { id: pack.id, version: pack.version },
      sliders: Object.fromEntries(dims.map((d) => [d.id, { value: d.slider, locked: d.locked }])),
      weights: Object.fromEntries(dims.map((d) => [d.id, { mean: round(d.mean), std: round(d.std) }])),
    };
    await exportProfile(file, profile);
    this.session.log.info(`preference profile exported to ${file}`);
    const open = "Open";
    if ((await vscode.window.showInformationMessage(`Spectral Soup: preferences exported to ${PROFILE_PATH}.`, open)) === open) {
      await vscode.window.showTextDocument(vscode.Uri.file(file));
    }
  }

  /**
   * Reads `.vscode/spectral-soup.json` into this workspace's settings (sliders and locks). Learned weights in the
   * file are not imported: they describe someone else's feedback, while the sliders are the shared starting point.
   */
  async importProfile(): Promise<void> {
    const file = profileFile();
    const pack = this.session.basis.pack;
    // Throws a ProfileError naming the file and the field; nothing has been changed at that point.
    const profile = await importProfile(file, { id: pack.id, version: pack.version, dimensions: pack.policies.map((p) => p.id) });
    const config = vscode.workspace.getConfiguration(SECTION);
    const target = vscode.ConfigurationTarget.Workspace;
    for (const [id, s] of Object.entries(profile.sliders)) await config.update(`preferences.${id}`, s.value, target);
    const locked = Object.entries(profile.sliders).filter(([, s]) => s.locked).map(([id]) => id);
    await config.update("lockedPreferences", locked, target);
    this.session.log.info(`preference profile imported from ${file}`);
    vscode.window.showInformationMessage(`Spectral Soup: preferences imported from ${PROFILE_PATH} into this workspace's settings.`);
  }

  private async handle(msg: FromPreferences): Promise<void> {
    switch (msg.type) {
      case "ready":
        await this.track(this.session.preferences);
        return this.postState();
      case "setSlider":
        return this.setSlider(msg.id, msg.value);
      case "lock":
        return this.setLocked(msg.id, msg.locked);
      case "reset":
        return this.reset(msg.id);
      case "forget":
        // The command asks for confirmation first: a click should not wipe what was learned.
        await vscode.commands.executeCommand(COMMANDS.resetPreferences);
        return;
      case "export":
        return this.exportProfile();
      case "import":
        return this.importProfile();
      case "diagnose":
        return this.diagnose();
      case "cancelDiagnose":
        this.basisJobs.cancelDiagnose();
        return;
      case "distill":
        await vscode.commands.executeCommand(COMMANDS.distillBasis);
        return;
    }
  }

  /**
   * Runs basis diagnostics in a job process (they cost inference: only when asked) and shows the result, or why
   * it failed, in the Basis tab; the failure is logged too.
   */
  private async diagnose(): Promise<void> {
    // A second click while running would only be refused by the job runner and hide the running state.
    if (this.diagnosis?.state.status === "running") return;
    const key = packKey(this.session.basis.pack);
    const show = (state: DiagnosisState) => {
      this.diagnosis = { pack: key, state };
      return this.postBasis();
    };
    await show({ status: "running" });
    let result: { pack: BasisPack; diagnosis: BasisDiagnosis };
    try {
      result = await this.basisJobs.diagnose();
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.session.log.error(`basis diagnostics failed: ${message}`);
      return show({ status: "failed", message });
    }
    const d = result.diagnosis;
    this.diagnosis = {
      pack: packKey(result.pack),
      state: {
        status: "done",
        result: { at: Date.now(), responses: d.responses, effectiveRank: d.effectiveRank, eigenvalues: d.eigenvalues, redundantPairs: d.redundantPairs, weakDimensions: d.weakDimensions },
      },
    };
    return this.postBasis();
  }

  private async postBasis(): Promise<void> {
    if (!this.page.visible) return;
    const pack = this.session.basis.pack;
    const info: BasisInfo = { id: pack.id, version: pack.version, label: pack.label, policies: pack.policies.map((p) => ({ id: p.id, label: p.label, kind: p.kind })) };
    const diagnosis: DiagnosisState = this.diagnosis?.pack === packKey(pack) ? this.diagnosis.state : { status: "none" };
    this.page.post({ type: "basis", info, diagnosis });
  }

  private async setSlider(id: string, value: number): Promise<void> {
    this.requireDimension(id);
    const key = `preferences.${id}`;
    await vscode.workspace.getConfiguration(SECTION).update(key, value, targetOf(key));
  }

  private async setLocked(id: string, locked: boolean): Promise<void> {
    this.requireDimension(id);
    const current = this.session.settings.lockedPreferences;
    const next = locked ? [...new Set([...current, id])] : current.filter((x) => x !== id);
    await vscode.workspace.getConfiguration(SECTION).update("lockedPreferences", next, targetOf("lockedPreferences"));
  }

  /** Back to the pack's default: the settings are removed wherever they are set, and locks released. */
  private async reset(id: string | undefined): Promise<void> {
    if (id !== undefined) this.requireDimension(id);
    const config = vscode.workspace.getConfiguration(SECTION);
    const ids = id === undefined ? this.session.preferences.policyIds : [id];
    for (const key of ids.map((i) => `preferences.${i}`)) {
      const where = config.inspect(key);
      if (where?.workspaceValue !== undefined) await config.update(key, undefined, vscode.ConfigurationTarget.Workspace);
      if (where?.globalValue !== undefined) await config.update(key, undefined, vscode.ConfigurationTarget.Global);
    }
    const locked = this.session.settings.lockedPreferences.filter((x) => !ids.includes(x));
    if (locked.length !== this.session.settings.lockedPreferences.length) {
      await config.update("lockedPreferences", locked, targetOf("lockedPreferences"));
    }
  }

  private requireDimension(id: string): void {
    if (!this.session.preferences.policyIds.includes(id)) throw new Error(`"${id}" is not a dimension of the current basis.`);
  }

  private async dimensions(): Promise<DimensionState[]> {
    const prefs = this.session.preferences;
    const s = this.session.settings;
    const pack = this.session.basis.pack;
    const mean = prefs.mean();
    const std = prefs.std();
    return prefs.policyIds.map((id) => {
      const policy = pack.policies.find((p) => p.id === id);
      return {
        id,
        label: policy?.label ?? id,
        description: policy?.description ?? "",
        mean: mean[id]!,
        std: std[id]!,
        slider: s.preferences[id] ?? policy?.default ?? 0,
        locked: s.lockedPreferences.includes(id),
      };
    });
  }

  private async postState(): Promise<void> {
    if (!this.page.visible) return;
    const dims = await this.dimensions();
    this.page.post({ type: "state", dims, history: this.history?.points ?? [] });
    // A basis change opens new Preferences, which lands here: the Basis tab follows it.
    await this.postBasis();
  }

  /** Adds the current means to the chart's history (in memory and in the workspace's preferences folder). */
  private async track(p: Preferences): Promise<void> {
    const file = path.join(p.dir, HISTORY_FILE);
    if (this.history?.dir !== p.dir) this.history = { dir: p.dir, points: await readHistory(file, p.policyIds) };
    const points = this.history.points;
    const weights = p.mean();
    const last = points.at(-1)?.weights;
    if (last && p.policyIds.every((id) => Math.abs((last[id] ?? 0) - weights[id]!) < HISTORY_EPSILON)) return;
    const point: WeightSnapshot = { t: Date.now(), weights };
    points.push(point);
    try {
      if (points.length > 2 * HISTORY_POINTS) {
        points.splice(0, points.length - HISTORY_POINTS);
        await writeFile(file, points.map((x) => JSON.stringify(x) + "\n").join(""));
      } else {
        await appendFile(file, JSON.stringify(point) + "\n");
      }
    } catch (e) {
      this.session.log.warn(`cannot write the weights history ${file}: ${(e as Error).message}`);
    }
  }
}

/** The chart's history; lines that are damaged or of another basis are skipped (it is only a picture). */
async function readHistory(file: string, ids: readonly string[]): Promise<WeightSnapshot[]> {
  if (!existsSync(file)) return [];
  const points: WeightSnapshot[] = [];
  for (const line of (await readFile(file, "utf8")).split("\n")) {
    try {
      const p = JSON.parse(line) as WeightSnapshot;
      if (typeof p.t === "number" && ids.every((id) => typeof p.weights?.[id] === "number")) points.push(p);
    } catch {
      // A torn last line after a crash: skip it.
    }
  }
  return points.slice(-HISTORY_POINTS);
}

/** Where a setting should be written: the workspace if it already sets it (it would win anyway), else the user. */
function targetOf(key: string): vscode.ConfigurationTarget {
  return vscode.workspace.getConfiguration(SECTION).inspect(key)?.workspaceValue !== undefined
    ? vscode.ConfigurationTarget.Workspace
    : vscode.ConfigurationTarget.Global;
}

function profileFile(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) throw new Error(`Open a folder first: the profile is ${PROFILE_PATH} in the workspace.`);
  return path.join(folder.uri.fsPath, PROFILE_PATH);
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;

const packKey = (pack: BasisPack) => `${pack.id}@${pack.version}`;
