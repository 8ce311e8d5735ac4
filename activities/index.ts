import type { KubeClients } from '../kubernetes/client';
import { pruneOldReplicaSets } from './replica-set-pruning';
import { waitForReplicaSetAvailable } from './replica-set-availability';
import { ensureReplicaSet, scaleReplicaSet } from './replica-sets';
import type { RolloutActivities } from './rollout-activities';
import { recordRolloutEvent } from './rollout-events';
import { writeRolloutStatus } from './rollout-status';
import { pointServiceAtRevision } from './services';
import { createTrafficRouters } from './traffic-routers';
import { setTrafficWeights } from './traffic-weights';

export type { ReplicaSetSummary, RolloutActivities } from './rollout-activities';

/** The rollout activities, bound to a cluster; the worker registers the object under these names. */
export function createRolloutActivities(kube: KubeClients): RolloutActivities {
  const trafficRouters = createTrafficRouters(kube);
  return {
    ensureReplicaSet: (input) => ensureReplicaSet(kube, input),
    scaleReplicaSet: (input) => scaleReplicaSet(kube, input),
    waitForReplicaSetAvailable: (input) => waitForReplicaSetAvailable(kube, input),
    setTrafficWeights: (input) => setTrafficWeights(trafficRouters, input),
    pointServiceAtRevision: (input) => pointServiceAtRevision(kube, input),
    writeRolloutStatus: (input) => writeRolloutStatus(kube, input),
    recordRolloutEvent: (input) => recordRolloutEvent(kube, input),
    pruneOldReplicaSets: (input) => pruneOldReplicaSets(kube, input),
  };
}
