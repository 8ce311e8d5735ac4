import { ApplicationFailure } from '@temporalio/common';
import { describeRollout } from './rollout-reader';
import type { TrafficRouter, TrafficWeightChange } from './traffic-routers';

/** Hands the weights to every router that serves the Rollout's trafficRouting. */
export async function setTrafficWeights(
  routers: TrafficRouter[],
  change: TrafficWeightChange,
): Promise<void> {
  if (change.stableService === change.canaryService) {
    throw ApplicationFailure.nonRetryable(
      `${describeRollout(change.rollout)} names Service ${change.stableService} as both stableService and ` +
        'canaryService; give the canary a Service of its own',
      'TrafficRoutingInvalid',
    );
  }
  const serving = routers.filter((router) => router.handles(change.trafficRouting));
  if (serving.length === 0) {
    throw ApplicationFailure.nonRetryable(
      `${describeRollout(change.rollout)} has a spec.strategy.canary.trafficRouting Siirto cannot serve; ` +
        `set one of: ${routers.map((router) => router.field).join(', ')}`,
      'TrafficRoutingInvalid',
    );
  }
  for (const router of serving) await router.setWeights(change);
}
