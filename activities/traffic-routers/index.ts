import type { KubeClients } from '../../kubernetes/client';
import { gatewayApiRouter } from './gateway-api';
import type { TrafficRouter, TrafficRouterFactory } from './traffic-router';

export type { TrafficRouter, TrafficWeightChange, WeightDrift } from './traffic-router';

const ROUTER_FACTORIES: TrafficRouterFactory[] = [gatewayApiRouter];

export function createTrafficRouters(kube: KubeClients): TrafficRouter[] {
  return ROUTER_FACTORIES.map((createRouter) => createRouter(kube));
}
