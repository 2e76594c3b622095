// The extension's state and its one owner: the settings, the resolved basis, the workspace's learned preferences
// and the engine controller. Views, providers and commands take the session and listen to its one change event;
// every change of settings, trust, basis or preferences goes through its one reload path, so nothing holds a
// stale copy and the whole extension agrees on which basis is in use.
import * as path from "node:path";
import * as vscode from "vscode";
import type { ChoiceFeedback, RatingFeedback } from "../core/adapt/feedback";
import { loadBasisPack, type BasisPack } from "../core/basis/pack";
import type { EngineState } from "../core/editor/status";
import { FeedbackRecorder } from "../core/soup/recorder";
import type { PosteriorView } from "../core/soup/weights";
import { EngineController } from "./engine";
import { Preferences } from "./preferences";
import { LOAD_SETTINGS, readSettings, SECTION, type SoupSettings } from "./settings";

/** What one change touched; listeners look at the parts they show. */
export interface SessionChange {
  /** The settings were read again. */
  settings: boolean;
  /** Another basis is in use (new policies, new preferences). */
  basis: boolean;
  /** The preferences moved under a Thompson draw: sliders, locks, a reset, or another basis' preferences. */
  preferences: boolean;
  /** Feedback was learned from: the posterior moved, a draw stays valid. */
  learned: boolean;
  /** The engine was asked to load again (model, basis or compute settings). */
  load: boolean;
}

/** The basis in use: the configured pack, or the bundled one when none is set or it cannot be read. */
export interface ResolvedBasis {
  pack: BasisPack;
  /** The manifest the engine and the basis jobs load. */
  path: string;
  /** Why the configured pack is not in use; undefined when it is (or none is configured). */
  error?: string;
}

const NO_CHANGE: SessionChange = { settings: false, basis: false, preferences: false, learned: false, load: false };

export class Session implements PosteriorView, vscode.Disposable {
  readonly engine: EngineController;
  /** Where the pipelines' feedback goes: scored, then recorded; kept on disk while the engine cannot score it. */
  readonly feedback: FeedbackRecorder;
  /** The bundled basis pack: the fallback of every basis read. */
  readonly defaultPack: string;
  readonly catalogueFile: string;
  /** Per workspace: learned preferences and the chat history; a window without a folder shares one under the user's. */
  readonly workspaceDir: string;
  private readonly emitter = new vscode.EventEmitter<SessionChange>();
  /** Fires once per change, after the session's state is consistent again. */
  readonly onDidChange = this.emitter.event;
  /** A failing configured pack is shown once, not on every reload. */
  private shownBasisError: string | undefined;
  /** Head adapters distilled from the basis' prompted experts, for the model and pack they were made from. */
  private distilled: { modelPath: string; packPath: string; heads: Record<string, string> } | undefined;
  private started = false;

  private constructor(
    readonly context: vscode.ExtensionContext,
    readonly log: vscode.LogOutputChannel,
    private current: { settings: SoupSettings; basis: ResolvedBasis; preferences: Preferences },
    paths: { defaultPack: string; catalogueFile: string; workspaceDir: string },
  ) {
    this.defaultPack = paths.defaultPack;
    this.catalogueFile = paths.catalogueFile;
    this.workspaceDir = paths.workspaceDir;
    this.engine = new EngineController(context.extensionPath, log, () => this.current.settings.traceFile, context.secrets);
    const up = (state: EngineState) => state.kind === "ready" || (state.kind === "servers" && state.up > 0);
    this.feedback = new FeedbackRecorder({
      generator: this.engine,
      weights: this,
      log,
      file: path.join(this.workspaceDir, "waiting-feedback.json"),
      engineUp: () => up(this.engine.state),
    });
    // Feedback that waited for the engine is scored as soon as it answers again.
    this.engine.onDidChangeState((state) => {
      if (up(state)) void this.feedback.retry();
    });
  }

  /** Reads the settings and the basis and opens the workspace's preferences; nothing here throws for a broken setting. */
  static async open(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): Promise<Session> {
    const paths = {
      defaultPack: path.join(context.extensionPath, "models", "default-pack.json"),
      catalogueFile: path.join(context.extensionPath, "models", "catalogue.json"),
      workspaceDir: context.storageUri?.fsPath ?? path.join(context.globalStorageUri.fsPath, "no-workspace"),
    };
    const basis = await resolveBasis(readSettings([]).load.basisPack, paths.defaultPack, log);
    const settings = readSettings(basis.pack.policies.map((p) => p.id));
    const preferences = await openPreferences(context, paths.workspaceDir, basis.pack, settings, log);
    const session = new Session(context, log, { settings, basis, preferences }, paths);
    session.reportBasis();
    return session;
  }

  get settings(): SoupSettings {
    return this.current.settings;
  }

  get basis(): ResolvedBasis {
    return this.current.basis;
  }

  get preferences(): Preferences {
    return this.current.preferences;
  }

