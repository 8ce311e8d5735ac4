import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { FleetReleaseSpec } from '../schemas/fleet-release';
import type { RolloutPhase, TrafficWeights } from '../schemas/rollout';

/**
 * What the fleet workflow takes, answers and accepts: the CLI (`siirto fleet ...`), the workers and the
 * tests import this module. Nothing here is a secret: the release file carries images and a template
 * patch, and the templates themselves stay in each cluster.
 */

/**
 * The queue the fleet workflows run on, unless SIIRTO_FLEET_TASK_QUEUE names another; every worker with
 * a SIIRTO_CLUSTER_ID polls it. Two fleets sharing one Temporal namespace (staging's clusters and
 * production's) keep apart by giving each its own.
 */
export const FLEET_TASK_QUEUE = 'siirto-fleet';

/**
 * The queue of one cluster's fleet activities, named after the fleet's queue: only that cluster's
 * workers of that fleet poll it. A release reads its fleet's queue from its own run.
 */
export function fleetClusterTaskQueue(clusterId: string, fleetTaskQueue = FLEET_TASK_QUEUE): string {
  return `${fleetTaskQueue}-${clusterId}`;
}

/** One release of an app at a time: Temporal refuses a second start of this ID while one runs. */
export function fleetWorkflowId(app: string): string {
  return `fleet/${app}`;
}

export interface FleetReleaseInput {
  /** The release's name (metadata.name of its file). */
  release: string;
  spec: FleetReleaseSpec;
  /** Who applied it, for the log. */
  by?: string;
  /**
   * The longest time between a follower's heartbeats, in milliseconds (it watches its Rollout, so it
   * sees the end at once); a follower silent four times this long is taken over by another worker.
   */
  followIntervalMilliseconds?: number;
}

/** One Rollout of the release, in one cluster. */
export interface RolloutAddress {
  cluster: string;
  namespace: string;
  name: string;
}

/**
 * Where a Rollout of the release stands: Waiting (its wave has not reached it), Applying (the change
 * is being written to it), Progressing (its new revision runs), then Healthy, Unchanged (it had the
 * change already), Degraded, Aborted (the release aborted its revision), RolledBack (its previous
 * template is back) or Skipped (the release ended before it).
 */
export type FleetTargetPhase =
  | 'Waiting'
  | 'Applying'
  | 'Progressing'
  | 'Healthy'
  | 'Unchanged'
  | 'Degraded'
  | 'Aborted'
  | 'RollingBack'
  | 'RolledBack'
  | 'Skipped';

export interface FleetTargetState extends RolloutAddress {
  wave: number;
  phase: FleetTargetPhase;
  /** The pod-template hash the change gives it, and the one it had before. */
  templateHash?: string;
  previousTemplateHash?: string;
  revision?: number;
  /** The Rollout's own workflow for the new revision, as its status names it. */
  workflowId?: string;
  /** The Rollout's phase, step and weights as last reported (live ones come from its follower). */
  rolloutPhase?: RolloutPhase;
  step?: string;
  weights?: TrafficWeights;
  message?: string;
}

export type WaveStage = 'Pending' | 'Running' | 'Gating' | 'Done' | 'Stopped';

export interface WaveState {
  name: string;
  maxParallel: number;
  stage: WaveStage;
  /** The gate it is at, as people read it: `soak 10m until 12:40Z`, `approval`, `analysis`. */
  gate?: string;
  approved?: boolean;
  /** Who opened its approval gate: `siirto fleet approve`'s user, or the annotation and its Rollout. */
  approvedBy?: string;
}

export type FleetPhase = 'Running' | 'Waiting' | 'Healthy' | 'Aborting' | 'Aborted' | 'Degraded';

export interface FleetReleaseState {
  release: string;
  app: string;
  phase: FleetPhase;
  /** Index of the wave under way or gating; waves.length once all are done. */
  currentWave: number;
  waves: WaveState[];
  targets: FleetTargetState[];
  /** What the release waits for, when it waits: a window, an approval, a cluster. */
  waiting?: string;
  message: string;
}

/** The heartbeat of a followed Rollout: what `siirto fleet status` shows live. */
export interface FollowedRollout {
  phase?: RolloutPhase;
  revision?: number;
  step?: string;
  weights?: TrafficWeights;
  workflowId?: string;
  message?: string;
  /** True while the Rollout still runs the revision before the change (the bridge has not started it). */
  awaitingRevision?: boolean;
}

export interface ApproveRequest {
  /** The wave whose gate to open (index); absent: the one waiting. */
  wave?: number;
  by?: string;
  /**
   * The release the approval is meant for (its metadata.name): refused when the app's running release
   * is another, so an approval written for one release never opens a later one's gate.
   */
  release?: string;
}

export interface FleetAbortRequest {
  reason?: string;
  by?: string;
}

export interface FleetPromoteRequest {
  /** Only this cluster's Rollouts; absent: every Rollout of the release in flight. */
  cluster?: string;
  /** Skip every remaining step, not only the current pause. */
  full?: boolean;
  by?: string;
}

export interface FleetPromoteResult {
  /** `cluster/namespace/name` of each Rollout that took the promote. */
  promoted: string[];
  /** Those that refused, with their reason. */
  refused: string[];
}

export const fleetStatusQuery = defineQuery<FleetReleaseState>('fleetStatus');
export const approveUpdate = defineUpdate<FleetReleaseState, [ApproveRequest]>('approve');
export const fleetAbortUpdate = defineUpdate<FleetReleaseState, [FleetAbortRequest]>('abortRelease');
export const fleetPromoteUpdate = defineUpdate<FleetPromoteResult, [FleetPromoteRequest]>('promoteRelease');

/** `cluster/namespace/name`, as the release file and the CLI name a Rollout. */
export function addressText(target: RolloutAddress): string {
  return `${target.cluster}/${target.namespace}/${target.name}`;
}
