import { Context } from '@temporalio/activity';

/**
 * The worker's half of WORKER_LIVENESS (workflows/worker-liveness.ts): while an activity that makes a
 * few calls runs, its worker beats for it, so that Temporal tells a dead worker from a slow call. A
 * slow call on a live worker keeps its whole start-to-close timeout. Without the beats, a status
 * write caught by a worker's crash held up every status write behind it for a minute.
 *
 * Activities that beat on their own, with their progress as details, are not wrapped: these beats
 * carry no details and would replace theirs.
 */
export function beatingWhileRunning<Activities extends Record<string, (input: never) => Promise<unknown>>>(
  activities: Activities,
): Activities {
  return Object.fromEntries(
    Object.entries(activities).map(([name, activity]) => [name, beating(activity)]),
  ) as Activities;
}

function beating<Input, Output>(activity: (input: Input) => Promise<Output>) {
  return async (input: Input): Promise<Output> => {
    const context = Context.current();
    const { heartbeatTimeoutMs } = context.info;
    // A third of the timeout: a beat delayed by a busy event loop still arrives in time.
    const beats = heartbeatTimeoutMs
      ? setInterval(() => context.heartbeat(), heartbeatTimeoutMs / 3)
      : undefined;
    try {
      return await activity(input);
    } finally {
      clearInterval(beats);
    }
  };
}
