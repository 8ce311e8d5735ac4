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

/**
 * How long a change to a Rollout's status alone waits for its reconcile (enqueueLater). Longer than a
 * new revision takes to its canary ReplicaSet and than a run's writes at one step (a few hundred ms
 * here), so the reconciles those writes cause neither compete with that path nor repeat; short enough
 * that a status edited by hand is put right within a second or two.
 */
export const STATUS_CHANGE_DELAY_MS = 1_000;

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
  /** A run asked for later (enqueueLater), not yet due. */
  laterTimer?: NodeJS.Timeout;
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
    const state = this.stateOf(key);
    // A run now reads the Rollout as it is by then, which covers whatever a run later was wanted for.
    for (const timer of ['retryTimer', 'laterTimer'] as const) {
      clearTimeout(state[timer]);
      state[timer] = undefined;
    }
    state.pending = true;
    state.running ??= this.drainKey(key, state);
  }

  /**
   * A run in `delayMs`, for a change nothing waits on: several such changes in the meantime make one
   * run, and an enqueue before it is due takes its place.
   */
  enqueueLater(key: string, delayMs: number): void {
    if (this.stopped) return;
    const state = this.stateOf(key);
    if (state.laterTimer) return;
    state.laterTimer = setTimeout(() => {
      state.laterTimer = undefined;
      this.enqueue(key);
    }, delayMs);
    state.laterTimer.unref();
  }

  private stateOf(key: string): KeyState {
    let state = this.keys.get(key);
    if (!state) {
      state = { pending: false, failures: 0 };
      this.keys.set(key, state);
    }
    return state;
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
      clearTimeout(state.retryTimer);
      clearTimeout(state.laterTimer);
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
    if (!state.retryTimer && !state.laterTimer && state.failures === 0) this.keys.delete(key);
  }

  /** Hands the slot of a reconcile that ended to the key waiting longest, or frees it. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inFlight -= 1;
  }
}