  /**
   * The one reload path. `affects` says which settings changed (all of them when omitted, as at activation or when
   * trust was granted); the basis and the preferences are reopened only when the basis pack setting changed.
   */
  async reload(affects: (key: string) => boolean = () => true): Promise<void> {
    const change = { ...NO_CHANGE, settings: true };
    const ids = () => this.current.basis.pack.policies.map((p) => p.id);
    if (affects("basisPack")) {
      const basis = await resolveBasis(readSettings([]).load.basisPack, this.defaultPack, this.log);
      const changed = basis.path !== this.current.basis.path || basis.pack.version !== this.current.basis.pack.version || basis.pack.id !== this.current.basis.pack.id;
      this.current = { ...this.current, basis };
      this.reportBasis();
      if (changed) {
        const settings = readSettings(ids());
        const replaced = this.current.preferences;
        this.current = { ...this.current, settings, preferences: await openPreferences(this.context, this.workspaceDir, basis.pack, settings, this.log) };
        replaced.dispose();
        Object.assign(change, { basis: true, preferences: true });
      }
    }
    this.current = { ...this.current, settings: readSettings(ids()) };
    if (!change.preferences && (affects("preferences") || affects("lockedPreferences"))) {
      this.current.preferences.setSliders(this.settings.preferences, this.settings.lockedPreferences);
      this.log.info(`preference settings: ${JSON.stringify(this.settings.preferences)}`);
      change.preferences = true;
    }
    if (!change.preferences && affects("privacy.keepTextsDays")) this.current.preferences.setKeepTextsDays(this.settings.keepTextsDays);
    if (LOAD_SETTINGS.some(affects)) {
      this.loadEngine();
      change.load = true;
    }
    this.emitter.fire(change);
  }

  /** The first load of the engine, at activation. */
  start(): void {
    this.started = true;
    this.loadEngine();
    this.emitter.fire({ ...NO_CHANGE, load: true });
  }

  /**
   * Head adapters distilled from the current basis' prompted experts on the current model (undefined: none):
   * completions soup them in the parameters, chat keeps the prompts. The preferences stay, since the features are
   * still the prompted experts'.
   */
  useHeads(heads: Record<string, string> | undefined): void {
    const next = heads && Object.keys(heads).length ? { modelPath: this.settings.load.modelPath, packPath: this.basis.path, heads } : undefined;
    if (JSON.stringify(next) === JSON.stringify(this.distilled)) return;
    this.distilled = next;
    if (!this.started) return;
    this.loadEngine();
    this.emitter.fire({ ...NO_CHANGE, load: true });
  }

  /** Loads the engine with the settings' model and the basis, plus the heads when they were made for both. */
  private loadEngine(): void {
    const d = this.distilled;
    const heads = d && d.modelPath === this.settings.load.modelPath && d.packPath === this.basis.path ? d.heads : undefined;
    void this.engine.load(this.settings.load, this.basis.path, heads);
  }

  /** Reloads on a configuration event that touches this extension's settings. */
  onConfiguration(e: vscode.ConfigurationChangeEvent): Promise<void> | undefined {
    if (!e.affectsConfiguration(SECTION)) return undefined;
    return this.reload((key) => e.affectsConfiguration(`${SECTION}.${key}`));
  }

  /** Forgets what was learned in this workspace; the sliders and the user level stay. */
  async resetPreferences(): Promise<void> {
    await this.current.preferences.reset();
    this.emitter.fire({ ...NO_CHANGE, preferences: true });
  }

  // The learned preferences as the pipelines see them (PosteriorView): always the current basis' preferences.

  get policyIds(): readonly string[] {
    return this.current.preferences.policyIds;
  }

  weights(explore: boolean): Record<string, number> {
    return this.current.preferences.weights(explore);
  }

  vector(features: Record<string, number>): number[] {
    return this.current.preferences.vector(features);
  }

  mean(): Record<string, number> {
    return this.current.preferences.mean();
  }

  std(): Record<string, number> {
    return this.current.preferences.std();
  }

  isLocked(id: string): boolean {
    return this.current.preferences.isLocked(id);
  }

  async record(event: RatingFeedback | ChoiceFeedback, text: string): Promise<void> {
    await this.current.preferences.record(event, text);
    this.emitter.fire({ ...NO_CHANGE, learned: true });
  }

  dispose(): void {
    this.feedback.dispose();
    this.engine.dispose();
    this.emitter.dispose();
    this.current.preferences.dispose();
  }

  /** A configured pack that cannot be read: logged on every read, shown to the user once per cause. */
  private reportBasis(): void {
    const error = this.current.basis.error;
    if (error && error !== this.shownBasisError) {
      void vscode.window.showWarningMessage(`Spectral Soup: ${error}; using the bundled basis pack.`);
    }
    this.shownBasisError = error;
  }
}

/** One loader, one fallback rule: the configured pack when it reads, else the bundled one, with why. */
async function resolveBasis(configured: string, defaultPack: string, log: vscode.LogOutputChannel): Promise<ResolvedBasis> {
  if (configured) {
    try {
      return { pack: await loadBasisPack(configured), path: configured };
    } catch (e) {
      const error = (e as Error).message;
      log.error(`${error}; using the bundled basis pack`);
      return { pack: await loadBasisPack(defaultPack), path: defaultPack, error };
    }
  }
  return { pack: await loadBasisPack(defaultPack), path: defaultPack };
}

function openPreferences(
  context: vscode.ExtensionContext,
  workspaceDir: string,
  pack: BasisPack,
  settings: SoupSettings,
  log: vscode.LogOutputChannel,
): Promise<Preferences> {
  return Preferences.open({
    // The user level lives with the user; each workspace's level under it, keyed by the workspace's identity.
    storeDir: path.join(context.globalStorageUri.fsPath, "adapt"),
    workspaceKey: context.storageUri?.toString() ?? "no-workspace",
    dir: path.join(workspaceDir, "preferences"),
    basis: { id: pack.id, version: pack.version },
    policyIds: pack.policies.map((p) => p.id),
    sliders: settings.preferences,
    locked: settings.lockedPreferences,
    keepTextsDays: settings.keepTextsDays,
    log,
  });
}
