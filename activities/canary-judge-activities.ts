import type { JudgeResult } from '../analysis/statistics/canary-judge';
import type { JudgeScope } from '../analysis/judge-query';
import type { CanaryJudge } from '../schemas/analysis';
import type { RolloutRef } from '../workflows/rollout-api';
import type { BaselineRouting } from './baseline-service';
import type { ReplicaSetSummary } from './rollout-activities';

/** The baseline ReplicaSet as it stands: its name and pods. */
export type BaselineSummary = ReplicaSetSummary;

/** One judgement of the canary against the baseline, as the history and the Rollout status show it. */
export interface Judgement extends JudgeResult {
  /** The end of the interval judged (ISO 8601), and its start. */
  from: string;
  to: string;
  /** Samples per metric and role, so a judgement on too little data shows why. */
  samples: { name: string; baseline: number; canary: number }[];
}

/**
 * The side effects of judging a canary against a baseline (Kayenta's method): the baseline's pods of
 * the stable revision, started and removed, and each interval's measurements judged.
 */
export interface CanaryJudgeActivities {
  /**
   * Creates (or scales) the baseline ReplicaSet `<rollout>-baseline-<stableHash>` from the stable
   * ReplicaSet's pod template, its pods labelled siirto.dev/role=baseline and owned by the Rollout, and
   * waits until `replicas` of them are available or `deadlineSeconds` passes. Idempotent.
   */
  ensureBaseline(input: {
    rollout: RolloutRef;
    stableHash: string;
    replicas: number;
    deadlineSeconds: number;
    /**
     * The pods get a pod-template-hash of their own (`<stableHash>-baseline`), so the stable Service
     * does not select them: for a route to give them a share of their own (`ensureBaselineBackend`).
     */
    ownHash?: boolean;
  }): Promise<BaselineSummary>;

  /**
   * Gives the baseline (started with `ownHash`) the canary's share on the Gateway API routes: creates
   * the Service `<rollout>-baseline` (owned by the Rollout, the stable Service's ports, selecting the
   * baseline's pods alone), waits until it lists `replicas` Ready pods, then adds it as a backendRef in
   * every rule that splits between the stable and canary Services, at the canary's weight, the stable's
   * weight less as much. Idempotent.
   */
  ensureBaselineBackend(input: {
    rollout: RolloutRef;
    stableHash: string;
    replicas: number;
    deadlineSeconds: number;
    routing: BaselineRouting;
  }): Promise<void>;

  /**
   * Takes the baseline's backendRefs off the routes, their weight back to the stable's; idempotent. Its
   * Service goes with the baseline (`removeBaseline`), once the gateway has stopped sending to it.
   */
  removeBaselineBackend(input: { rollout: RolloutRef; routing: BaselineRouting }): Promise<void>;

  /**
   * Deletes the baseline's Service `<rollout>-baseline` if it has one, then the baseline ReplicaSet and
   * its pods; nothing to do when they are gone already.
   */
  removeBaseline(input: { rollout: RolloutRef; stableHash: string }): Promise<void>;

  /**
   * Queries each metric for the baseline's pods and the canary's over the last interval (a range
   * query at the judge's step) and judges the canary with `judgeCanary`. A query Prometheus cannot
   * parse fails non-retryably with type InvalidConfiguration; an unreachable Prometheus is retried.
   */
  judgeInterval(input: {
    rollout: RolloutRef;
    judge: CanaryJudge;
    scope: JudgeScope;
    /** Where the judge is in the Rollout, for messages. */
    field: string;
  }): Promise<Judgement>;
}
