import type * as k8s from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { KubeClients } from '../kubernetes/client';
import { isConflict, isNotFound } from '../kubernetes/errors';
import {
  FIELD_MANAGER,
  POD_TEMPLATE_HASH_LABEL,
  REVISION_ANNOTATION,
  POD_TEMPLATE_ANNOTATION,
} from '../kubernetes/labels';
import { mergePatch } from '../kubernetes/merge-patch';
import { retryOnConflict } from '../kubernetes/retry-on-conflict';
import { podTemplateHash } from '../schemas/pod-template-hash';
import type { Rollout } from '../schemas/rollout';
import type { RolloutRef } from '../workflows/rollout-api';
import { rethrowKubernetesError } from './kubernetes-failures';
import type { ReplicaSetSummary } from './rollout-activities';
import { describeRollout, readRollout } from './rollout-reader';
import { FailureType } from '../reasons/rollout-reasons';

/** A revision's ReplicaSet is named after its template, so going back to a template finds it again. */
export function replicaSetName(rollout: RolloutRef, templateHash: string): string {
  return `${rollout.name}-${templateHash}`;
}

export function describeReplicaSet(namespace: string, name: string): string {
  return `ReplicaSet ${namespace}/${name}`;
}

export function summarizeReplicaSet(replicaSet: k8s.V1ReplicaSet): ReplicaSetSummary {
  return {
    name: replicaSet.metadata?.name ?? '',
    replicas: replicaSet.spec?.replicas ?? 0,
    availableReplicas: replicaSet.status?.availableReplicas ?? 0,
  };
}

/** The ReplicaSet a revision of the Rollout runs on: the Rollout's template and selector, plus the hash label. */
export function buildReplicaSet(
  rollout: Rollout,
  owner: RolloutRef,
  { templateHash, revision, replicas }: { templateHash: string; revision: number; replicas: number },
): k8s.V1ReplicaSet {
  const { template, selector } = rollout.spec;
  const labels = { ...template.metadata?.labels, [POD_TEMPLATE_HASH_LABEL]: templateHash };
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: replicaSetName(owner, templateHash),
      namespace: owner.namespace,
      labels,
      annotations: {
        [REVISION_ANNOTATION]: String(revision),
        [POD_TEMPLATE_ANNOTATION]: JSON.stringify(template),
      },
      ownerReferences: [
        {
          apiVersion: rollout.apiVersion,
          kind: rollout.kind,
          name: owner.name,
          uid: owner.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      replicas,
      selector: {
        matchLabels: { ...selector.matchLabels, [POD_TEMPLATE_HASH_LABEL]: templateHash },
        matchExpressions: selector.matchExpressions,
      },
      template: {
        metadata: { labels, annotations: template.metadata?.annotations },
        // The Rollout keeps the pod spec as free-form JSON; the apiserver validates it as a PodSpec.
        spec: template.spec as unknown as k8s.V1PodSpec,
      },
    },
  };
}

export async function ensureReplicaSet(
  kube: KubeClients,
  input: { rollout: RolloutRef; revision: number; templateHash: string; replicas: number },
): Promise<ReplicaSetSummary> {
  // Both read at once: the call that creates a revision's ReplicaSet, which a new revision waits for,
  // makes one round trip to the apiserver before its write instead of two.
  const [rolloutRead, replicaSetRead] = await Promise.allSettled([
    readRollout(kube, input.rollout),
    readOwnedReplicaSet(kube, input.rollout, input.templateHash),
  ]);
  if (rolloutRead.status === 'rejected') throw rolloutRead.reason;
  const rollout = rolloutRead.value;
  const currentHash = podTemplateHash(rollout.spec.template);
  if (currentHash !== input.templateHash) {
    throw ApplicationFailure.nonRetryable(
      `${describeRollout(input.rollout)} no longer has the pod template of revision ${input.revision} ` +
        `(hash ${input.templateHash}; its template now hashes to ${currentHash}); the newer revision takes over`,
      FailureType.RevisionSuperseded,
    );
  }
  if (replicaSetRead.status === 'rejected') throw replicaSetRead.reason;
  // Most calls scale a ReplicaSet an earlier step made; only the first creates it.
  const found = replicaSetRead.value;
  const existing =
    found &&
    (await scaleOwnedReplicaSet(
      kube,
      input.rollout,
      input.templateHash,
      input.replicas,
      input.revision,
      found,
    ));
  if (existing) return summarizeReplicaSet(existing);

  const { namespace } = input.rollout;
  const body = buildReplicaSet(rollout, input.rollout, input);
  const described = describeReplicaSet(namespace, replicaSetName(input.rollout, input.templateHash));
  try {
    return summarizeReplicaSet(
      await kube.apps.createNamespacedReplicaSet({ namespace, body, fieldManager: FIELD_MANAGER }),
    );
  } catch (error) {
    if (!isConflict(error)) {
      rethrowKubernetesError(error, {
        action: `creating ${described} for ${describeRollout(input.rollout)}`,
        fix: "Correct the Rollout's spec.template or spec.selector as the message says, then apply it again.",
      });
    }
  }
  // Another attempt of this activity created it meanwhile.
  const created = await scaleOwnedReplicaSet(
    kube,
    input.rollout,
    input.templateHash,
    input.replicas,
    input.revision,
  );
  if (!created) throw new Error(`${described} was deleted right after it was created; retrying`);
  return summarizeReplicaSet(created);
}

