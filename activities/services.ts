import { ApplicationFailure } from '@temporalio/common';
import type { KubeClients } from '../kubernetes/client';
import { isNotFound } from '../kubernetes/errors';
import { POD_TEMPLATE_HASH_LABEL } from '../kubernetes/labels';
import { mergePatch } from '../kubernetes/merge-patch';
import type { RolloutRef } from '../workflows/rollout-api';
import { rethrowKubernetesError } from './kubernetes-failures';
import { describeRollout } from './rollout-reader';
import { FailureType } from '../reasons/rollout-reasons';

/**
 * Narrows a Service to one revision's pods by adding the pod-template-hash label to its selector.
 * A merge patch touches that one key, so the selector keys users wrote stay as they are.
 */
export async function pointServiceAtRevision(
  kube: KubeClients,
  input: { rollout: RolloutRef; service: string; templateHash: string },
): Promise<void> {
  const { namespace } = input.rollout;
  const described = `Service ${namespace}/${input.service}`;
  try {
    await kube.core.patchNamespacedService(
      {
        name: input.service,
        namespace,
        body: { spec: { selector: { [POD_TEMPLATE_HASH_LABEL]: input.templateHash } } },
      },
      mergePatch,
    );
  } catch (error) {
    if (isNotFound(error)) {
      throw ApplicationFailure.nonRetryable(
        `${described}, named in spec.strategy.canary of ${describeRollout(input.rollout)}, does not exist; ` +
          "create it with a selector matching the Rollout's pod labels, or correct the name",
        FailureType.ServiceMissing,
      );
    }
    rethrowKubernetesError(error, {
      action: `pointing ${described} at revision ${input.templateHash}`,
    });
  }
}
