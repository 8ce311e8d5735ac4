import { ApplicationFailure } from '@temporalio/common';
import type { KubeClients } from '../kubernetes/client';
import { isAvailable, readReplicaSet } from './replica-set-availability';
import { describeReplicaSet, replicaSetName } from './replica-sets';
import { describeRollout } from './rollout-reader';
import { FailureType } from '../reasons/rollout-reasons';
import { servingRouters, type TrafficRouter, type TrafficWeightChange } from './traffic-routers';

export interface GuardedTrafficWeightChange extends TrafficWeightChange {
  /** Pods the canary must have available for the change to go ahead. */
  availableCanary?: { templateHash: string; replicas: number };
}

/**
 * Hands the weights to every router that serves the Rollout's trafficRouting, once the canary has
 * the pods available that it asks for: checked in the same attempt as the write, so a promote costs
 * one round trip and no traffic reaches pods that stopped being Ready since they were last counted.
 */
export async function setTrafficWeights(
  kube: KubeClients,
  routers: TrafficRouter[],
  { availableCanary, ...change }: GuardedTrafficWeightChange,
): Promise<void> {
  if (change.stableService === change.canaryService) {
    throw ApplicationFailure.nonRetryable(
      `${describeRollout(change.rollout)} names Service ${change.stableService} as both stableService and ` +
        'canaryService; give the canary a Service of its own',
      FailureType.TrafficRoutingInvalid,
    );
  }
  const serving = servingRouters(routers, change);
  // The routes are read while the canary is checked, one round trip less before the write; no route
  // is written before the check has passed.
  const checked = availableCanary && requireAvailableCanary(kube, change, availableCanary);
  checked?.catch(() => undefined);
  try {
    for (const router of serving) await router.setWeights(change, checked);
  } catch (error) {
    // The check's own failure (CanaryNotAvailable) is the one to report, not a router's word on it.
    await checked;
    throw error;
  }
  await checked;
}

async function requireAvailableCanary(
  kube: KubeClients,
  change: TrafficWeightChange,
  { templateHash, replicas }: { templateHash: string; replicas: number },
): Promise<void> {
  const { namespace } = change.rollout;
  const name = replicaSetName(change.rollout, templateHash);
  const replicaSet = await readReplicaSet(kube, namespace, name);
  if (replicaSet && isAvailable(replicaSet, replicas)) return;
  throw ApplicationFailure.nonRetryable(
    `${describeReplicaSet(namespace, name)} has ${replicaSet?.status?.availableReplicas ?? 0} of the ${replicas} available pods ` +
      `weight ${change.weights.canary}% needs; the weights stay as they are until it has them`,
    'CanaryNotAvailable',
  );
}
