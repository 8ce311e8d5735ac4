import type * as k8s from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { BASELINE_ROLE, baselinePodHash, ROLE_LABEL } from '../analysis/judge-query';
import type { KubeClients } from '../kubernetes/client';
import { isConflict, isNotFound } from '../kubernetes/errors';
import { FIELD_MANAGER, POD_TEMPLATE_HASH_LABEL } from '../kubernetes/labels';
import { mergePatch } from '../kubernetes/merge-patch';
import { FailureType } from '../reasons/rollout-reasons';
import type { RolloutRef } from '../workflows/rollout-api';
import type { BaselineSummary } from './canary-judge-activities';
import { rethrowKubernetesError } from './kubernetes-failures';
import { describeReplicaSet, readOwnedReplicaSet, replicaSetName, summarizeReplicaSet } from './replica-sets';
import { describeRollout } from './rollout-reader';

const POLL_MILLISECONDS = 1_000;

/** The baseline of a stable revision: named after it, so a retried or resumed judge finds it again. */
export function baselineName(rollout: RolloutRef, stableHash: string): string {
  return `${rollout.name}-baseline-${stableHash}`;
}

/**
 * The baseline ReplicaSet: the stable ReplicaSet's pod template, its pods labelled with the baseline
 * role. With `ownHash`, their pod-template-hash is `baselinePodHash(stableHash)`: the stable Service,
 * which selects the stable's hash, leaves them out, and the baseline's own Service sends them a share
 * equal to the canary's (http-route-baseline.ts); without a router, one Service selecting the app's
 * pods sends every pod an equal share anyway. Without `ownHash` (a run started before the baseline had
 * a hash of its own) they carry the stable's hash and share the stable's traffic. The ReplicaSet itself
 * carries no hash label: nothing that looks after revisions (pruning) mistakes it for one.
 */
export function buildBaselineReplicaSet(
  stable: k8s.V1ReplicaSet,
  rollout: RolloutRef,
  stableHash: string,
  replicas: number,
  ownHash = false,
): k8s.V1ReplicaSet {
  const template = stable.spec?.template ?? {};
  const hashLabel: Record<string, string> = ownHash
    ? { [POD_TEMPLATE_HASH_LABEL]: baselinePodHash(stableHash) }
    : {};
  const podLabels = { ...template.metadata?.labels, ...hashLabel, [ROLE_LABEL]: BASELINE_ROLE };
  const ownLabels = Object.fromEntries(
    Object.entries(podLabels).filter(([label]) => label !== POD_TEMPLATE_HASH_LABEL),
  );
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: baselineName(rollout, stableHash),
      namespace: rollout.namespace,
      labels: ownLabels,
      ownerReferences: stable.metadata?.ownerReferences?.filter((owner) => owner.controller),
    },
    spec: {
      replicas,
      selector: {
        matchLabels: { ...stable.spec?.selector.matchLabels, ...hashLabel, [ROLE_LABEL]: BASELINE_ROLE },
        matchExpressions: stable.spec?.selector.matchExpressions,
      },
      template: { metadata: { ...template.metadata, labels: podLabels }, spec: template.spec },
    },
  };
}

/** The baseline, if any; one being deleted is retried (or, `goingAsGone`, taken for gone). */
export async function readBaseline(
  kube: KubeClients,
  rollout: RolloutRef,
  stableHash: string,
  goingAsGone = false,
): Promise<k8s.V1ReplicaSet | undefined> {
  const name = baselineName(rollout, stableHash);
  let replicaSet: k8s.V1ReplicaSet;
  try {
    replicaSet = await kube.apps.readNamespacedReplicaSet({ name, namespace: rollout.namespace });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    rethrowKubernetesError(error, { action: `reading ${describeReplicaSet(rollout.namespace, name)}` });
  }
  const controller = replicaSet.metadata?.ownerReferences?.find((owner) => owner.controller);
  if (controller?.uid !== rollout.uid) {
    throw ApplicationFailure.nonRetryable(
      `${describeReplicaSet(rollout.namespace, name)} exists but is not controlled by ${describeRollout(rollout)}; ` +
        'delete it so Siirto can start the baseline of its own',
      FailureType.ReplicaSetConflict,
    );
  }
  if (replicaSet.metadata?.deletionTimestamp) {
    if (goingAsGone) return undefined;
    // The last judged step's baseline, going: retried until it is gone, then started afresh.
    throw new Error(`${describeReplicaSet(rollout.namespace, name)} is still being removed; retrying`);
  }
  return replicaSet;
}

