import type { CanaryStrategy } from '../schemas/rollout';

const FIELD = 'spec.strategy.canary';

/**
 * What a canary with or without trafficRouting needs that its schema cannot say: a router needs both
 * Services; without one, weights are pod counts, so steps that route by request cannot work.
 */
export function checkTrafficRoutingChoice(canary: CanaryStrategy): string[] {
  const problems: string[] = [];
  if (canary.trafficRouting) {
    for (const service of ['stableService', 'canaryService'] as const) {
      if (canary[service] === undefined) {
        problems.push(
          `${FIELD}.${service}: required with trafficRouting, whose routes send traffic to it; name the ` +
            `Service that selects the ${service === 'stableService' ? 'stable' : 'canary'} pods, or leave out ` +
            'trafficRouting for a basic canary that sizes pods for each weight',
        );
      }
    }
    return problems;
  }
  canary.steps.forEach((step, index) => {
    const managed = step.setHeaderRoute
      ? 'setHeaderRoute'
      : step.setMirrorRoute
        ? 'setMirrorRoute'
        : undefined;
    if (managed) {
      problems.push(
        `${FIELD}.steps[${index}].${managed}: needs a traffic router to route requests by what they carry; ` +
          `add ${FIELD}.trafficRouting, or remove the step`,
      );
    }
  });
  if (canary.maxSurge === 0 && canary.maxUnavailable === 0) {
    problems.push(
      `${FIELD}.maxUnavailable: with maxSurge also 0 no pod could move; set either above 0, such as maxSurge: 1`,
    );
  }
  return problems;
}
