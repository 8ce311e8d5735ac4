import * as k8s from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { setTimeout as delay } from 'node:timers/promises';
import { isTransient } from '../kubernetes/errors';

/** Heartbeats often enough for the activity's heartbeat timeout, and for cancellation to reach it. */
export function heartbeatIntervalMs(heartbeatTimeoutMs: number | undefined): number {
  return Math.min(10_000, Math.max(200, (heartbeatTimeoutMs ?? 30_000) / 3));
}

/** A watch that closed sooner than this is not reopened at once, so a refusing apiserver is not hammered. */
const MINIMUM_WATCH_LIFETIME_MS = 1_000;

/** Between reads of an apiserver that does not answer: soon enough to see it back within seconds. */
const UNREACHABLE_RETRY_MS = { first: 250, longest: 2_000 };

export interface Sight {
  /** Nothing has been known of the objects since `sinceMs`. */
  lost(sinceMs: number): void;
  regained(): void;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: T;
}

export interface ReadThenWatch<T, R> {
  /** The collection's path, such as `/api/v1/namespaces/shop/pods`. */
  path: string;
  /** A labelSelector or fieldSelector narrowing the watch to the objects `read` reads. */
  selector: { labelSelector: string } | { fieldSelector: string };
  /** Reads the objects afresh: the outcome if they already give one, else the version to watch from. */
  read: () => Promise<{ outcome?: R; resourceVersion?: string }>;
  /** Takes in one change; returns the outcome once there is one. */
  onEvent: (event: WatchEvent<T>) => R | undefined;
  /** Ends the wait, closing the watch, however the activity ends. */
  finished: AbortSignal;
  /**
   * Told when the apiserver stops being observed (a read it did not answer, or answered with a server
   * error: since the watch before it closed, if one did) and when a read succeeds again. With it, such
   * a read is tried again within this attempt instead of failing it, so the caller can keep account
   * of the time it could not see.
   */
  sight?: Sight;
}

/**
 * Reads, then watches from the version read until an event gives the outcome. A watch that closes
 * (the apiserver ends them after a while, or the connection drops) is opened again from a fresh read,
 * which also catches up on anything missed meanwhile.
 */
export async function readThenWatch<T, R>(
  config: k8s.KubeConfig,
  { path, selector, read, onEvent, finished, sight }: ReadThenWatch<T, R>,
): Promise<R> {
  const watch = new k8s.Watch(config);
  let retryMs = UNREACHABLE_RETRY_MS.first;
  // When the last watch closed: what it said holds until then, and from then on only a read tells.
  let watchClosedAt: number | undefined;
  for (;;) {
    finished.throwIfAborted();
    let fresh: Awaited<ReturnType<typeof read>>;
    try {
      fresh = await read();
    } catch (error) {
      // A failure the read already judged (forbidden, invalid) is no outage; it ends the wait.
      if (!sight || error instanceof ApplicationFailure || !isTransient(error)) throw error;
      sight.lost(watchClosedAt ?? Date.now());
      await delay(retryMs, undefined, { signal: finished });
      retryMs = Math.min(retryMs * 2, UNREACHABLE_RETRY_MS.longest);
      continue;
    }
    sight?.regained();
    retryMs = UNREACHABLE_RETRY_MS.first;
    const { outcome, resourceVersion } = fresh;
    if (outcome !== undefined) return outcome;

    const openedAt = Date.now();
    const watched = await watchOnce(watch, path, { ...selector, resourceVersion }, finished, onEvent);
    if (watched !== 'closed') return watched;
    // A watch the apiserver ended (as it does every few minutes, or with 410 Gone) is no outage; a
    // read that fails next is, from this moment.
    watchClosedAt = Date.now();
    const lifetimeMs = Date.now() - openedAt;
    if (lifetimeMs < MINIMUM_WATCH_LIFETIME_MS) {
      await delay(MINIMUM_WATCH_LIFETIME_MS - lifetimeMs, undefined, { signal: finished });
    }
  }
}

/**
 * One watch connection. Resolves with what `onEvent` returns first, or `closed` when the connection
 * ends or the apiserver reports an error (such as 410 Gone for a version too old), after which the
 * caller reads afresh.
 */
function watchOnce<T, R>(
  watch: k8s.Watch,
  path: string,
  query: Record<string, string | undefined>,
  finished: AbortSignal,
  onEvent: (event: WatchEvent<T>) => R | undefined,
): Promise<R | 'closed'> {
  return new Promise((resolve, reject) => {
    // An abort event fires once: a wait that ended before this watch began must not open it.
    if (finished.aborted) return reject(finished.reason);
    let connection: AbortController | undefined;
    let settled = false;
    const settle = (outcome: R | 'closed') => {
      if (settled) return;
      settled = true;
      finished.removeEventListener('abort', onFinished);
      connection?.abort();
      resolve(outcome);
    };
    const onFinished = () => {
      connection?.abort();
      if (!settled) {
        settled = true;
        reject(finished.reason);
      }
    };
    finished.addEventListener('abort', onFinished, { once: true });

    watch
      .watch(
        path,
        { ...query, allowWatchBookmarks: true },
        (type: string, object: T) => {
          if (settled) return;
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
            const outcome = onEvent({ type, object });
            if (outcome !== undefined) settle(outcome);
          } else if (type === 'ERROR') {
            settle('closed');
          }
        },
        () => settle('closed'),
      )
      .then((controller) => {
        connection = controller;
        if (settled) controller.abort();
      }, reject);
  });
}