/** Creates the baseline or scales the one there to `replicas`, without waiting. */
async function createOrScale(
  kube: KubeClients,
  input: { rollout: RolloutRef; stableHash: string; replicas: number; ownHash?: boolean },
): Promise<void> {
  const { rollout, stableHash, replicas } = input;
  const { namespace } = rollout;
  const existing = await readBaseline(kube, rollout, stableHash);
  if (existing) {
    if (existing.spec?.replicas === replicas) return;
    await kube.apps
      .patchNamespacedReplicaSet(
        {
          name: existing.metadata?.name ?? '',
          namespace,
          fieldManager: FIELD_MANAGER,
          body: { spec: { replicas } },
        },
        mergePatch,
      )
      .catch((error: unknown) =>
        rethrowKubernetesError(error, { action: `scaling the baseline of ${describeRollout(rollout)}` }),
      );
    return;
  }
  const stable = await readOwnedReplicaSet(kube, rollout, stableHash);
  if (!stable) {
    throw ApplicationFailure.nonRetryable(
      `the stable ${describeReplicaSet(namespace, replicaSetName(rollout, stableHash))} of ${describeRollout(rollout)} ` +
        'does not exist, so there is no template to start a baseline from; retry the rollout',
      FailureType.ReplicaSetMissing,
    );
  }
  const body = buildBaselineReplicaSet(stable, rollout, stableHash, replicas, input.ownHash);
  try {
    await kube.apps.createNamespacedReplicaSet({ namespace, body, fieldManager: FIELD_MANAGER });
  } catch (error) {
    // Another attempt of this activity created it meanwhile: the next read scales it.
    if (!isConflict(error)) {
      rethrowKubernetesError(error, { action: `creating the baseline of ${describeRollout(rollout)}` });
    }
    await createOrScale(kube, input);
  }
}

export async function ensureBaseline(
  kube: KubeClients,
  input: {
    rollout: RolloutRef;
    stableHash: string;
    replicas: number;
    deadlineSeconds: number;
    ownHash?: boolean;
  },
): Promise<BaselineSummary> {
  const context = Context.current();
  await createOrScale(kube, input);
  const { rollout, stableHash, replicas } = input;
  const deadline = Date.now() + input.deadlineSeconds * 1_000;
  for (;;) {
    const baseline = await readBaseline(kube, rollout, stableHash);
    if (!baseline)
      throw new Error(`the baseline of ${describeRollout(rollout)} was deleted while starting; retrying`);
    const summary = summarizeReplicaSet(baseline);
    context.heartbeat(summary);
    if (summary.availableReplicas >= replicas) return summary;
    if (Date.now() > deadline) {
      throw ApplicationFailure.nonRetryable(
        `${describeReplicaSet(rollout.namespace, summary.name)}: ${summary.availableReplicas} of ${replicas} baseline ` +
          `pods available after the progress deadline of ${input.deadlineSeconds}s; see ` +
          `\`kubectl describe pods -n ${rollout.namespace} -l ${ROLE_LABEL}=${BASELINE_ROLE}\``,
        FailureType.ProgressDeadlineExceeded,
      );
    }
    await context.sleep(POLL_MILLISECONDS);
  }
}

export async function removeBaseline(
  kube: KubeClients,
  input: { rollout: RolloutRef; stableHash: string },
): Promise<void> {
  const { rollout, stableHash } = input;
  const baseline = await readBaseline(kube, rollout, stableHash).catch((error: unknown) => {
    // One already being removed is as good as gone.
    if (error instanceof Error && error.message.endsWith('is still being removed; retrying'))
      return undefined;
    throw error;
  });
  if (!baseline) return;
  try {
    await kube.apps.deleteNamespacedReplicaSet({
      name: baseline.metadata?.name ?? '',
      namespace: rollout.namespace,
      // Its pods go with it, before the ReplicaSet itself is gone.
      propagationPolicy: 'Foreground',
      body: { preconditions: { uid: baseline.metadata?.uid } },
    });
  } catch (error) {
    if (isNotFound(error)) return;
    rethrowKubernetesError(error, { action: `deleting the baseline of ${describeRollout(rollout)}` });
  }
}
