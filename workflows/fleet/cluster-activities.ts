import {
  proxyActivities,
  workflowInfo,
  type ActivityInterfaceFor,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { FleetActivities } from '../../activities/fleet/fleet-activities';
import { FailureType } from '../../reasons/rollout-reasons';
import { fleetClusterTaskQueue } from '../fleet-api';
import { WORKER_LIVENESS } from '../worker-liveness';

/**
 * The fleet activities of one cluster, on its own queue, so only that cluster's workers run them. A
 * cluster that cannot be reached (its apiserver, or every one of its workers, down) is retried without
 * end: its wave waits for it, and the pending activity in Temporal says which cluster and why. Only
 * what no retry can mend (a Rollout that does not exist, a change that does not apply) fails.
 */
const PERMANENT = [
  FailureType.RolloutGone,
  FailureType.InvalidConfiguration,
  FailureType.RevisionSuperseded,
  FailureType.ReplicaSetMissing,
];

export interface ClusterActivities {
  /** Short calls: one read or write of the cluster. */
  calls: ActivityInterfaceFor<FleetActivities>;
  /** Following a Rollout: long, heartbeating, so a killed worker's follow moves to another soon. */
  follow: ActivityInterfaceFor<FleetActivities>;
}

export function clusterActivities(cluster: string, followIntervalMilliseconds: number): ClusterActivities {
  // The release runs on its fleet's queue, so the cluster's queue of that fleet is named from it.
  const taskQueue = fleetClusterTaskQueue(cluster, workflowInfo().taskQueue);
  const retry: RetryPolicy = {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: PERMANENT,
  };
  return {
    calls: proxyActivities<FleetActivities>({
      taskQueue,
      startToCloseTimeout: '1 minute',
      ...WORKER_LIVENESS,
      retry,
    }),
    follow: proxyActivities<FleetActivities>({
      taskQueue,
      // A Rollout's revision may wait days at a pause; its follower heartbeats all along.
      startToCloseTimeout: '30 days',
      heartbeatTimeout: Math.max(1_000, followIntervalMilliseconds * 4),
      retry,
    }),
  };
}
