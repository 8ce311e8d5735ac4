import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  AbTestingStrategy,
  BlueGreenStrategy,
  CanaryStrategy,
  ExperimentStatus,
  RolloutPhase,
  TrafficWeights,
} from '../schemas/rollout';
import type { RolloutContinuation } from './continue-as-new';

/**
 * What a rollout workflow takes, answers and accepts. Clients (the bridge, the CLI, tests) import
 * this module; it carries no secrets: the pod template stays in the cluster and activities read it.
 */

/** The Rollout a workflow acts for; the uid guards against a deleted and recreated namesake. */
export interface RolloutRef {
  namespace: string;
  name: string;
  uid: string;
}

/** What a rollout workflow takes whatever its strategy; each strategy's input adds its own spec. */
export interface RolloutInput {
  rollout: RolloutRef;
  revision: number;
  /** Pod-template hash of the revision being rolled out. */
  templateHash: string;
  /** Pod-template hash of the revision serving now; absent for an app's first rollout. */
  stableTemplateHash?: string;
  replicas: number;
  progressDeadlineSeconds: number;
  /** Workflow of the previous revision, told to stand down; this one waits for it to close first. */
  supersedes?: string;
  /** The revision's container images, first the main one: CDEvents name the artifact by them. */
  images?: string[];
  /** History events after which an analysis continues as new; lowered in tests. */
  analysisHistoryLimit?: number;
  /** History events after which the rollout continues as new at its next quiet point; lowered in tests. */
  historyLimit?: number;
  /** Where the run before this one stopped, when the rollout continued as new (continue-as-new.ts). */
  continued?: RolloutContinuation;
}

export interface CanaryRolloutInput extends RolloutInput {
  canary: CanaryStrategy;
}

export interface BlueGreenRolloutInput extends RolloutInput {
  blueGreen: BlueGreenStrategy;
}

export interface AbTestingRolloutInput extends RolloutInput {
  abTesting: AbTestingStrategy;
}

export interface RolloutState {
  phase: RolloutPhase;
  revision: number;
  templateHash: string;
  stableTemplateHash?: string;
  /** Index into the steps; equal to stepCount once every step has run. */
  currentStepIndex: number;
  stepCount: number;
  weights: TrafficWeights;
  /** Blue-green: the revision each Service selects (pod-template hashes). */
  blueGreen?: { activeSelector?: string; previewSelector?: string };
  /** A/B testing: the counts, the estimate of B's rate minus A's, its interval, and the verdict. */
  experiment?: ExperimentStatus;
  /** True while a pause is waiting, so a promote has something to act on. */
  paused: boolean;
  /** When a timed pause ends unless promoted first (ISO 8601); absent outside timed pauses. */
  pauseEndsAt?: string;
  message: string;
  /**
   * ReplicaSets this run leaves to the revision that supersedes it, to scale to 0 once their time is up:
   * pods that traffic left too recently for every gateway to have stopped sending to them.
   */
  scaleDowns?: PendingScaleDown[];
  /**
   * True once the run touches the cluster no more, though it may still be delivering CDEvents: a
   * revision that supersedes it may begin.
   */
  finishedWithCluster?: boolean;
}

export interface PendingScaleDown {
  templateHash: string;
  /** When the ReplicaSet may be scaled to 0 (ISO 8601, workflow time). */
  notBefore: string;
}

export interface PromoteRequest {
  /** Skip every remaining step instead of only the current pause. */
  full?: boolean;
  /** Who asked, for the history and Kubernetes Events: a user name, `kubectl annotation`, `cli`. */
  by?: string;
}

export interface AbortRequest {
  reason?: string;
  by?: string;
}

export interface RetryRequest {
  by?: string;
}

/** A canary weight set from outside, during a step with `pause: { external: true }`. */
export interface SetWeightRequest {
  /** The canary's share of traffic, 0 to 100. */
  weight: number;
  by?: string;
}

/** A person's verdict on an A/B experiment, in place of the statistics'. */
export interface ConcludeRequest {
  /** B: promote the new revision; A: keep the stable one and remove B. */
  winner: 'A' | 'B';
  by?: string;
}

export interface ResizeRequest {
  /** The Rollout's spec.replicas: what the stable revision runs at, and the canary's share is of. */
  replicas: number;
}

export interface StandDownRequest {
  /** The workflow of the revision that takes over, for the history. */
  successor: string;
}

export interface SupersedeRequest {
  /** The revision that replaces this one. */
  revision: number;
}

/** A step analysis gates its step; a background analysis runs beside the steps. */
export type AnalysisKind = 'step' | 'background';

export interface AnalysisHold {
  kind: AnalysisKind;
  /** True while too many measurements are inconclusive; false once one succeeds again. */
  held: boolean;
  message: string;
}

export const promoteSignal = defineSignal<[PromoteRequest?]>('promote');
export const abortSignal = defineSignal<[AbortRequest?]>('abort');
export const retrySignal = defineSignal<[RetryRequest?]>('retry');
/** From the bridge when a newer revision arrives: hand traffic back to stable, scale down, and end. */
export const supersedeSignal = defineSignal<[SupersedeRequest]>('supersede');
/** From the bridge when spec.replicas changes (kubectl scale, an autoscaler): size the pods to it. */
export const resizeSignal = defineSignal<[ResizeRequest]>('resize');
/** From an analysis to its rollout: hold the steps (inconclusive data) or let them go on. */
export const analysisHoldSignal = defineSignal<[AnalysisHold]>('analysisHold');
/** From a rollout to its background analysis once the steps are done: come to a verdict. */
export const concludeAnalysisSignal = defineSignal('concludeAnalysis');
/**
 * From a rollout about to continue as new to its background analysis: stop measuring and return the
 * tallies so far, for the rollout's next run to measure on from them.
 */
export const handOverAnalysisSignal = defineSignal('handOverAnalysis');

/** The same commands as Updates: the caller learns at once whether the rollout accepted them. */
export const promoteUpdate = defineUpdate<RolloutState, [PromoteRequest]>('promote');
export const abortUpdate = defineUpdate<RolloutState, [AbortRequest]>('abort');
export const retryUpdate = defineUpdate<RolloutState, [RetryRequest]>('retry');
/**
 * Sets the canary's weight during an external step; answers once the weight is on the route (the
 * canary's pods Ready first), and is refused at any other step.
 */
export const setWeightUpdate = defineUpdate<RolloutState, [SetWeightRequest]>('setWeight');

/** An A/B experiment ends with the winner a person names: B promoted, or A kept. */
export const concludeSignal = defineSignal<[ConcludeRequest]>('conclude');
export const concludeUpdate = defineUpdate<RolloutState, [ConcludeRequest]>('conclude');

/**
 * From the run of the revision that supersedes this one, as it starts: answers once this run, told to
 * stand down, touches the cluster no more, with what it left (the stable it served, its pending
 * scale-downs), so the new revision goes on at that moment rather than at its next look.
 */
export const standDownUpdate = defineUpdate<RolloutState, [StandDownRequest]>('standDown');

export const statusQuery = defineQuery<RolloutState>('status');

/**
 * Readable and deterministic: a restart, a resync or a second bridge arrives at the same ID. A cluster
 * ID (SIIRTO_CLUSTER_ID) comes first, so clusters sharing a Temporal namespace never share an ID.
 */
export function rolloutWorkflowId(
  namespace: string,
  name: string,
  revision: number,
  clusterId?: string,
): string {
  return `${clusterId ? `${clusterId}/` : ''}${namespace}/${name}/r${revision}`;
}

export const ROLLOUT_TASK_QUEUE = 'siirto-rollouts';
