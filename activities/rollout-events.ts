import type * as k8s from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeClients } from '../kubernetes/client';
import { isConflict, isNotFound } from '../kubernetes/errors';
import { FIELD_MANAGER } from '../kubernetes/labels';
import { mergePatch } from '../kubernetes/merge-patch';
import { retryOnConflict } from '../kubernetes/retry-on-conflict';
import { ROLLOUT_GROUP, ROLLOUT_VERSION } from '../schemas/rollout';
import type { RolloutRef } from '../workflows/rollout-api';
import { rethrowKubernetesError } from './kubernetes-failures';
import { describeRollout } from './rollout-reader';

export interface RolloutEvent {
  rollout: RolloutRef;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Longest name a Kubernetes object may have. */
const MAXIMUM_NAME_LENGTH = 253;

/**
 * Names the Event after what it says, as kubelet and controllers aggregate theirs: the same event on
 * the same Rollout (uid) always lands on one object whose count grows, also when an activity is retried.
 */
export function rolloutEventName(event: RolloutEvent): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([event.rollout.uid, event.type, event.reason, event.message]))
    .digest('hex')
    .slice(0, 16);
  return `${event.rollout.name.slice(0, MAXIMUM_NAME_LENGTH - digest.length - 1)}.${digest}`;
}

export async function recordRolloutEvent(kube: KubeClients, event: RolloutEvent): Promise<void> {
  const { namespace } = event.rollout;
  const name = rolloutEventName(event);
  const now = new Date();
  const body: k8s.CoreV1Event = {
    metadata: { name, namespace },
    involvedObject: {
      apiVersion: `${ROLLOUT_GROUP}/${ROLLOUT_VERSION}`,
      kind: 'Rollout',
      name: event.rollout.name,
      namespace,
      uid: event.rollout.uid,
    },
    type: event.type,
    reason: event.reason,
    message: event.message,
    count: 1,
    firstTimestamp: now,
    lastTimestamp: now,
    source: { component: FIELD_MANAGER },
    reportingComponent: FIELD_MANAGER,
    reportingInstance: hostname(),
  };
  const action = `recording event ${event.reason} on ${describeRollout(event.rollout)}`;
  try {
    await kube.core.createNamespacedEvent({ namespace, body });
    return;
  } catch (error) {
    if (!isConflict(error)) rethrowKubernetesError(error, { action });
  }
  // It happened before: count it again on the existing Event.
  await retryOnConflict(async () => {
    try {
      const existing = await kube.core.readNamespacedEvent({ name, namespace });
      await kube.core.patchNamespacedEvent(
        {
          name,
          namespace,
          body: {
            metadata: { resourceVersion: existing.metadata?.resourceVersion },
            count: (existing.count ?? 1) + 1,
            lastTimestamp: now.toISOString(),
          },
        },
        mergePatch,
      );
    } catch (error) {
      // Expired between the create and the read (Events live an hour); the next attempt creates it.
      if (isNotFound(error))
        throw new Error(`${action}: the Event expired meanwhile; retrying`, { cause: error });
      rethrowKubernetesError(error, { action });
    }
  });
}
