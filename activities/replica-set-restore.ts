import { Context } from '@temporalio/activity';
import type { KubeClients } from '../kubernetes/client';
import { FIELD_MANAGER } from '../kubernetes/labels';
import { lastWriterOf } from '../kubernetes/managed-fields';
import { mergePatch } from '../kubernetes/merge-patch';
import type { RolloutRef } from '../workflows/rollout-api';
import { describeReplicaSet } from './replica-sets';
import { recordRolloutEvent } from './rollout-events';
import { EventReason } from '../reasons/rollout-reasons';

/** A ReplicaSet as a read or a watch event gives it: managedFields' times are Dates or text. */
interface ObservedReplicaSet {
  metadata?: { name?: string; resourceVersion?: string; managedFields?: unknown };
  spec?: { replicas?: number };
}

/**
 * Puts a revision's ReplicaSet back to the size the rollout asked for when someone else changed it
 * (`kubectl scale` on the ReplicaSet, a script): the pods a step waits for are then on their way,
 * instead of being waited on until the progress deadline. Siirto's own writes (a resize, a step) are
 * never undone: who set spec.replicas last is read from the ReplicaSet's managedFields. Returns what
 * to call with each version of the ReplicaSet seen.
 */
export function replicaSetRestorer(
  kube: KubeClients,
  rollout: RolloutRef,
  replicas: number,
): (replicaSet: ObservedReplicaSet) => void {
  let restoring = false;
  return (replicaSet) => {
    const found = replicaSet.spec?.replicas;
    if (restoring || found === undefined || found === replicas) return;
    const managedFields = replicaSet.metadata?.managedFields;
    // Without managedFields (stripped by some tooling) Siirto's own writes cannot be told apart.
    if (!Array.isArray(managedFields) || managedFields.length === 0) return;
    const writer = lastWriterOf(managedFields, ['f:spec', 'f:replicas']);
    if (writer?.manager === FIELD_MANAGER) return;
    // A write through the scale subresource (kubectl scale) takes the field from Siirto but names no one.
    const by = writer ? writer.manager : 'a scale request (kubectl scale, say)';
    restoring = true;
    restore(kube, rollout, replicaSet, replicas, `was scaled to ${found} by ${by}`)
      .catch((error: unknown) =>
        // A conflict or a lost connection: the next version seen tries again.
        Context.current().log.warn('could not restore a ReplicaSet', { error: String(error) }),
      )
      .finally(() => (restoring = false));
  };
}

async function restore(
  kube: KubeClients,
  rollout: RolloutRef,
  replicaSet: ObservedReplicaSet,
  replicas: number,
  what: string,
): Promise<void> {
  const name = replicaSet.metadata?.name ?? '';
  const namespace = rollout.namespace;
  await kube.apps.patchNamespacedReplicaSet(
    {
      name,
      namespace,
      fieldManager: FIELD_MANAGER,
      // Conditional on the version read, so a change made since is looked at before it is undone.
      body: { metadata: { resourceVersion: replicaSet.metadata?.resourceVersion }, spec: { replicas } },
    },
    mergePatch,
  );
  await recordRolloutEvent(kube, {
    rollout,
    type: 'Warning',
    reason: EventReason.ReplicaSetRestored,
    message:
      `${describeReplicaSet(namespace, name)} ${what}; Siirto scaled it back to the ${replicas} pods the rollout ` +
      `runs it at. Scale the Rollout instead (kubectl scale rollout/${rollout.name} --replicas=N)`,
  });
}
