import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createFleetActivities } from '../activities/fleet';
import type { ReleaseCDEventsActivities } from '../activities/cdevents-emission';
import type { PrometheusSettings } from '../activities/prometheus-settings';
import type { KubeClients } from '../kubernetes/client';
import { fleetClusterTaskQueue } from '../workflows/fleet-api';

/**
 * The fleet's two queues on a worker of a cluster with a SIIRTO_CLUSTER_ID: `siirto-fleet-<cluster>`,
 * where fleet releases reach this cluster's Rollouts through this worker's own kubeconfig, and
 * `siirto-fleet`, where the release workflows themselves run (on whichever cluster's worker is free:
 * they only schedule work, each cluster's on its own queue). SIIRTO_FLEET_TASK_QUEUE renames both. A
 * cluster without an ID takes no part in fleet releases.
 */
export async function createFleetWorkers(input: {
  connection: NativeConnection;
  namespace: string;
  clusterId: string;
  /** SIIRTO_FLEET_TASK_QUEUE: the fleet's queue, and the prefix of this cluster's queue in it. */
  fleetTaskQueue: string;
  kube: KubeClients;
  client: Client;
  prometheus: PrometheusSettings;
  /** The releases' CDEvents, sent by whichever cluster's worker runs the release, to its sink. */
  releaseAnnouncements: ReleaseCDEventsActivities;
  /** The worker's workflow code (bundle or path) and capacity, as its rollout worker has them. */
  workflowOptions: Pick<
    WorkerOptions,
    'workflowBundle' | 'workflowsPath' | 'maxCachedWorkflows' | 'maxConcurrentWorkflowTaskExecutions'
  >;
}): Promise<Worker[]> {
  const { connection, namespace, clusterId, fleetTaskQueue } = input;
  const activities = await Worker.create({
    connection,
    namespace,
    taskQueue: fleetClusterTaskQueue(clusterId, fleetTaskQueue),
    activities: createFleetActivities(input.kube, input.client, input.prometheus),
    shutdownGraceTime: '10 seconds',
  });
  const workflows = await Worker.create({
    connection,
    namespace,
    taskQueue: fleetTaskQueue,
    activities: input.releaseAnnouncements,
    ...input.workflowOptions,
  });
  return [activities, workflows];
}
