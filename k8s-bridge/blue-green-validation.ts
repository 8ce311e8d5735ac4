import type { RolloutAnalysis } from '../schemas/analysis';
import type { ServiceRoles } from '../activities/traffic-routers/traffic-router';
import type { Rollout, TrafficRouting } from '../schemas/rollout';

/**
 * What the bridge checks of `spec.strategy.blueGreen` beyond its schema: the Services it names, what
 * a route between them needs, and settings that contradict each other. Each problem names the field
 * and the fix, like the canary's checks in rollout-validation.ts.
 */

const FIELD = 'spec.strategy.blueGreen';

/**
 * The two Services traffic moves between, whatever the strategy: the canary's stable and canary
 * Services, or blue-green's active and preview ones (the route's backends, with the same roles).
 */
export interface TrafficServices {
  /** Absent only for a canary without a traffic router, which may leave its Services out. */
  stableService?: string;
  canaryService?: string;
  trafficRouting?: TrafficRouting;
  /** Where the strategy's fields are: `spec.strategy.canary` or `spec.strategy.blueGreen`. */
  field: string;
  /** What the strategy calls the two Services, in messages about the route. */
  roles: ServiceRoles;
}

export function trafficServices(rollout: Rollout): TrafficServices | undefined {
  const { canary, blueGreen, abTesting } = rollout.spec.strategy;
  if (abTesting) {
    return {
      stableService: abTesting.variantAService,
      canaryService: abTesting.variantBService,
      trafficRouting: abTesting.trafficRouting,
      field: 'spec.strategy.abTesting',
      roles: { stable: 'variant A', canary: 'variant B' },
    };
  }
  if (canary) {
    return {
      stableService: canary.stableService,
      canaryService: canary.canaryService,
      trafficRouting: canary.trafficRouting,
      field: 'spec.strategy.canary',
      roles: { stable: 'stable', canary: 'canary' },
    };
  }
  if (blueGreen) {
    return {
      stableService: blueGreen.activeService,
      canaryService: blueGreen.previewService,
      trafficRouting: blueGreen.trafficRouting,
      field: FIELD,
      roles: { stable: 'active', canary: 'preview' },
    };
  }
  return undefined;
}

/** The blue-green analyses, with the path of their field; `step` mode: each comes to a verdict. */
export function blueGreenAnalyses(
  rollout: Rollout,
): { analysis: RolloutAnalysis; field: string; mode: 'step' }[] {
  const blueGreen = rollout.spec.strategy.blueGreen;
  if (!blueGreen) return [];
  return (['prePromotionAnalysis', 'postPromotionAnalysis'] as const).flatMap((name) => {
    const analysis = blueGreen[name];
    return analysis ? [{ analysis, field: `${FIELD}.${name}`, mode: 'step' as const }] : [];
  });
}

/** Problems of a blue-green strategy that need no reading of the cluster. */
export function checkBlueGreen(rollout: Rollout, existingServices: ReadonlySet<string>): string[] {
  const blueGreen = rollout.spec.strategy.blueGreen;
  if (!blueGreen) return [];
  const { namespace } = rollout.metadata;
  const problems: string[] = [];
  const services = [
    { name: blueGreen.activeService, field: `${FIELD}.activeService` },
    ...(blueGreen.previewService
      ? [{ name: blueGreen.previewService, field: `${FIELD}.previewService` }]
      : []),
  ];
  for (const service of services) {
    if (!existingServices.has(service.name)) {
      problems.push(
        `${service.field}: Service "${service.name}" not found in namespace ${namespace}; ` +
          'create it, or name an existing Service',
      );
    }
  }
  if (blueGreen.previewService === blueGreen.activeService) {
    problems.push(
      `${FIELD}.previewService: "${blueGreen.previewService}" is also the activeService; give the new ` +
        'revision a Service of its own, or leave previewService out',
    );
  }
  if (blueGreen.trafficRouting && !blueGreen.previewService) {
    problems.push(
      `${FIELD}.trafficRouting: a route switches between the active and the preview Service, and no ` +
        'previewService is set; set previewService to a Service the route also sends to, or remove trafficRouting',
    );
  }
  if (blueGreen.autoPromotionSeconds !== undefined && !blueGreen.autoPromotionEnabled) {
    problems.push(
      `${FIELD}.autoPromotionSeconds: ${blueGreen.autoPromotionSeconds} promotes on its own, but ` +
        'autoPromotionEnabled is false, which waits for a promote; remove one of the two',
    );
  }
  return problems;
}
