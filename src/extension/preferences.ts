// The workspace's learned preferences for one basis: soup weights by policy id (a Thompson draw or the mean), phi
// vectors in basis order, feedback recorded durably through the adaptation store (the workspace's log and
// snapshot, and the user level every workspace starts from), and the slider settings as prior means. Settings are
// the truth for sliders, so they are applied in memory, not logged. The session owns the instance and announces
// its changes.
import { promises as fs } from "node:fs";
import * as vscode from "vscode";
import type { ChoiceFeedback, RatingFeedback } from "../core/adapt/feedback";
import type { SoupPosterior } from "../core/adapt/posterior";
import { seededRng, type Rng } from "../core/random";
import { EDITOR_FIT, STREAM_AGING } from "../core/adapt/aging";
import { AdaptStore } from "../core/adapt/store";

/** What is recorded: ratings (completions, chat thumbs) and A/B choices (chat). */
type LoggedFeedback = RatingFeedback | ChoiceFeedback;

export interface PreferencesOptions {
  /** The adaptation store's folder: user level, and every workspace's level under it. */
  storeDir: string;
  /** Stable identity of the workspace (its storage URI). */
  workspaceKey: string;
  /** This workspace's own folder, for what the views keep (the weights history). */
  dir: string;
  basis: { id: string; version: string };
  policyIds: readonly string[];
  sliders: Record<string, number>;
  /** Policy ids whose weight is pinned at the slider value. */
  locked: readonly string[];
  /** Days response texts are kept for this workspace (0: none). */
  keepTextsDays: number;
  log: vscode.LogOutputChannel;
}

export class Preferences {
  readonly dir: string;
  readonly policyIds: readonly string[];
  private readonly rng: Rng = seededRng(Date.now());
  private store: AdaptStore;
  private sliders: Record<string, number>;
  private locked: readonly string[];

  private constructor(private readonly options: PreferencesOptions) {
    this.dir = options.dir;
    this.policyIds = options.policyIds;
    this.sliders = options.sliders;
    this.locked = options.locked;
    this.store = this.openStore();
  }

  /** Opens the workspace's state; damaged logs or snapshots are set aside and reported, never fatal. */
  static async open(options: PreferencesOptions): Promise<Preferences> {
    await fs.mkdir(options.dir, { recursive: true });
    const p = new Preferences(options);
    options.log.info(`preferences: ${p.store.posterior.eventCount} feedback events for ${options.workspaceKey} in ${options.storeDir}`);
    return p;
  }

  private get posterior(): SoupPosterior {
    return this.store.posterior;
  }

  /** phi as a vector in basis order (missing policies count 0). */
  vector(features: Record<string, number>): number[] {
    return this.policyIds.map((id) => features[id] ?? 0);
  }

  /** Soup weights by policy id: a Thompson draw when exploring, else the posterior mean. */
  weights(explore: boolean): Record<string, number> {
    const w = explore ? this.posterior.sample(this.rng) : this.posterior.mean();
    return Object.fromEntries(this.policyIds.map((id, k) => [id, w[k]]));
  }

  mean(): Record<string, number> {
    const w = this.posterior.mean();
    return Object.fromEntries(this.policyIds.map((id, k) => [id, w[k]]));
  }

  /** Posterior standard deviation of each weight, by policy id (the preferences view's uncertainty band). */
  std(): Record<string, number> {
    const s = this.posterior.std();
    return Object.fromEntries(this.policyIds.map((id, k) => [id, s[k]]));
  }

  isLocked(id: string): boolean {
    return this.locked.includes(id);
  }

  /** New slider values (settings) become the prior means; a locked dimension is pinned at its value. */
  setSliders(sliders: Record<string, number>, locked: readonly string[]): void {
    const unlocked = this.locked.filter((id) => !locked.includes(id));
    this.sliders = sliders;
    this.locked = locked;
    this.applySliders(this.store, unlocked);
    // The snapshot then holds the fit the editor uses now, sliders included.
    this.store.flush();
  }

  async record(event: LoggedFeedback, text: string): Promise<void> {
    this.store.record(event, [text]);
  }

  /** Stops the store's periodic text retention (the instance was replaced). */
  dispose(): void {
    this.store.dispose();
  }

  /** A new retention limit for response texts, applied at once. */
  setKeepTextsDays(days: number): void {
    this.options.keepTextsDays = days;
    this.store.setKeepTextsDays(days);
  }

  /** Forgets what was learned in this workspace (its log, snapshot and texts); the sliders and the user level stay. */
  async reset(): Promise<void> {
    this.store.dispose();
    await fs.rm(this.store.workspaceFolder, { recursive: true, force: true });
    this.store = this.openStore();
  }

  private openStore(): AdaptStore {
    const o = this.options;
    const store = AdaptStore.open(o.storeDir, {
      basis: { ...o.basis, dims: o.policyIds.length },
      workspace: o.workspaceKey,
      log: (m) => o.log.warn(m),
      keepTextsDays: o.keepTextsDays,
      // The estimate is the posterior mean (better than the mode on few events), and a change of taste in this
      // workspace is followed within tens of events.
      posterior: EDITOR_FIT,
      aging: STREAM_AGING,
      // Feedback is a few events a minute: a fresh snapshot each time keeps reloads exact and cheap, and computes the
      // new estimate (its mean, up to a few hundred ms on long logs) as the feedback lands, not at the next keystroke.
      snapshotEvery: 1,
    });
    this.applySliders(store);
    return store;
  }

  /** A locked dimension without a slider setting is pinned at 0, the base model; `unlocked` ones are released. */
  private applySliders(store: AdaptStore, unlocked: readonly string[] = []): void {
    this.policyIds.forEach((id, dim) => {
      const locked = this.locked.includes(id);
      if (id in this.sliders || locked || unlocked.includes(id)) store.applySlider({ type: "slider", dim, value: this.sliders[id] ?? 0, locked });
    });
  }
}
