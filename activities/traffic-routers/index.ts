import { ApplicationFailure } from '@temporalio/common';
import type { KubeClients } from '../../kubernetes/client';
import { describeRollout } from '../rollout-reader';
import { FailureType } from '../../reasons/rollout-reasons';
import { gatewayApiRouter } from './gateway-api';
import { nginxIngressRouter } from './nginx-ingress/nginx-router';
import type { HeaderRouteStep, RoutingTarget, TrafficRouter, TrafficRouterFactory } from './traffic-router';

export type {
  HeaderRouteStep,
  ManagedRoute,
  RoutedWeights,
  RoutingTarget,
  TrafficRouter,
  TrafficWeightChange,
  WeightDrift,
} from './traffic-router';

/** Every traffic router Siirto has; adding one is adding its module and a line here. */
const ROUTER_FACTORIES: TrafficRouterFactory[] = [gatewayApiRouter, nginxIngressRouter];

export function createTrafficRouters(kube: KubeClients): TrafficRouter[] {
  return ROUTER_FACTORIES.map((createRouter) => createRouter(kube));
}

const choices = (routers: readonly TrafficRouter[]) =>
  `set one of: ${routers.map((router) => router.field).join(', ')}`;

/**
 * The routers that serve the target's trafficRouting; fails non-retryably with type
 * `TrafficRoutingInvalid` when there is none.
 */
export function servingRouters(routers: readonly TrafficRouter[], target: RoutingTarget): TrafficRouter[] {
  const serving = routers.filter((router) => router.handles(target.trafficRouting));
  if (serving.length > 0) return serving;
  throw ApplicationFailure.nonRetryable(
    `${describeRollout(target.rollout)} has a ${target.field ?? 'spec.strategy.canary'}.trafficRouting Siirto cannot serve; ${choices(routers)}`,
    FailureType.TrafficRoutingInvalid,
  );
}

/**
 * What keeps a Rollout's routing objects from carrying its traffic, as each router serving it finds:
 * one line a problem, naming the field and the fix; `mirrorSteps` are the fields of the steps that add
 * a mirror route, `headerSteps` the steps that add a header route. The bridge checks every Rollout with this.
 */
export async function validateTrafficRouting(
  routers: readonly TrafficRouter[],
  target: RoutingTarget,
  mirrorSteps: readonly string[] = [],
  headerSteps: readonly HeaderRouteStep[] = [],
): Promise<string[]> {
  const serving = routers.filter((router) => router.handles(target.trafficRouting));
  if (serving.length === 0) {
    return [
      `${target.field ?? 'spec.strategy.canary'}.trafficRouting: Siirto cannot serve it; ${choices(routers)}`,
    ];
  }
  const problems = await Promise.all(
    serving.map((router) => router.validate(target, mirrorSteps, headerSteps)),
  );
  return problems.flat();
}
