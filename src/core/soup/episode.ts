// Thompson sampling draws soup weights once per episode, not per keystroke: a new weight vector changes every
// prompted expert's mix, so a draw per request would defeat the engine's prefix caches and make suggestions
// flicker. An episode ends after a number of completions or an amount of time, whichever comes first.

export interface EpisodeOptions {
  maxCompletions: number;
  maxMs: number;
}

export class Episode<W> {
  private weights: W | undefined;
  private startedAt = 0;
  private served = 0;

  constructor(
    private readonly options: () => EpisodeOptions,
    private readonly draw: () => W,
  ) {}

  /** The episode's weights, drawing new ones when the episode is over (or none was started); `count`: one served. */
  current(now: number, count = true): W {
    const { maxCompletions, maxMs } = this.options();
    if (this.weights === undefined || this.served >= maxCompletions || now - this.startedAt >= maxMs) {
      this.weights = this.draw();
      this.startedAt = now;
      this.served = 0;
    }
    if (count) this.served++;
    return this.weights;
  }

  /** Ends the episode now (new feedback or preferences make the old draw stale). */
  end(): void {
    this.weights = undefined;
  }
}
