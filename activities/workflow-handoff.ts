import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { setTimeout as delay } from 'node:timers/promises';
import {
  standDownUpdate,
  statusQuery,
  type PendingScaleDown,
  type RolloutState,
} from '../workflows/rollout-api';

/** What a closed rollout workflow left serving, as far as its result tells. */
export interface ClosedRollout {
  /** The revision stable when it closed: its own, if it finished promoting before it stood down. */
  stableTemplateHash?: string;
  /** ReplicaSets it left for the next revision to scale down once their time is up. */
  scaleDowns?: PendingScaleDown[];
}

export interface WorkflowHandoffActivities {
  /**
   * Waits until another rollout workflow has closed, or says it touches the cluster no more: a new
   * revision must not touch the cluster while the revision it supersedes is still handing traffic back
   * to stable, nor wait for CDEvents a sink that is down keeps that one delivering. A run that failed,
   * was terminated or never existed tells nothing.
   */
  waitForWorkflowToClose(input: { workflowId: string }): Promise<ClosedRollout>;
}

/**
 * How often a run that is still open is asked whether it is done with the cluster, where it cannot
 * answer the standDown Update: a worker of a Siirto before it, or a run getting ready to continue as new.
 */
const STATUS_POLL_MS = 1_000;

export function createWorkflowHandoffActivities(client: Client): WorkflowHandoffActivities {
  return {
    async waitForWorkflowToClose({ workflowId }) {
      const context = Context.current();
      const heartbeat = setInterval(() => context.heartbeat(`waiting for ${workflowId}`), 2_000);
      const handle = client.workflow.getHandle(workflowId);
      // result() long-polls the server; a run gone without a result tells nothing.
      const closed = handle.result().then(
        (result: RolloutState) => result,
        () => undefined,
      );
      // Stops the polling below however the wait ends.
      const waited = new AbortController();
      const polled = async () => {
        while (!waited.signal.aborted) {
          const state = await handle.query(statusQuery).catch(() => undefined);
          if (state?.finishedWithCluster) return state;
          await delay(STATUS_POLL_MS, undefined, { signal: waited.signal }).catch(() => undefined);
        }
        return undefined;
      };
      // The run answers the moment it is done with the cluster. The same Update ID on every attempt:
      // after a worker restart the next attempt waits on the same Update, or gets its answer.
      const successor = context.info.workflowExecution?.workflowId ?? context.info.activityId;
      const finishedWithCluster = handle
        .executeUpdate(standDownUpdate, { args: [{ successor }], updateId: `stand-down-for-${successor}` })
        .catch(() => (waited.signal.aborted ? undefined : polled()));
      try {
        const state = await Promise.race([closed, finishedWithCluster, context.cancelled]);
        return {
          ...(state?.stableTemplateHash ? { stableTemplateHash: state.stableTemplateHash } : {}),
          ...(state?.scaleDowns?.length ? { scaleDowns: state.scaleDowns } : {}),
        };
      } finally {
        waited.abort();
        clearInterval(heartbeat);
      }
    },
  };
}
