import type { KubeClients } from '../../kubernetes/client';
import type { FieldWriter } from '../../kubernetes/managed-fields';
import type { SetHeaderRoute, SetMirrorRoute, TrafficRouting, TrafficWeights } from '../../schemas/rollout';
import type { RolloutRef } from '../../workflows/rollout-api';

/** The routing objects of one Rollout and the two Services it splits traffic between. */
export interface RoutingTarget {
  rollout: RolloutRef;
  trafficRouting: TrafficRouting;
  stableService: string;
  canaryService: string;
  /** Where the strategy's fields are, for messages: `spec.strategy.canary` unless said. */
  field?: string;
  /** What the strategy calls the two Services, for messages: stable and canary unless said. */
  roles?: ServiceRoles;
}

/** The names a strategy gives its two Services: the canary's stable and canary, blue-green's active and preview. */
export interface ServiceRoles {
  stable: string;
  canary: string;
}

export interface TrafficWeightChange extends RoutingTarget {
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
  /**
   * What changed, when it is not the weights themselves: `had its hosts or paths changed` for an
   * object a router copies from. Setting the weights again brings the router's objects in step.
   */
  change?: string;
}

/** The weights one routing object carries for the two Services. */
export interface RoutedWeights {
  /** `HTTPRoute shop/checkout` */
  object: string;
  /** Absent when the object does not exist or cannot be split between the two Services. */
  weights?: TrafficWeights;
}

/** A `setHeaderRoute` step with a match, and its field: `spec.strategy.canary.steps[1].setHeaderRoute`. */
export interface HeaderRouteStep {
  field: string;
  route: SetHeaderRoute;
}

/**
 * A route Siirto adds beside the user's and removes again, as the canary steps `setHeaderRoute` and
 * `setMirrorRoute` ask: requests with certain headers to the canary, or a copy of requests to it.
 */
export type ManagedRoute =
  | { kind: 'header'; route: SetHeaderRoute & { match: NonNullable<SetHeaderRoute['match']> } }
  | { kind: 'mirror'; route: SetMirrorRoute & { match: NonNullable<SetMirrorRoute['match']> } };

/**
 * Splits traffic between the stable and canary Services with one kind of traffic API (Gateway API,
 * a service mesh), and owns everything about it: reading the user's routing objects, checking them,
 * and writing to them. Adding a router is adding a module that implements this, and listing it in
 * index.ts.
 */
export interface TrafficRouter {
  /** The trafficRouting field it serves, as users write it: `gatewayAPI`, `nginx`. */
  readonly field: string;
  handles(trafficRouting: TrafficRouting): boolean;
  /**
   * Reads the routing objects the Rollout names and says what keeps them from being split between
   * the two Services, one problem a line, each naming the field and the fix; empty when nothing does.
   * The bridge asks before a rollout starts, so a Rollout that cannot be routed never moves traffic.
   * `mirrorSteps` are the fields of the steps that add a mirror route, as
   * `spec.strategy.canary.steps[3].setMirrorRoute`, for a router to refuse where it cannot mirror;
   * `headerSteps` the steps that add a header route, for a router to refuse the matches it cannot make.
   */
  validate(
    target: RoutingTarget,
    mirrorSteps?: readonly string[],
    headerSteps?: readonly HeaderRouteStep[],
  ): Promise<string[]>;
  /**
   * Sets the weights; idempotent, and leaves everything else on the routing objects as it is. No
   * object is written before `checked` has settled (its reads may go ahead), and none once it rejects.
   */
  setWeights(change: TrafficWeightChange, checked?: Promise<void>): Promise<void>;
  /** The weights each routing object carries now. */
  readWeights(target: RoutingTarget): Promise<RoutedWeights[]>;
  /**
   * Watches the routing objects until one of them carries, by someone else's write, other weights for
   * the two Services than `change.weights`, and says so; a GitOps sync of an older manifest, say.
   * Rejects with `finished`'s reason once it is aborted.
   */
  watchForDrift(change: TrafficWeightChange, finished: AbortSignal): Promise<WeightDrift>;
  /** Adds the managed route, or changes it to this if it is there; idempotent. */
  setManagedRoute(target: RoutingTarget, managed: ManagedRoute): Promise<void>;
  /** Removes the managed routes of these names; idempotent, and the user's routes stay as written. */
  removeManagedRoutes(target: RoutingTarget, names: readonly string[]): Promise<void>;
  /**
   * Takes away everything Siirto added to the routing objects (every managed route), when a rollout
   * ends, is aborted or is superseded; the weights are the workflow's to set.
   */
  cleanUp(target: RoutingTarget): Promise<void>;
}

export type TrafficRouterFactory = (kube: KubeClients) => TrafficRouter;
