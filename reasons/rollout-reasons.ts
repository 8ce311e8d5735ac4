/**
 * The names Siirto's parts tell each other why something happened by: the type of an
 * ApplicationFailure an activity throws and a workflow catches, and the reason of the Kubernetes Events
 * a rollout records (what `kubectl get events --field-selector reason=...` and alerts match on). The
 * throwing and the catching side both name them from here, so neither can drift from the other.
 * Plain constants, with no imports: the workflow bundle, the activities and the bridge all load it.
 */

/** ApplicationFailure types. Renaming one breaks running workflows that catch it: add, never rename. */
export const FailureType = {
  /** The Rollout was deleted, or recreated under another uid: this revision's work stops. */
  RolloutGone: 'RolloutGone',
  /** The Rollout in the cluster does not parse as one. */
  RolloutInvalid: 'RolloutInvalid',
  /** The Rollout's pod template changed: a newer revision takes over. */
  RevisionSuperseded: 'RevisionSuperseded',
  /** Pods not available within spec.progressDeadlineSeconds. */
  ProgressDeadlineExceeded: 'ProgressDeadlineExceeded',
  /** Something the Rollout or a template says cannot be done as written (a duration, an analysis). */
  InvalidConfiguration: 'InvalidConfiguration',
  /** An analysis failed, or could not run at all. */
  AnalysisFailed: 'AnalysisFailed',
  /** The route the Rollout names does not exist. */
  TrafficRouteMissing: 'TrafficRouteMissing',
  /** The route exists but cannot carry the split (no rule with both Services, say). */
  TrafficRouteMisconfigured: 'TrafficRouteMisconfigured',
  /** spec.strategy's traffic routing cannot work as written (one Service for stable and canary). */
  TrafficRoutingInvalid: 'TrafficRoutingInvalid',
  /** A route write that was to give the canary traffic found its pods not available: wait, then again. */
  CanaryNotAvailable: 'CanaryNotAvailable',
  /** A Service the Rollout names does not exist. */
  ServiceMissing: 'ServiceMissing',
  /** A Service was to select a revision whose pods are not all available: it keeps the pods it selects. */
  RevisionNotAvailable: 'RevisionNotAvailable',
  /** A Service's endpoints did not come to list a revision's Ready pods alone within the deadline. */
  ServiceEndpointsNotReady: 'ServiceEndpointsNotReady',
  /** A ReplicaSet the rollout made was deleted under it. */
  ReplicaSetMissing: 'ReplicaSetMissing',
  /** A ReplicaSet of the revision's name exists but belongs to someone else. */
  ReplicaSetConflict: 'ReplicaSetConflict',
  /** The apiserver refused Siirto's service account (401, 403). */
  KubernetesForbidden: 'KubernetesForbidden',
  /** The apiserver has no such object (404). */
  KubernetesNotFound: 'KubernetesNotFound',
  /** The apiserver rejected the object as invalid (400, 422). */
  KubernetesInvalid: 'KubernetesInvalid',
  /** Any other apiserver failure no retry mends. */
  KubernetesRequestFailed: 'KubernetesRequestFailed',
  /** A pre-rollout or rollout webhook failed more often than its failureLimit. */
  WebhookFailed: 'WebhookFailed',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** Activity failures no retry can mend; each ends the current attempt of the rollout at once. */
export const PERMANENT_FAILURES: string[] = [
  FailureType.RolloutGone,
  FailureType.RevisionSuperseded,
  FailureType.ProgressDeadlineExceeded,
  FailureType.InvalidConfiguration,
];

/** Failures that name themselves as the reason of the Degraded Event they cause. */
const FAILURES_AS_EVENT_REASONS = {
  AnalysisFailed: FailureType.AnalysisFailed,
  ProgressDeadlineExceeded: FailureType.ProgressDeadlineExceeded,
  TrafficRouteMissing: FailureType.TrafficRouteMissing,
  TrafficRouteMisconfigured: FailureType.TrafficRouteMisconfigured,
  WebhookFailed: FailureType.WebhookFailed,
} as const;
export const FAILURES_NAMING_THEIR_EVENT: string[] = Object.values(FAILURES_AS_EVENT_REASONS);

/** Reasons of the Kubernetes Events a rollout records, and of its Progressing condition. */
export const EventReason = {
  /** A revision's steps begin. */
  RolloutStarted: 'RolloutStarted',
  /** The revision is stable. */
  RolloutCompleted: 'RolloutCompleted',
  /** Aborted, by a person or a failure that names no reason of its own. */
  RolloutAborted: 'RolloutAborted',
  /** The promotion failed before the new stable had the traffic. */
  PromotionFailed: 'PromotionFailed',
  /** Promoted, but the old stable's pods could not be scaled down. */
  OldStableNotScaledDown: 'OldStableNotScaledDown',
  /** Promoted, but the header or mirror routes the steps added could not be taken off the routes. */
  ManagedRoutesNotRemoved: 'ManagedRoutesNotRemoved',
  /** None of the canary's pods was Ready: its traffic went back to stable meanwhile. */
  CanaryUnready: 'CanaryUnready',
  /** Someone else changed the route's weights, and the rollout set them back. */
  TrafficWeightsRestored: 'TrafficWeightsRestored',
  /** spec.replicas changed, and the pods were sized to it. */
  Resized: 'Resized',
  /** Someone else scaled a ReplicaSet of the rollout, and Siirto scaled it back. */
  ReplicaSetRestored: 'ReplicaSetRestored',
  /** A confirm-* webhook did not say yes: the rollout waits for it. */
  WebhookWaiting: 'WebhookWaiting',
  /** A confirm-* webhook that held the rollout said yes. */
  WebhookConfirmed: 'WebhookConfirmed',
  /** A webhook call failed (counted against its failureLimit, or a post-rollout one, only logged). */
  WebhookCallFailed: 'WebhookCallFailed',
  /** A rollback webhook answered 2xx: the rollout aborts. */
  WebhookRollback: 'WebhookRollback',
  /** An A/B experiment came to a verdict that keeps A: A better, or no difference by maxDuration. */
  ExperimentConcluded: 'ExperimentConcluded',
  /** An A/B experiment's variant B broke a guardrail: it was stopped at once. */
  GuardrailBreached: 'GuardrailBreached',
  ...FAILURES_AS_EVENT_REASONS,
} as const;
export type EventReason = (typeof EventReason)[keyof typeof EventReason];
