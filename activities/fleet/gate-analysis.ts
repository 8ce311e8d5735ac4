import { createMetricProviders } from '../../analysis/metric-providers';
import type { KubeClients } from '../../kubernetes/client';
import { resolveAnalysis } from '../analysis-templates';
import { measureMetric } from '../metric-measurement';
import type { PrometheusSettings } from '../prometheus-settings';
import { ROLLOUT_GROUP, ROLLOUT_PLURAL, ROLLOUT_VERSION } from '../../schemas/rollout';
import type { FleetActivities } from './fleet-activities';

interface StrategyServices {
  stableService?: string;
  canaryService?: string;
  activeService?: string;
  previewService?: string;
}

/**
 * A release's gate analysis in one cluster: the same templates and measurements as a Rollout's own
 * analysis, resolved in the Rollout's namespace with the release's revision as the canary and the one
 * it replaced as the stable, and measured by this cluster's worker.
 */
export function createGateAnalysisActivities(
  kube: KubeClients,
  prometheus: PrometheusSettings,
): Pick<FleetActivities, 'resolveFleetAnalysis' | 'measureFleetMetric'> {
  const providers = createMetricProviders({ prometheus });
  return {
    async resolveFleetAnalysis({ target, analysis, field, templateHash, previousTemplateHash }) {
      const rollout = (await kube.custom.getNamespacedCustomObject({
        group: ROLLOUT_GROUP,
        version: ROLLOUT_VERSION,
        plural: ROLLOUT_PLURAL,
        namespace: target.namespace,
        name: target.name,
      })) as {
        metadata: { uid?: string };
        spec: { strategy?: Record<string, StrategyServices | undefined> };
      };
      const services: StrategyServices = Object.values(rollout.spec.strategy ?? {})[0] ?? {};
      return resolveAnalysis(
        kube,
        {
          rollout: { namespace: target.namespace, name: target.name, uid: rollout.metadata.uid ?? '' },
          analysis,
          field,
          mode: 'step',
          context: {
            namespace: target.namespace,
            rollout: target.name,
            canaryHash: templateHash,
            stableHash: previousTemplateHash ?? templateHash,
            canaryService: services.canaryService ?? services.previewService ?? '',
            stableService: services.stableService ?? services.activeService ?? '',
          },
        },
        providers,
      );
    },
    measureFleetMetric: (input) => measureMetric(input, providers),
  };
}
