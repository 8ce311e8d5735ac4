import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { AnalysisActivities } from '../../activities/analysis-activities';
import type { BlueGreenActivities } from '../../activities/blue-green-activities';
import type { CanaryJudgeActivities } from '../../activities/canary-judge-activities';
import type { CDEventsActivities } from '../../activities/cdevents-emission';
import type { ExperimentActivities } from '../../activities/experiment-counts';
import type { RolloutActivities } from '../../activities/rollout-activities';
import type { WebhookActivities } from '../../activities/webhooks';
import type { WorkflowHandoffActivities } from '../../activities/workflow-handoff';
import { PERMANENT_FAILURES } from '../../reasons/rollout-reasons';
import { WORKER_LIVENESS } from '../worker-liveness';

/**
 * How a rollout workflow calls its activities, whatever its strategy: how long each may take, how it
 * is retried, and what a cancellation waits for.
 */

/** Rollout activities, and a strategy's own (blue-green's pod metadata and ReplicaSet read). */
type ClusterActivities = RolloutActivities & BlueGreenActivities;

export const cluster = proxyActivities<ClusterActivities>({
  startToCloseTimeout: '1 minute',
  ...WORKER_LIVENESS,
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: PERMANENT_FAILURES,
  },
});

// Waiting for pods can take as long as the progress deadline; the heartbeat tells a dead worker apart.
export const readiness = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '1 day',
  heartbeatTimeout: '20 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '1 second',
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: PERMANENT_FAILURES,
  },
});

// The traffic guard's watch, and its wait for the canary's pods to be Ready again, only read: a weight
// change stops them without waiting for them to hear so (which takes until their next heartbeat). So
// do a blue-green rollout's waits for pods and for a Service's endpoints: an abort leaves them at once.
const LEAVE_AT_ONCE = {
  startToCloseTimeout: '1 day',
  heartbeatTimeout: '20 seconds',
  cancellationType: ActivityCancellationType.TRY_CANCEL,
  retry: {
    initialInterval: '1 second',
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: PERMANENT_FAILURES,
  },
} as const;
export const guards = proxyActivities<ClusterActivities>(LEAVE_AT_ONCE);

// Starting a judged step's baseline waits for its pods, as long as the progress deadline; an abort
// leaves at once.
export const baselines = proxyActivities<CanaryJudgeActivities>(LEAVE_AT_ONCE);

// A judgement queries Prometheus and scores; removing the baseline is one delete.
export const judging = proxyActivities<CanaryJudgeActivities>({
  startToCloseTimeout: '1 minute',
  ...WORKER_LIVENESS,
  retry: {
    initialInterval: '1 second',
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: PERMANENT_FAILURES,
  },
});

export const analyses = proxyActivities<AnalysisActivities>({
  startToCloseTimeout: '1 minute',
  ...WORKER_LIVENESS,
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: PERMANENT_FAILURES,
  },
});

// An A/B experiment's counts: a look Prometheus cannot answer after a few tries is skipped, and the
// next look counts from the experiment's start again, so nothing is lost but time.
export const experiments = proxyActivities<ExperimentActivities>({
  startToCloseTimeout: '1 minute',
  ...WORKER_LIVENESS,
  retry: {
    initialInterval: '1 second',
    maximumInterval: '5 seconds',
    maximumAttempts: 3,
    nonRetryableErrorTypes: PERMANENT_FAILURES,
  },
});

// The activity retries the sink itself for a bounded time and reports a loss instead of failing;
// Temporal only retries it after a worker crash, and the event id stays the same.
export const announcements = proxyActivities<CDEventsActivities>({
  startToCloseTimeout: '10 minutes',
  // An attempt lasts at most 5 s and the activity beats between attempts; a dead worker's emission
  // is soon taken over, since the rollout's last word waits for it.
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 10 },
});

// Waiting for the revision before to stand down takes as long as its return to stable.
export const handoff = proxyActivities<WorkflowHandoffActivities>({
  startToCloseTimeout: '1 day',
  heartbeatTimeout: '20 seconds',
});

// One activity per call of a webhook: the receiver's answer, good or bad, is its result, so a retry
// happens only when a worker died mid-call. Each call sets its own timeout from the webhook's.
export const webhookCalls = proxyActivities<WebhookActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumAttempts: 3 },
});
