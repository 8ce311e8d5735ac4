import type { RolloutCondition, RolloutStatus, TrafficRouting, TrafficWeights } from '../schemas/rollout';
import type { RolloutRef } from '../workflows/rollout-api';
import type { ManagedRouteStep } from './managed-routes';
import type { RoutingTarget, TrafficWeightChange, WeightDrift } from './traffic-routers';

/**
 * The side effects a rollout workflow asks for. Each is idempotent: Temporal may run it again after
 * a timeout or a worker crash, and a second run must leave the cluster as the first did.
 * Failures that retrying cannot mend (a missing Service, a template that changed under a revision)
 * are thrown as non-retryable ApplicationFailures whose message names the object and the fix.
 */
export interface RolloutActivities {
  /**
   * Creates the revision's ReplicaSet `<rollout>-<templateHash>` from the Rollout's current template
   * (owned by the Rollout, labelled with the hash), or scales the existing one to `replicas`.
   * Fails non-retryably with type `RevisionSuperseded` if the Rollout's template no longer hashes to
   * `templateHash`.
   */
  ensureReplicaSet(input: {
    rollout: RolloutRef;
    revision: number;
    templateHash: string;
    replicas: number;
  }): Promise<ReplicaSetSummary>;

  /** Scales a revision's ReplicaSet; scaling one that does not exist to zero succeeds. */
  scaleReplicaSet(input: { rollout: RolloutRef; templateHash: string; replicas: number }): Promise<void>;

  /**
   * Watches the revision's ReplicaSet until `replicas` pods are available, heartbeating as it goes;
   * it ends when its activity is cancelled. Fails non-retryably with type `ProgressDeadlineExceeded`
   * after `deadlineSeconds`, not counting time the apiserver could not be read, and only when a fresh
   * read finds the pods still short.
   */
  waitForReplicaSetAvailable(input: {
    rollout: RolloutRef;
    templateHash: string;
    replicas: number;
    deadlineSeconds: number;
  }): Promise<ReplicaSetSummary>;

  /**
   * Sets the stable and canary backend weights on every route the traffic routing names, keeping
   * every other rule, match, filter and backend as it is, with optimistic concurrency. With
   * `availableCanary` it first checks that the canary ReplicaSet has that many pods available, and
   * fails non-retryably with type `CanaryNotAvailable`, changing nothing, when it has not.
   */
  setTrafficWeights(input: {
    rollout: RolloutRef;
    trafficRouting: TrafficRouting;
    stableService: string;
    canaryService: string;
    weights: TrafficWeights;
    availableCanary?: { templateHash: string; replicas: number };
  }): Promise<void>;

  /**
   * Carries out a `setHeaderRoute` or `setMirrorRoute` step: adds the managed route to every route
   * the traffic routing names, changes it, or (a step without `match`) removes it; the user's rules
   * stay as written. Fails non-retryably with type `ManagedRouteInvalid` when a route cannot take it.
   */
  applyManagedRouteStep(input: RoutingTarget & { step: ManagedRouteStep }): Promise<void>;

  /**
   * Removes every managed route from the routes the traffic routing names, when a rollout ends, is
   * aborted or superseded; the user's rules stay as written.
   */
  removeManagedRoutes(input: RoutingTarget): Promise<void>;

  /**
   * Watches the canary's share of traffic while it has one: lists, then watches the canary's pods
   * (labelled with `templateHash`), and returns the moment none of them is Ready (a data plane would
   * send the whole share to them regardless, and every such request would fail), with when it saw that
   * and why; at once if none is Ready when it starts. It changes nothing: the workflow moves the
   * traffic. Ends when its activity is cancelled.
   */
  guardCanaryTraffic(input: {
    rollout: RolloutRef;
    templateHash: string;
    /** The weights the routes should carry: the guard also returns when someone else changes them. */
    route?: TrafficWeightChange;
  }): Promise<CanaryTrafficGuardOutcome>;

  /**
   * Points a Service's selector at a revision's pods (adds the pod-template-hash label to it). With
   * `availableReplicas`, only if the revision has that many pods available, checked in the same
   * attempt; else it fails non-retryably with type `RevisionNotAvailable`, changing nothing.
   */
  pointServiceAtRevision(input: {
    rollout: RolloutRef;
    service: string;
    templateHash: string;
    /** The field naming the Service, for the message when it is missing: `spec.strategy.canary` unless given. */
    field?: string;
    availableReplicas?: number;
  }): Promise<void>;

  /**
   * Merges fields into the Rollout's status and sets a condition, through the status subresource.
   * Dropped when the status already records a newer revision than `revision`: a superseded workflow's
   * late write must not undo its successor's.
   */
  writeRolloutStatus(input: {
    rollout: RolloutRef;
    revision: number;
    status: Partial<RolloutStatus>;
    condition?: Omit<RolloutCondition, 'lastTransitionTime'>;
  }): Promise<void>;

  /** Records a Kubernetes Event on the Rollout, as `kubectl describe rollout` shows them. */
  recordRolloutEvent(input: {
    rollout: RolloutRef;
    type: 'Normal' | 'Warning';
    reason: string;
    message: string;
  }): Promise<void>;

  /** Removes ReplicaSets of old revisions, scaled to zero, beyond the Rollout's revisionHistoryLimit. */
  pruneOldReplicaSets(input: { rollout: RolloutRef; keepTemplateHashes: string[] }): Promise<void>;
}

/** The guard's word that the canary has no Ready pod left, or that someone else changed the weights. */
export interface CanaryTrafficGuardOutcome {
  /** When the watch saw it (ISO 8601). */
  unreadyAt: string;
  /** `3 canary pods, none Ready: pod web-1a2b3: <why>`, for the Rollout's status and Event. */
  message: string;
  /** Set when the canary is fine but a route's weights were changed under the rollout. */
  drift?: WeightDrift;
}

export interface ReplicaSetSummary {
  name: string;
  replicas: number;
  availableReplicas: number;
}
