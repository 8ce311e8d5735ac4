import type * as k8s from '@kubernetes/client-node';
import type { KubeClients } from '../kubernetes/client';
import { isNotFound } from '../kubernetes/errors';
import { FIELD_MANAGER, POD_TEMPLATE_ANNOTATION, POD_TEMPLATE_HASH_LABEL } from '../kubernetes/labels';
import { mergePatch } from '../kubernetes/merge-patch';
import type { PodMetadata, PodTemplate } from '../schemas/rollout';
import type { RolloutRef } from '../workflows/rollout-api';
import { rethrowKubernetesError } from './kubernetes-failures';
import { describeReplicaSet, readOwnedReplicaSet, replicaSetName } from './replica-sets';

/**
 * Puts a role's labels and annotations (blue-green's `previewMetadata` or `activeMetadata`) on a
 * revision's pods and takes the other role's off: on the ReplicaSet's pod template, so pods it starts
 * later have them too, and on each of its pods now. A merge patch touches those keys alone, and a key
 * the Rollout's own template sets is never taken off. Idempotent; a ReplicaSet that is gone is left so.
 */
export async function setRevisionPodMetadata(
  kube: KubeClients,
  input: { rollout: RolloutRef; templateHash: string; metadata?: PodMetadata; remove?: PodMetadata },
): Promise<void> {
  const { rollout, templateHash } = input;
  const replicaSet = await readOwnedReplicaSet(kube, rollout, templateHash);
  if (!replicaSet) return;
  const patch = metadataPatch(input.metadata ?? {}, input.remove ?? {}, ownTemplateMetadata(replicaSet));
  if (!patch.labels && !patch.annotations) return;
  const { namespace } = rollout;
  const name = replicaSetName(rollout, templateHash);
  try {
    await kube.apps.patchNamespacedReplicaSet(
      { name, namespace, fieldManager: FIELD_MANAGER, body: { spec: { template: { metadata: patch } } } },
      mergePatch,
    );
  } catch (error) {
    rethrowKubernetesError(error, {
      action: `labelling the pod template of ${describeReplicaSet(namespace, name)}`,
    });
  }
  const pods = await kube.core.listNamespacedPod({
    namespace,
    labelSelector: `${POD_TEMPLATE_HASH_LABEL}=${templateHash}`,
  });
  for (const pod of pods.items) {
    const podName = pod.metadata?.name ?? '';
    if (pod.metadata?.deletionTimestamp) continue;
    try {
      await kube.core.patchNamespacedPod(
        { name: podName, namespace, fieldManager: FIELD_MANAGER, body: { metadata: patch } },
        mergePatch,
      );
    } catch (error) {
      // Deleted meanwhile: its replacement comes from the template patched above.
      if (isNotFound(error)) continue;
      rethrowKubernetesError(error, { action: `labelling pod ${namespace}/${podName}` });
    }
  }
}

/** The metadata the Rollout's template itself gives its pods, as the ReplicaSet records it. */
function ownTemplateMetadata(replicaSet: k8s.V1ReplicaSet): PodMetadata {
  const recorded = replicaSet.metadata?.annotations?.[POD_TEMPLATE_ANNOTATION];
  if (!recorded) return {};
  try {
    return (JSON.parse(recorded) as PodTemplate).metadata ?? {};
  } catch {
    return {};
  }
}

type MetadataPatch = { labels?: Record<string, string | null>; annotations?: Record<string, string | null> };

/**
 * The merge patch that sets `set` and removes (with null) the keys of `remove` that neither `set` nor
 * the Rollout's own template `keep` has.
 */
export function metadataPatch(set: PodMetadata, remove: PodMetadata, keep: PodMetadata): MetadataPatch {
  const patch: MetadataPatch = {};
  for (const part of ['labels', 'annotations'] as const) {
    const entries: Record<string, string | null> = {};
    for (const key of Object.keys(remove[part] ?? {})) {
      if (set[part]?.[key] === undefined && keep[part]?.[key] === undefined) entries[key] = null;
    }
    Object.assign(entries, set[part]);
    if (Object.keys(entries).length > 0) patch[part] = entries;
  }
  return patch;
}
