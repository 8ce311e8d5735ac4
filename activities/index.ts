import type { KubeClients } from '../kubernetes/client';
import type { AnalysisActivities } from './analysis-activities';
import { resolveAnalysis } from './analysis-templates';
import { ensureBaseline, removeBaseline } from './baseline-replica-set';
import { ensureBaselineBackend, removeBaselineRouting, removeBaselineService } from './baseline-service';
import type { CanaryJudgeActivities } from './canary-judge-activities';
import { judgeInterval } from './canary-judgement';
import { guardCanaryTraffic } from './canary-traffic-guard';
import { beatingWhileRunning } from './liveness-beats';
import { applyManagedRouteStep, removeManagedRoutes } from './managed-routes';
import { createMetricProviders } from '../analysis/metric-providers';
import { measureMetric } from './metric-measurement';
import type { PrometheusSettings } from './prometheus-settings';
import { pruneOldReplicaSets } from './replica-set-pruning';
import { waitForReplicaSetAvailable } from './replica-set-availability';
import { ensureReplicaSet, scaleReplicaSet } from './replica-sets';
import type { RolloutActivities } from './rollout-activities';
import { recordRolloutEvent } from './rollout-events';
import { writeRolloutStatus } from './rollout-status';
import { pointServiceAtRevision } from './services';
import { createTrafficRouters } from './traffic-routers';
import { setTrafficWeights } from './traffic-weights';

export type { AnalysisActivities } from './analysis-activities';
export type { CanaryJudgeActivities } from './canary-judge-activities';
export type { ReplicaSetSummary, RolloutActivities } from './rollout-activities';

/** The rollout activities, bound to a cluster; the worker registers the object under these names. */
export function createRolloutActivities(kube: KubeClients): RolloutActivities {
  const trafficRouters = createTrafficRouters(kube);
  return {
    ...beatingWhileRunning({
      ensureReplicaSet: (input) => ensureReplicaSet(kube, input),
      scaleReplicaSet: (input) => scaleReplicaSet(kube, input),
      setTrafficWeights: (input) => setTrafficWeights(kube, trafficRouters, input),
      applyManagedRouteStep: (input) => applyManagedRouteStep(trafficRouters, input),
      removeManagedRoutes: (input) => removeManagedRoutes(trafficRouters, input),
      pointServiceAtRevision: (input) => pointServiceAtRevision(kube, input),
      writeRolloutStatus: (input) => writeRolloutStatus(kube, input),
      recordRolloutEvent: (input) => recordRolloutEvent(kube, input),
      pruneOldReplicaSets: (input) => pruneOldReplicaSets(kube, input),
    } satisfies Partial<RolloutActivities>),
    // These two beat on their own, with their progress.
    waitForReplicaSetAvailable: (input) => waitForReplicaSetAvailable(kube, input),
    guardCanaryTraffic: (input) => guardCanaryTraffic(kube, trafficRouters, input),
  };
}

/** The analysis activities, bound to a cluster (for templates) and the metric providers, with the worker's settings. */
export function createAnalysisActivities(
  kube: KubeClients,
  prometheus: PrometheusSettings,
): AnalysisActivities {
  const providers = createMetricProviders({ prometheus });
  return beatingWhileRunning({
    resolveAnalysis: (input) => resolveAnalysis(kube, input, providers),
    measureMetric: (input) => measureMetric(input, providers),
  } satisfies AnalysisActivities);
}

/** The canary judge's activities: the baseline's pods, and each interval judged from Prometheus. */
export function createCanaryJudgeActivities(
  kube: KubeClients,
  prometheus: PrometheusSettings,
): CanaryJudgeActivities {
  return {
    ...beatingWhileRunning({
      // Its Service first, if a route gave it one (its backend is off the routes by then), then its pods.
      removeBaseline: async (input) => {
        await removeBaselineService(kube, input);
        await removeBaseline(kube, input);
      },
      removeBaselineBackend: (input) => removeBaselineRouting(kube, input),
      judgeInterval: (input) => judgeInterval(prometheus, input),
    } satisfies Partial<CanaryJudgeActivities>),
    // These two wait for pods and beat on their own.
    ensureBaseline: (input) => ensureBaseline(kube, input),
    ensureBaselineBackend: (input) => ensureBaselineBackend(kube, input),
  };
}
