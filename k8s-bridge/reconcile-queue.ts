/**
 * Runs reconciles one at a time per key (`namespace/name`) and any number of keys side by side. A
 * burst of events for one Rollout while it is being reconciled collapses into a single follow-up
 * run, which reads the Rollout as it is by then. A failed run is retried with exponential backoff.
 */

/** 'requeue': the Rollout changed under the reconcile (a Conflict); run again at once on a fresh read. */
export type ReconcileOutcome = 'done' | 'requeue';

export interface ReconcileQueueOptions {
  initialRetryMs?: number;
  maximumRetryMs?: number;
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

  constructor(
    private readonly reconcile: (key: string) => Promise<ReconcileOutcome>,
    private readonly options: ReconcileQueueOptions = {},
  ) {
    this.initialRetryMs = options.initialRetryMs ?? 1_000;
    this.maximumRetryMs = options.maximumRetryMs ?? 60_000;
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
      }
    }
    state.running = undefined;
    if (!state.retryTimer && state.failures === 0) this.keys.delete(key);
  }
}
