import type { Client } from '@temporalio/client';
import type { KubeClients } from '../../kubernetes/client';
import { beatingWhileRunning } from '../liveness-beats';
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
  const { followFleetRollout, ...calls } = createClusterRolloutActivities(kube, temporal);
  return {
    ...beatingWhileRunning({ ...calls, ...createGateAnalysisActivities(kube, prometheus) }),
    // Beats on its own, with what it has seen of the Rollout.
    followFleetRollout,
  };
}
