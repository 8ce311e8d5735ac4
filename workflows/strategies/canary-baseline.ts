import { log, sleep } from '@temporalio/workflow';
import type { BaselineRouting } from '../../activities/baseline-service';
import type { Judgement } from '../../activities/canary-judge-activities';
import { baselinePodHash } from '../../analysis/judge-query';
import type { CanaryJudge, JudgeStatus } from '../../schemas/analysis';
import { judging } from '../rollout-core/activity-options';
import { failureMessage } from '../rollout-core/failures';
import type { RolloutRef } from '../rollout-api';

/** What a judgement compares: the canary's pods with the baseline's of a stable revision. */
export interface JudgedPair {
  rollout: RolloutRef;
  judge: CanaryJudge;
  field: string;
  stableHash: string;
  canaryHash: string;
  /** The baseline's pods carry a hash of their own (they have their own backend on the route). */
  ownShare: boolean;
}

/** One judgement of the canary against its baseline over the last interval, as the activity gives it. */
export function judgeOnce(pair: JudgedPair, summary: string): Promise<Judgement> {
  const { rollout, judge, field, stableHash, canaryHash, ownShare } = pair;
  return judging.judgeInterval.executeWithOptions({ summary }, [
    {
      rollout,
      judge,
      field,
      scope: {
        namespace: rollout.namespace,
        stableHash,
        canaryHash,
        ...(ownShare ? { baselineHash: baselinePodHash(stableHash) } : {}),
      },
    },
  ]);
}

/**
 * How long the baseline's pods keep serving after its backend is taken off the route, when a judge
 * ends with a verdict: a gateway applies a route's change a little after it is written. An abort or a
 * failed judgement moves the traffic at once instead.
 */
const BASELINE_DRAIN_MILLISECONDS = 3_000;

/**
 * The baseline goes, whoever judged against it (a step's judge or the background one): its backend
 * first, its weight back to the stable, then its Service and pods. Never throws; call it in a
 * non-cancellable scope. A backend that could not be taken off leaves the pods behind it serving: the
 * rollout's end takes the backend off (cleanUp).
 */
export async function removeBaselineParts(baseline: {
  rollout: RolloutRef;
  stableHash: string;
  routing: BaselineRouting;
  name: string;
  /** The backend may be on the routes: a call to add it was made. */
  backendAdded: boolean;
  /** Ended with a verdict: the gateway gets a moment to stop sending to the pods before they go. */
  drain: boolean;
}): Promise<void> {
  const { rollout, stableHash, routing, name, backendAdded, drain } = baseline;
  if (backendAdded) {
    const removed = await judging.removeBaselineBackend
      .executeWithOptions({ summary: `route baseline ${name}'s share back to stable` }, [
        { rollout, routing },
      ])
      .then(
        () => true,
        (error: unknown) => {
          log.warn('could not remove the baseline backend', {
            rollout: rollout.name,
            error: failureMessage(error),
          });
          return false;
        },
      );
    if (!removed) return;
    if (drain) await sleep(BASELINE_DRAIN_MILLISECONDS, { summary: `drain baseline ${name}` });
  }
  await judging.removeBaseline
    .executeWithOptions({ summary: `remove baseline of stable ${stableHash}` }, [{ rollout, stableHash }])
    .catch((error: unknown) =>
      log.warn('could not remove the baseline', { rollout: rollout.name, error: failureMessage(error) }),
    );
}

/** A judgement as the Rollout's status shows it. */
export function judgeStatus(number: number, count: number, baseline: string, result: Judgement): JudgeStatus {
  return {
    judgement: number,
    count,
    score: result.score,
    verdict: result.verdict,
    baseline,
    ...(result.criticalFailure ? { criticalFailure: result.criticalFailure } : {}),
    metrics: result.metrics.map((metric) => ({
      name: metric.name,
      classification: metric.classification,
      failed: metric.failed,
      critical: metric.critical,
      reason: metric.reason,
    })),
  };
}

/** `judgement 1/1: score 0 (Failed): latency High — canary median …`, as the status and history say it. */
export function judgementMessage(number: number, count: number | undefined, result: Judgement): string {
  const metrics = result.metrics
    .map(
      (metric) =>
        `${metric.name} ${metric.classification}${metric.failed ? ' (failed)' : ''}: ${metric.reason}`,
    )
    .join('; ');
  const critical = result.criticalFailure ? `, critical metric ${result.criticalFailure} failed` : '';
  const which = count === undefined ? `${number}` : `${number}/${count}`;
  return `judgement ${which}: score ${result.score} (${result.verdict}${critical}); ${metrics}`;
}
