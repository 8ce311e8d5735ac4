/**
 * Time during which Siirto could not observe the cluster, kept so that a progress deadline does not
 * pass on it. While the apiserver cannot be read, nothing is known about the pods (and the cluster's
 * own controllers, which need the apiserver too, make no progress either): declaring the deadline
 * passed then would decide on missing data.
 */
export interface UnobservedTime {
  /** Milliseconds, in periods that have ended, during which the apiserver could not be read. */
  unobservedMs: number;
  /** Since when (epoch milliseconds) the apiserver cannot be read, while that lasts. */
  unobservedSinceMs?: number;
}

/** What a previous attempt's heartbeat details said, or nothing on a first attempt. */
export function carriedOver(previous: Partial<UnobservedTime> | undefined): UnobservedTime {
  const unobservedMs = Math.max(0, previous?.unobservedMs ?? 0);
  // An attempt that was blind when it last reported stays blind until this one reads the cluster:
  // the time between the attempts is not known to have been observable either.
  const since = previous?.unobservedSinceMs;
  return since === undefined ? { unobservedMs } : { unobservedMs, unobservedSinceMs: since };
}

/** The apiserver stopped answering (a failed read, a watch that closed) at `nowMs`. */
export function sightLost(time: UnobservedTime, nowMs: number): UnobservedTime {
  return time.unobservedSinceMs === undefined ? { ...time, unobservedSinceMs: nowMs } : time;
}

/** A read succeeded at `nowMs`: the period without sight, if any, ends and is added up. */
export function sightRegained(time: UnobservedTime, nowMs: number): UnobservedTime {
  if (time.unobservedSinceMs === undefined) return time;
  return { unobservedMs: time.unobservedMs + Math.max(0, nowMs - time.unobservedSinceMs) };
}

/** All the time without sight up to `nowMs`, the current period included. */
export function unobservedMsAt(time: UnobservedTime, nowMs: number): number {
  const current = time.unobservedSinceMs === undefined ? 0 : Math.max(0, nowMs - time.unobservedSinceMs);
  return time.unobservedMs + current;
}

/**
 * When a deadline of `deadlineMs` started at `startedAtMs` passes, not counting the time without
 * sight; undefined while the apiserver cannot be read, since it cannot pass then.
 */
export function deadlinePassesAtMs(
  startedAtMs: number,
  deadlineMs: number,
  time: UnobservedTime,
): number | undefined {
  if (time.unobservedSinceMs !== undefined) return undefined;
  return startedAtMs + deadlineMs + time.unobservedMs;
}

/** `, not counting 31s while the apiserver could not be read`, or nothing when there was no such time. */
export function describeUnobserved(unobservedMs: number): string {
  if (unobservedMs < 1_000) return '';
  return `, not counting ${Math.round(unobservedMs / 1_000)}s while the apiserver could not be read`;
}