export async function scaleReplicaSet(
  kube: KubeClients,
  input: { rollout: RolloutRef; templateHash: string; replicas: number },
): Promise<void> {
  const scaled = await scaleOwnedReplicaSet(kube, input.rollout, input.templateHash, input.replicas);
  if (scaled || input.replicas === 0) return;
  const name = replicaSetName(input.rollout, input.templateHash);
  throw ApplicationFailure.nonRetryable(
    `${describeReplicaSet(input.rollout.namespace, name)} of ${describeRollout(input.rollout)} does not exist, ` +
      `so it cannot be scaled to ${input.replicas}; retry the rollout to create it again`,
    FailureType.ReplicaSetMissing,
  );
}

/**
 * Reads a revision's ReplicaSet, or undefined when there is none. One the Rollout does not control is
 * refused: Siirto never touches pods it did not create.
 */
export async function readOwnedReplicaSet(
  kube: KubeClients,
  rollout: RolloutRef,
  templateHash: string,
): Promise<k8s.V1ReplicaSet | undefined> {
  const name = replicaSetName(rollout, templateHash);
  const described = describeReplicaSet(rollout.namespace, name);
  let replicaSet: k8s.V1ReplicaSet;
  try {
    replicaSet = await kube.apps.readNamespacedReplicaSet({ name, namespace: rollout.namespace });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    rethrowKubernetesError(error, { action: `reading ${described}` });
  }
  const controller = replicaSet.metadata?.ownerReferences?.find((owner) => owner.controller);
  if (controller?.uid === rollout.uid) return replicaSet;
  const leftByNamesake = controller?.kind === 'Rollout' && controller.name === rollout.name;
  if (leftByNamesake || replicaSet.metadata?.deletionTimestamp) {
    // A deleted Rollout of the same name owned it; the garbage collector removes it shortly.
    throw new Error(
      `${described} belongs to a deleted Rollout (uid ${controller?.uid}) and is being removed; retrying`,
    );
  }
  throw ApplicationFailure.nonRetryable(
    `${described} exists but is not controlled by ${describeRollout(rollout)}; ` +
      'delete it (or rename the Rollout) so Siirto can create its own',
    FailureType.ReplicaSetConflict,
  );
}

/** Scales the revision's ReplicaSet if it exists, and returns it; undefined when there is none. */
async function scaleOwnedReplicaSet(
  kube: KubeClients,
  rollout: RolloutRef,
  templateHash: string,
  replicas: number,
  revision?: number,
  /** The ReplicaSet as just read, for the first attempt; a conflict reads it again. */
  alreadyRead?: k8s.V1ReplicaSet,
): Promise<k8s.V1ReplicaSet | undefined> {
  let read = alreadyRead;
  return retryOnConflict(async () => {
    const replicaSet = read ?? (await readOwnedReplicaSet(kube, rollout, templateHash));
    read = undefined;
    return replicaSet && (await scaleExisting(kube, replicaSet, replicas, revision));
  });
}

async function scaleExisting(
  kube: KubeClients,
  replicaSet: k8s.V1ReplicaSet,
  replicas: number,
  revision?: number,
): Promise<k8s.V1ReplicaSet> {
  const name = replicaSet.metadata?.name ?? '';
  const namespace = replicaSet.metadata?.namespace ?? '';
  const revisionText = revision === undefined ? undefined : String(revision);
  const sameRevision =
    revisionText === undefined || replicaSet.metadata?.annotations?.[REVISION_ANNOTATION] === revisionText;
  if (replicaSet.spec?.replicas === replicas && sameRevision) return replicaSet;
  try {
    return await kube.apps.patchNamespacedReplicaSet(
      {
        name,
        namespace,
        // Named, so that a change by anyone else can be told from Siirto's own (replica-set-restore.ts).
        fieldManager: FIELD_MANAGER,
        body: {
          // Conditional on the version read, so the ownership checked there still holds.
          metadata: {
            resourceVersion: replicaSet.metadata?.resourceVersion,
            ...(sameRevision ? {} : { annotations: { [REVISION_ANNOTATION]: revisionText } }),
          },
          spec: { replicas },
        },
      },
      mergePatch,
    );
  } catch (error) {
    rethrowKubernetesError(error, {
      action: `scaling ${describeReplicaSet(namespace, name)} to ${replicas}`,
    });
  }
}
