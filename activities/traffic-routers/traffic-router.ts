import type { KubeClients } from '../../kubernetes/client';
import type { FieldWriter } from '../../kubernetes/managed-fields';
import type { TrafficRouting, TrafficWeights } from '../../schemas/rollout';
import type { RolloutRef } from '../../workflows/rollout-api';

export interface TrafficWeightChange {
  rollout: RolloutRef;
  trafficRouting: TrafficRouting;
  stableService: string;
  canaryService: string;
  weights: TrafficWeights;
}

/** Weights someone other than Siirto set on a routing object while a rollout held others there. */
export interface WeightDrift {
  /** `HTTPRoute shop/checkout` */
  object: string;
  /** The weights found, as `checkout-stable=100, checkout-canary=0`. */
  found: string;
  /** Who set them, from the object's managedFields, when it says. */
  changedBy?: FieldWriter;
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
  /**
   * Watches the routing objects until one of them carries, by someone else's write, other weights for
   * the two Services than `change.weights`, and says so; a GitOps sync of an older manifest, say.
   * Rejects with `finished`'s reason once it is aborted.
   */
  watchForDrift(change: TrafficWeightChange, finished: AbortSignal): Promise<WeightDrift>;
}

export type TrafficRouterFactory = (kube: KubeClients) => TrafficRouter;
