import type * as k8s from '@kubernetes/client-node';
import type { KubeClients } from '../kubernetes/client';
import { isConflict, isNotFound } from '../kubernetes/errors';
import { POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION } from '../kubernetes/labels';
import { RolloutSpecSchema } from '../schemas/rollout';
import type { RolloutRef } from '../workflows/rollout-api';
import { rethrowKubernetesError } from './kubernetes-failures';
import { describeReplicaSet } from './replica-sets';
import { describeRollout, readStoredRollout } from './rollout-reader';

/**
 * Chooses the ReplicaSets to delete: those of the Rollout scaled to zero and not kept, beyond the
 * `historyLimit` most recent. Recency is the revision annotation, since a template that comes back
 * reuses its old ReplicaSet under a new revision; creation time breaks ties.
 */
export function replicaSetsToPrune(
  replicaSets: k8s.V1ReplicaSet[],
  rolloutUid: string,
  keepTemplateHashes: string[],
  historyLimit: number,
): k8s.V1ReplicaSet[] {
  const history = replicaSets
    .filter((replicaSet) =>
      replicaSet.metadata?.ownerReferences?.some((owner) => owner.controller && owner.uid === rolloutUid),
    )
    .filter(
      (replicaSet) =>
        !keepTemplateHashes.includes(replicaSet.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL] ?? ''),
    )
    .filter((replicaSet) => replicaSet.spec?.replicas === 0 && !replicaSet.metadata?.deletionTimestamp)
    .sort((a, b) => revisionOf(a) - revisionOf(b) || createdAt(a) - createdAt(b));
  return history.slice(0, Math.max(0, history.length - historyLimit));
}

function revisionOf(replicaSet: k8s.V1ReplicaSet): number {
  const revision = Number(replicaSet.metadata?.annotations?.[REVISION_ANNOTATION]);
  return Number.isFinite(revision) ? revision : 0;
}

function createdAt(replicaSet: k8s.V1ReplicaSet): number {
  return new Date(replicaSet.metadata?.creationTimestamp ?? 0).getTime();
}

export async function pruneOldReplicaSets(
  kube: KubeClients,
  input: { rollout: RolloutRef; keepTemplateHashes: string[] },
): Promise<void> {
  const { namespace } = input.rollout;
  const stored = await readStoredRollout(kube, input.rollout);
  // Read on its own so that pruning still works while another part of the spec is being fixed.
  const historyLimit = RolloutSpecSchema.shape.revisionHistoryLimit
    .catch(10)
    .parse((stored.spec as { revisionHistoryLimit?: unknown } | undefined)?.revisionHistoryLimit);

  let listed: k8s.V1ReplicaSetList;
  try {
    listed = await kube.apps.listNamespacedReplicaSet({ namespace, labelSelector: POD_TEMPLATE_HASH_LABEL });
  } catch (error) {
    rethrowKubernetesError(error, { action: `listing the ReplicaSets of ${describeRollout(input.rollout)}` });
  }

  for (const replicaSet of replicaSetsToPrune(
    listed.items,
    input.rollout.uid,
    input.keepTemplateHashes,
    historyLimit,
  )) {
    const name = replicaSet.metadata?.name ?? '';
    try {
      await kube.apps.deleteNamespacedReplicaSet({
        name,
        namespace,
        // Only the version judged prunable: one scaled up meanwhile (a rollback) must survive.
        body: {
          preconditions: { resourceVersion: replicaSet.metadata?.resourceVersion },
          propagationPolicy: 'Background',
        },
      });
    } catch (error) {
      if (isNotFound(error) || isConflict(error)) continue;
      rethrowKubernetesError(error, { action: `deleting the old ${describeReplicaSet(namespace, name)}` });
    }
  }
}
