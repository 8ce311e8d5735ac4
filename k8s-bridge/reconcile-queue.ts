/**
 * Runs reconciles one at a time per key (`namespace/name`) and up to `maxConcurrent` keys side by
 * side. A burst of events for one Rollout while it is being reconciled collapses into a single
 * follow-up run, which reads the Rollout as it is by then. A failed run is retried with exponential
 * backoff.
 */

/**
 * Reconciles in flight at once. Each holds a read of its Rollout, a visibility list and maybe a
 * workflow start; a thousand Rollouts created at once used to start a thousand of them together,
 * and the bridge kept the memory that burst took. Keys beyond it wait their turn, first come first
 * served; in everyday operation far fewer than this run at once.
 */
export const MAX_CONCURRENT_RECONCILES = 32;

/** 'requeue': the Rollout changed under the reconcile (a Conflict); run again at once on a fresh read. */
export type ReconcileOutcome = 'done' | 'requeue';

export interface ReconcileQueueOptions {
  initialRetryMs?: number;
  maximumRetryMs?: number;
  /** Reconciles of different keys in flight at once; MAX_CONCURRENT_RECONCILES unless set. */
  maxConcurrent?: number;
  /** Called when a run throws; the key is retried after `retryInMs`. */
  onError?: (key: string, error: unknown, retryInMs: number) => void;
}

interface KeyState {
  /** The run in progress, if any. */
  running?: Promise<void>;
  /** Another run is wanted after the current one. */
  pending: boolean;
  failures: number;
  retryTimer?: NodeJS.Timeout;
}

export class ReconcileQueue {
  private readonly keys = new Map<string, KeyState>();
  private stopped = false;
  private readonly initialRetryMs: number;
  private readonly maximumRetryMs: number;
  private readonly maxConcurrent: number;
  /** Reconciles in flight, and the keys waiting for one of them to end, in order. */
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly reconcile: (key: string) => Promise<ReconcileOutcome>,
    private readonly options: ReconcileQueueOptions = {},
  ) {
    this.initialRetryMs = options.initialRetryMs ?? 1_000;
    this.maximumRetryMs = options.maximumRetryMs ?? 60_000;
    this.maxConcurrent = options.maxConcurrent ?? MAX_CONCURRENT_RECONCILES;
  }

  enqueue(key: string): void {
    if (this.stopped) return;
    let state = this.keys.get(key);
    if (!state) {
      state = { pending: false, failures: 0 };
      this.keys.set(key, state);
    }
    if (state.retryTimer) {
      clearTimeout(state.retryTimer);
      state.retryTimer = undefined;
    }
    state.pending = true;
    state.running ??= this.drainKey(key, state);
  }

  /** Keys with a run in progress or waiting, for tests and shutdown logs. */
  get busyKeys(): string[] {
    return [...this.keys.entries()].filter(([, state]) => state.running).map(([key]) => key);
  }

  /** Stops taking work and waits for the runs in progress; pending retries are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const state of this.keys.values()) {
      state.pending = false;
      if (state.retryTimer) clearTimeout(state.retryTimer);
    }
    await Promise.all([...this.keys.values()].map((state) => state.running));
  }

  private async drainKey(key: string, state: KeyState): Promise<void> {
    while (state.pending && !this.stopped) {
      // A free slot is taken at once (no await), so a reconcile starts in the same turn as its enqueue.
      if (this.inFlight < this.maxConcurrent) this.inFlight += 1;
      else await new Promise<void>((resolve) => this.waiting.push(resolve));
      if (this.stopped) {
        this.release();
        break;
      }
      state.pending = false;
      try {
        if ((await this.reconcile(key)) === 'requeue') state.pending = true;
        state.failures = 0;
      } catch (error) {
        state.failures += 1;
        const retryInMs = Math.min(this.maximumRetryMs, this.initialRetryMs * 2 ** (state.failures - 1));
        this.options.onError?.(key, error, retryInMs);
        if (!state.pending && !this.stopped) {
          state.retryTimer = setTimeout(() => this.enqueue(key), retryInMs);
          state.retryTimer.unref();
        }
      } finally {
        this.release();
      }
    }
    state.running = undefined;
    if (!state.retryTimer && state.failures === 0) this.keys.delete(key);
  }

  /** Hands the slot of a reconcile that ended to the key waiting longest, or frees it. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inFlight -= 1;
  }
}
