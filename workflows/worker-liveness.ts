/**
 * How a workflow schedules an activity that makes a few calls and returns (a status write, a weight
 * change, a Prometheus query): its worker beats for it while it runs (activities/liveness-beats.ts),
 * so when the worker dies the activity runs again elsewhere within this heartbeat timeout, not after
 * its whole start-to-close timeout, and what waits behind it (the status writes queued after it) is
 * not held up.
 */
export const WORKER_LIVENESS = { heartbeatTimeout: '10 seconds' } as const;
