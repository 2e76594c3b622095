// The workspace's learned preferences as the completion provider sees them: soup weights by policy id (a Thompson
// draw or the mean), phi vectors in basis order, ratings recorded durably, and the slider settings as prior means.
import { promises as fs } from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import type { ChoiceFeedback, RatingFeedback } from "../core/adapt/feedback";
import { SoupPosterior, type PosteriorState } from "../core/adapt/posterior";
import { seededRng, type Rng } from "../core/adapt/rng";

const LOG = "feedback.jsonl";
const SNAPSHOT = "posterior.json";

/** What the log keeps: ratings (completions, chat thumbs) and A/B choices (chat). */
type LoggedFeedback = RatingFeedback | ChoiceFeedback;

interface LogLine {
  time: string;
  event: LoggedFeedback;
  /** The suggestion's text, kept only while the privacy setting allows. */
  text?: string;
}

/** phi vectors of an event: one for a rating, winner and loser for a choice. */
const vectorsOf = (e: LoggedFeedback): number[][] => (e.type === "choice" ? [e.winner, e.loser] : [e.features]);

export class Preferences {
  /**
   * Fires after any instance learned, moved a slider or reset, and when a new instance is opened (a basis change
   * replaces the instance): views that show the state listen here once instead of tracking instances.
   */
  private static readonly changed = new vscode.EventEmitter<Preferences>();
  static readonly onDidChange = Preferences.changed.event;
  /** Bumped when sliders move or the state is reset: a Thompson draw made before is stale. */
  revision = 0;
  private readonly rng: Rng = seededRng(Date.now());
  private posterior: SoupPosterior;
  /** Serializes writes, so log lines and snapshots land in the order events happened. */
  private writes: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly policyIds: readonly string[],
    private sliders: Record<string, number>,
    /** Policy ids whose weight is pinned at the slider value. */
    private locked: readonly string[],
    private readonly keepTexts: () => boolean,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.posterior = this.fresh();
  }

  /** Opens the workspace's state in `dir`; an unreadable log or snapshot is set aside, never fatal. */
  static async open(
    dir: string,
    policyIds: readonly string[],
    sliders: Record<string, number>,
    locked: readonly string[],
    keepTexts: () => boolean,
    log: vscode.LogOutputChannel,
  ): Promise<Preferences> {
    const p = new Preferences(dir, policyIds, sliders, locked, keepTexts, log);
    await fs.mkdir(dir, { recursive: true });
    const events: LoggedFeedback[] = [];
    try {
      for (const line of (await fs.readFile(path.join(dir, LOG), "utf8")).split("\n")) {
        if (line.trim()) events.push((JSON.parse(line) as LogLine).event);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") log.warn(`feedback log unreadable, starting afresh: ${(e as Error).message}`);
    }
    p.posterior.observeAll(events.filter((e) => vectorsOf(e).every((v) => v.length === policyIds.length)));
    log.info(`preferences: ${events.length} feedback events in ${dir}`);
    Preferences.changed.fire(p);
    return p;
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
    this.applySliders(this.posterior, unlocked);
    this.revision++;
    Preferences.changed.fire(this);
  }

  async record(event: LoggedFeedback, text: string): Promise<void> {
    this.posterior.observe(event);
    const line: LogLine = { time: new Date().toISOString(), event, ...(this.keepTexts() ? { text } : {}) };
    await this.write(async () => {
      await fs.appendFile(path.join(this.dir, LOG), JSON.stringify(line) + "\n");
      await this.snapshot();
    });
    Preferences.changed.fire(this);
  }

  /** Forgets what was learned here (the log and the snapshot); the sliders stay. */
  async reset(): Promise<void> {
    await this.write(async () => {
      await fs.rm(path.join(this.dir, LOG), { force: true });
      this.posterior = this.fresh();
      await this.snapshot();
    });
    this.revision++;
    Preferences.changed.fire(this);
  }

  private fresh(): SoupPosterior {
    const posterior = new SoupPosterior({ dims: this.policyIds.length });
    this.applySliders(posterior);
    return posterior;
  }

  /** A locked dimension without a slider setting is pinned at 0, the base model; `unlocked` ones are released. */
  private applySliders(posterior: SoupPosterior, unlocked: readonly string[] = []): void {
    this.policyIds.forEach((id, dim) => {
      const locked = this.locked.includes(id);
      if (id in this.sliders || locked || unlocked.includes(id)) posterior.observe({ type: "slider", dim, value: this.sliders[id] ?? 0, locked });
    });
  }

  private write(job: () => Promise<void>): Promise<void> {
    const next = this.writes.then(job);
    this.writes = next.catch((e: unknown) => this.log.warn(`cannot write preferences: ${(e as Error).message}`));
    return next;
  }

  /** Written to a temp file and renamed, so a crash never leaves half a snapshot. */
  private async snapshot(): Promise<void> {
    const body: { policies: readonly string[]; mean: number[]; state: PosteriorState } = {
      policies: this.policyIds,
      mean: this.posterior.mean(),
      state: this.posterior.state(),
    };
    const file = path.join(this.dir, SNAPSHOT);
    await fs.writeFile(`${file}.tmp`, JSON.stringify(body));
    await fs.rename(`${file}.tmp`, file);
  }
}
