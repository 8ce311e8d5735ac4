import type { Client } from '@temporalio/client';
import type { KubeClients } from '../../kubernetes/client';
import type { PrometheusSettings } from '../prometheus-settings';
import { createClusterRolloutActivities } from './cluster-rollouts';
import type { FleetActivities } from './fleet-activities';
import { createGateAnalysisActivities } from './gate-analysis';

export type { FleetActivities } from './fleet-activities';

/** The fleet activities of one cluster, as its worker registers them on `siirto-fleet-<cluster>`. */
export function createFleetActivities(
  kube: KubeClients,
  temporal: Client,
  prometheus: PrometheusSettings,
): FleetActivities {
  return {
    ...createClusterRolloutActivities(kube, temporal),
    ...createGateAnalysisActivities(kube, prometheus),
  };
}
