import * as k8s from '@kubernetes/client-node';
import { setTimeout as delay } from 'node:timers/promises';

/** Heartbeats often enough for the activity's heartbeat timeout, and for cancellation to reach it. */
export function heartbeatIntervalMs(heartbeatTimeoutMs: number | undefined): number {
  return Math.min(10_000, Math.max(200, (heartbeatTimeoutMs ?? 30_000) / 3));
}

/** A watch that closed sooner than this is not reopened at once, so a refusing apiserver is not hammered. */
const MINIMUM_WATCH_LIFETIME_MS = 1_000;

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
}

/**
 * Reads, then watches from the version read until an event gives the outcome. A watch that closes
 * (the apiserver ends them after a while, or the connection drops) is opened again from a fresh read,
 * which also catches up on anything missed meanwhile.
 */
export async function readThenWatch<T, R>(
  config: k8s.KubeConfig,
  { path, selector, read, onEvent, finished }: ReadThenWatch<T, R>,
): Promise<R> {
  const watch = new k8s.Watch(config);
  for (;;) {
    finished.throwIfAborted();
    const { outcome, resourceVersion } = await read();
    if (outcome !== undefined) return outcome;

    const openedAt = Date.now();
    const watched = await watchOnce(watch, path, { ...selector, resourceVersion }, finished, onEvent);
    if (watched !== 'closed') return watched;
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
