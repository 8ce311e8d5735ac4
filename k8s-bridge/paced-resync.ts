import type { RolloutKey } from './rollout-status';

/**
 * Hands the Rollouts of a resync to the reconcile queue at a bounded rate. Each reconcile reads its
 * Rollout from the apiserver and its runs from Temporal's visibility, so a resync that enqueued every
 * Rollout at once would cost both a burst that grows with the number of Rollouts. Paced, the requests
 * at rest stay below `perSecond` reconciles whatever the number of Rollouts; with more Rollouts than
 * one interval's worth, a pass simply takes longer, and the next starts when it is done.
 */
export class PacedResync {
  private passing = false;
  private stopped = false;
  /** Keys handed over per tick; ticks are 100 ms apart, or slower for rates below 10 a second. */
  private readonly batch: number;
  private readonly tickMs: number;

  constructor(
    private readonly perSecond: number,
    private readonly enqueue: (key: RolloutKey) => void,
    private readonly sleep: (ms: number) => Promise<void> = (ms) =>
      new Promise((resolve) => setTimeout(resolve, ms).unref()),
  ) {
    this.batch = Math.max(1, Math.round(perSecond / 10));
    this.tickMs = (1000 * this.batch) / perSecond;
  }

  /** Whether a pass is still handing out keys. */
  get busy(): boolean {
    return this.passing;
  }

  /**
   * One pass over `keys`; false, and nothing enqueued, when the previous pass is still going (its keys
   * are as fresh as this one's would be).
   */
  async pass(keys: readonly RolloutKey[]): Promise<boolean> {
    if (this.passing || this.stopped) return false;
    this.passing = true;
    try {
      for (let start = 0; start < keys.length && !this.stopped; start += this.batch) {
        if (start > 0) await this.sleep(this.tickMs);
        if (this.stopped) break;
        for (const key of keys.slice(start, start + this.batch)) this.enqueue(key);
      }
      return true;
    } finally {
      this.passing = false;
    }
  }

  stop(): void {
    this.stopped = true;
  }
}
