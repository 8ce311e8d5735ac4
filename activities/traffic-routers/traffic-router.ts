import type { KubeClients } from '../../kubernetes/client';
import type { TrafficRouting, TrafficWeights } from '../../schemas/rollout';
import type { RolloutRef } from '../../workflows/rollout-api';

export interface TrafficWeightChange {
  rollout: RolloutRef;
  trafficRouting: TrafficRouting;
  stableService: string;
  canaryService: string;
  weights: TrafficWeights;
}

/**
 * Splits traffic between the stable and canary Services with one kind of traffic API (Gateway API,
 * a service mesh). Adding a router is adding a module that implements this, and listing it in index.ts.
 */
export interface TrafficRouter {
  /** The trafficRouting field it serves, as users write it: `gatewayAPI`. */
  readonly field: string;
  handles(trafficRouting: TrafficRouting): boolean;
  /** Sets the weights; idempotent, and leaves everything else on the routing objects as it is. */
  setWeights(change: TrafficWeightChange): Promise<void>;
}

export type TrafficRouterFactory = (kube: KubeClients) => TrafficRouter;
