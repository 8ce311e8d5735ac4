import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { KubeClients } from '../../kubernetes/client';
import { FailureType } from '../../reasons/rollout-reasons';
import {
  ROLLOUT_GROUP,
  ROLLOUT_PLURAL,
  ROLLOUT_VERSION,
  type PodTemplate,
  type RolloutStatus,
} from '../../schemas/rollout';
import { addressText, type FollowedRollout, type RolloutAddress } from '../../workflows/fleet-api';
import { heartbeatIntervalMs, readThenWatch } from '../kubernetes-watch';
import { templateHashOf } from './template-change';

/** A Rollout as the fleet reads it: loosely, since another version of Siirto may have written it. */
export interface FleetRollout {
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
  spec: { template: PodTemplate };
  status?: RolloutStatus;
}

export type FollowEnd = FollowedRollout & { phase: 'Healthy' | 'Degraded' };

/** What the fleet reports of a Rollout's revision of `templateHash`. */
export function followedRollout(rollout: FleetRollout, templateHash: string): FollowedRollout {
  const status = rollout.status ?? {};
  if (status.currentTemplateHash !== templateHash) {
    return {
      awaitingRevision: true,
      phase: status.phase,
      message: `waiting for Siirto in the cluster to start the release's revision (${templateHash}); it runs ${status.currentTemplateHash ?? 'none'}`,
    };
  }
  return {
    phase: status.phase,
    revision: status.revision,
    step: status.step,
    weights: status.weights,
    workflowId: status.workflowId,
    message: status.message,
  };
}

export function rolloutGone(target: RolloutAddress): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `Rollout ${target.namespace}/${target.name} does not exist in cluster ${target.cluster}: ` +
      'create it there, or take it out of the release',
    FailureType.RolloutGone,
  );
}

/**
 * One sight of the followed Rollout (absent: it is gone): how its revision of `templateHash` ended,
 * if it has, else where it stands. Throws what no retry mends: the Rollout gone, or its template
 * changed outside the release.
 */
export function judgeFollowed(
  target: RolloutAddress,
  templateHash: string,
  rollout: FleetRollout | undefined,
): { ended: FollowEnd } | { progress: FollowedRollout } {
  if (!rollout) throw rolloutGone(target);
  const specHash = templateHashOf(rollout.spec.template);
  if (specHash !== templateHash) {
    throw ApplicationFailure.nonRetryable(
      `${addressText(target)}: its template changed outside the release (now ${specHash}, the release's is ${templateHash})`,
      FailureType.RevisionSuperseded,
    );
  }
  const followed = followedRollout(rollout, templateHash);
  if (
    !followed.awaitingRevision &&
    (followed.phase === 'Healthy' || followed.phase === 'Degraded' || followed.phase === 'Invalid')
  ) {
    return { ended: { ...followed, phase: followed.phase === 'Healthy' ? 'Healthy' : 'Degraded' } };
  }
  return { progress: followed };
}

/**
 * Follows one Rollout by a watch on it alone (a list by name, then a watch from the list's version,
 * listed again whenever the apiserver ends the watch or answers 410 Gone), so the revision's end is
 * seen as soon as its cluster's Siirto writes it. Heartbeats where the Rollout stands at least every
 * `intervalMilliseconds` (and often enough for the heartbeat timeout), so a killed worker's follow is
 * taken over by another worker of the cluster, and the fleet's cancellation reaches it. An apiserver
 * that does not answer fails the attempt, which Temporal retries and `siirto fleet status` shows.
 */
export async function followRolloutByWatch(
  kube: KubeClients,
  input: { target: RolloutAddress; templateHash: string; intervalMilliseconds: number },
): Promise<FollowEnd> {
  const { target, templateHash } = input;
  const context = Context.current();
  let last: FollowedRollout | undefined;
  const heartbeat = () => context.heartbeat(last ? { ...last } : undefined);
  // What ends the follow, a failure included: thrown inside the watch's callback, it would be lost.
  const see = (rollout: FleetRollout | undefined): FollowEnd | Error | undefined => {
    let judged: ReturnType<typeof judgeFollowed>;
    try {
      judged = judgeFollowed(target, templateHash, rollout);
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
    if ('ended' in judged) return judged.ended;
    // Only a change is sent at once; the timer below repeats it.
    if (JSON.stringify(judged.progress) !== JSON.stringify(last)) {
      last = judged.progress;
      heartbeat();
    }
    return undefined;
  };
  const fieldSelector = `metadata.name=${target.name}`;
  const collection = { group: ROLLOUT_GROUP, version: ROLLOUT_VERSION, plural: ROLLOUT_PLURAL };
  const finished = new AbortController();
  const heartbeats = setInterval(
    heartbeat,
    Math.min(input.intervalMilliseconds, heartbeatIntervalMs(context.info.heartbeatTimeoutMs)),
  );
  heartbeat();
  try {
    const outcome = await Promise.race([
      readThenWatch<FleetRollout, FollowEnd | Error>(kube.config, {
        path: `/apis/${ROLLOUT_GROUP}/${ROLLOUT_VERSION}/namespaces/${encodeURIComponent(target.namespace)}/${ROLLOUT_PLURAL}`,
        selector: { fieldSelector },
        finished: finished.signal,
        read: async () => {
          // A list rather than a get: the watch starts from the list's version, the store's current
          // one, which a restarted apiserver's watch cache still holds.
          const list = (await kube.custom.listNamespacedCustomObject({
            ...collection,
            namespace: target.namespace,
            fieldSelector,
          })) as { items: FleetRollout[]; metadata?: { resourceVersion?: string } };
          return { outcome: see(list.items[0]), resourceVersion: list.metadata?.resourceVersion };
        },
        onEvent: (event) => see(event.type === 'DELETED' ? undefined : event.object),
      }),
      // Rejects once the fleet cancels the follow (an abort), ending the activity.
      context.cancelled,
    ]);
    if (outcome instanceof Error) throw outcome;
    return outcome;
  } finally {
    clearInterval(heartbeats);
    finished.abort();
  }
}
