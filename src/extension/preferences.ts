// The workspace's learned preferences as the completion provider sees them: soup weights by policy id (a Thompson
// draw or the mean), phi vectors in basis order, ratings recorded durably, and the slider settings as prior means.
import { promises as fs } from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import type { RatingFeedback } from "../core/adapt/feedback";
import { SoupPosterior, type PosteriorState } from "../core/adapt/posterior";
import { seededRng, type Rng } from "../core/adapt/rng";

const LOG = "feedback.jsonl";
const SNAPSHOT = "posterior.json";

interface LogLine {
  time: string;
  event: RatingFeedback;
  /** The suggestion's text, kept only while the privacy setting allows. */
  text?: string;
}

export class Preferences {
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
    keepTexts: () => boolean,
    log: vscode.LogOutputChannel,
  ): Promise<Preferences> {
    const p = new Preferences(dir, policyIds, sliders, keepTexts, log);
    await fs.mkdir(dir, { recursive: true });
    const events: RatingFeedback[] = [];
    try {
      for (const line of (await fs.readFile(path.join(dir, LOG), "utf8")).split("\n")) {
        if (line.trim()) events.push((JSON.parse(line) as LogLine).event);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") log.warn(`feedback log unreadable, starting afresh: ${(e as Error).message}`);
    }
    p.posterior.observeAll(events.filter((e) => e.features.length === policyIds.length));
    log.info(`preferences: ${events.length} feedback events in ${dir}`);
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

  /** New slider values (settings) become the prior means. */
  setSliders(sliders: Record<string, number>): void {
    this.sliders = sliders;
    this.policyIds.forEach((id, dim) => {
      if (id in sliders) this.posterior.observe({ type: "slider", dim, value: sliders[id], locked: false });
    });
    this.revision++;
  }

  async record(event: RatingFeedback, text: string): Promise<void> {
    this.posterior.observe(event);
    const line: LogLine = { time: new Date().toISOString(), event, ...(this.keepTexts() ? { text } : {}) };
    await this.write(async () => {
      await fs.appendFile(path.join(this.dir, LOG), JSON.stringify(line) + "\n");
      await this.snapshot();
    });
  }

  /** Forgets what was learned here (the log and the snapshot); the sliders stay. */
  async reset(): Promise<void> {
    await this.write(async () => {
      await fs.rm(path.join(this.dir, LOG), { force: true });
      this.posterior = this.fresh();
      await this.snapshot();
    });
    this.revision++;
  }

  private fresh(): SoupPosterior {
    const posterior = new SoupPosterior({ dims: this.policyIds.length });
    this.policyIds.forEach((id, dim) => {
      if (id in this.sliders) posterior.observe({ type: "slider", dim, value: this.sliders[id], locked: false });
    });
    return posterior;
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
