import { ApplicationFailure } from '@temporalio/common';
import type { KubeClients } from '../kubernetes/client';
import { isNotFound } from '../kubernetes/errors';
import { FIELD_MANAGER, POD_TEMPLATE_HASH_LABEL } from '../kubernetes/labels';
import { mergePatch } from '../kubernetes/merge-patch';
import type { RolloutRef } from '../workflows/rollout-api';
import { rethrowKubernetesError } from './kubernetes-failures';
import { isAvailable, readReplicaSet } from './replica-set-availability';
import { describeReplicaSet, replicaSetName } from './replica-sets';
import { describeRollout } from './rollout-reader';
import { FailureType } from '../reasons/rollout-reasons';

/**
 * Narrows a Service to one revision's pods by adding the pod-template-hash label to its selector.
 * A merge patch touches that one key, so the selector keys users wrote stay as they are.
 * With `availableReplicas`, the revision's ReplicaSet must have that many pods available, checked in
 * the same attempt as the write; if it has not, it fails non-retryably with type
 * `RevisionNotAvailable` and the Service keeps the pods it selects.
 */
export async function pointServiceAtRevision(
  kube: KubeClients,
  input: {
    rollout: RolloutRef;
    service: string;
    templateHash: string;
    /** The field naming the Service, for the message when it is missing; the canary's by default. */
    field?: string;
    availableReplicas?: number;
  },
): Promise<void> {
  const { namespace } = input.rollout;
  const described = `Service ${namespace}/${input.service}`;
  if (input.availableReplicas !== undefined) {
    const name = replicaSetName(input.rollout, input.templateHash);
    const replicaSet = await readReplicaSet(kube, namespace, name);
    if (!replicaSet || !isAvailable(replicaSet, input.availableReplicas)) {
      throw ApplicationFailure.nonRetryable(
        `${describeReplicaSet(namespace, name)} has ${replicaSet?.status?.availableReplicas ?? 0} of the ` +
          `${input.availableReplicas} available pods ${described} needs; it keeps the pods it selects`,
        FailureType.RevisionNotAvailable,
      );
    }
  }
  try {
    await kube.core.patchNamespacedService(
      {
        name: input.service,
        namespace,
        // Named, as every write of Siirto's, so its changes are told from anyone else's.
        fieldManager: FIELD_MANAGER,
        body: { spec: { selector: { [POD_TEMPLATE_HASH_LABEL]: input.templateHash } } },
      },
      mergePatch,
    );
  } catch (error) {
    if (isNotFound(error)) {
      throw ApplicationFailure.nonRetryable(
        `${described}, named in ${input.field ?? 'spec.strategy.canary'} of ${describeRollout(input.rollout)}, does not exist; ` +
          "create it with a selector matching the Rollout's pod labels, or correct the name",
        FailureType.ServiceMissing,
      );
    }
    rethrowKubernetesError(error, {
      action: `pointing ${described} at revision ${input.templateHash}`,
    });
  }
}
