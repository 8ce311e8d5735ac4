import type { KubeClients } from '../kubernetes/client';
import type { PodMetadata } from '../schemas/rollout';
import type { RolloutRef } from '../workflows/rollout-api';
import { beatingWhileRunning } from './liveness-beats';
import { setRevisionPodMetadata } from './pod-metadata';
import { readOwnedReplicaSet, summarizeReplicaSet } from './replica-sets';
import type { ReplicaSetSummary } from './rollout-activities';
import { waitForServiceEndpoints, type ServiceEndpointCount } from './service-endpoints';

/**
 * What a blue-green rollout needs beyond the rollout activities (ReplicaSets, Services, route
 * weights, status): each idempotent and safe to retry, like them.
 */
export interface BlueGreenActivities {
  /** A revision's ReplicaSet as it is now, or undefined when it has none: its pods may still be there. */
  readRevisionReplicaSet(input: {
    rollout: RolloutRef;
    templateHash: string;
  }): Promise<ReplicaSetSummary | undefined>;

  /**
   * Puts `metadata` on a revision's pods and its ReplicaSet's pod template, and takes the keys of
   * `remove` off (those neither `metadata` nor the Rollout's own template sets).
   */
  setRevisionPodMetadata(input: {
    rollout: RolloutRef;
    templateHash: string;
    metadata?: PodMetadata;
    remove?: PodMetadata;
  }): Promise<void>;

  /**
   * Waits until the Service's EndpointSlices list `replicas` ready pods of the revision and none of
   * another; fails non-retryably with type `ServiceEndpointsNotReady` after `deadlineSeconds`.
   */
  waitForServiceEndpoints(input: {
    rollout: RolloutRef;
    service: string;
    templateHash: string;
    replicas: number;
    deadlineSeconds: number;
  }): Promise<ServiceEndpointCount>;
}

export function createBlueGreenActivities(kube: KubeClients): BlueGreenActivities {
  return {
    ...beatingWhileRunning({
      async readRevisionReplicaSet({ rollout, templateHash }) {
        const replicaSet = await readOwnedReplicaSet(kube, rollout, templateHash);
        return replicaSet && summarizeReplicaSet(replicaSet);
      },
      setRevisionPodMetadata: (input) => setRevisionPodMetadata(kube, input),
    } satisfies Partial<BlueGreenActivities>),
    // Beats on its own while it waits.
    waitForServiceEndpoints: (input) => waitForServiceEndpoints(kube, input),
  };
}
