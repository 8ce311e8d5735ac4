import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
} from '@temporalio/workflow';
import type { Judgement } from '../../activities/canary-judge-activities';
import { FailureType } from '../../reasons/rollout-reasons';
import type { AnalysisRunStatus, CanaryJudge } from '../../schemas/analysis';
import { parseDuration } from '../../schemas/duration';
import { baselines, cluster } from '../rollout-core/activity-options';
import { failureMessage } from '../rollout-core/failures';
import type { Gates } from '../rollout-core/gates';
import type { RolloutLog } from '../rollout-core/rollout-log';
import { BASELINE_TRAFFIC_SHARE } from '../rollout-core/patches';
import type { RolloutRun } from '../rollout-core/rollout-run';
import type { CanaryRolloutInput } from '../rollout-api';
import { judgeOnce, judgementMessage, judgeStatus, removeBaselineParts } from './canary-baseline';
import { routedBy } from './canary-replica-weights';

export interface JudgedStep {
  run: RolloutRun<CanaryRolloutInput>;
  gates: Gates;
  rolloutLog: RolloutLog;
  judge: CanaryJudge;
  /** Where the judge is in the Rollout: `spec.strategy.canary.steps[3].analysis.judge`. */
  field: string;
  /** The canary's pods now: the baseline gets as many. */
  canaryPods: number;
}

/**
 * A step that judges the canary against a baseline, as Kayenta does: as many pods of the stable
 * revision as the canary has, started fresh beside it (so neither has run longer, nor warmed up more),
 * then every interval each metric's values of the two compared and scored (analysis/statistics/
 * canary-judge.ts). A Failed judgement rolls back as a failed analysis does; the last judgement
 * decides: Successful goes on, Inconclusive holds the rollout for a person to promote or abort. The
 * baseline goes when the step ends, however it ends.
 *
 * The method needs the baseline's pods to get the canary's share of traffic. Through a Gateway API
 * route (with the patch) they get it from a backend of their own, the Service `<rollout>-baseline`,
 * weighted as the canary (http-route-baseline.ts); their own pod-template-hash keeps the stable Service
 * from sending them the stable's share too. Without a router one Service sends every pod an equal
 * share, the baseline's as much as the canary's.
 */
export async function judgeAgainstBaseline(step: JudgedStep): Promise<void> {
  const { run, gates, rolloutLog, judge, field, canaryPods } = step;
  const { rollout, revision, templateHash, state } = run;
  const stableHash = state.stableTemplateHash;
  if (!stableHash || stableHash === templateHash || canaryPods <= 0) {
    throw ApplicationFailure.nonRetryable(
      `${field}: the canary has no pods to judge against a baseline: put a setWeight step with a weight above 0 before it`,
      FailureType.AnalysisFailed,
    );
  }
  const stepIndex = state.currentStepIndex;
  const stepName = `step ${stepIndex + 1} judge`;
  const intervalMilliseconds = parseDuration(judge.interval) ?? 30_000;
  const names = judge.metrics.map((metric) => metric.name).join(', ');
  let baselineName = '';
  let last: AnalysisRunStatus | undefined;
  const routing = routedBy(run.input.canary);
  /** The baseline's share comes from a backend of its own on the Gateway API routes. */
  const ownShare = routing.trafficRouting.gatewayAPI !== undefined && patched(BASELINE_TRAFFIC_SHARE);
  let backendAdded = false;
  let ended = false;

  const statusOf = (
    phase: AnalysisRunStatus['phase'],
    message: string,
    judgement?: { number: number; result: Judgement },
  ): AnalysisRunStatus => ({
    revision,
    stepIndex,
    phase,
    message,
    metrics: [],
    ...(judgement
      ? { judge: judgeStatus(judgement.number, judge.count, baselineName, judgement.result) }
      : {}),
  });
  const writeStatus = async (status: AnalysisRunStatus, summary: string) => {
    last = status;
    await cluster.writeRolloutStatus
      .executeWithOptions({ summary }, [{ rollout, revision, status: { analysis: { step: status } } }])
      .catch((error: unknown) => {
        if (isCancellation(error)) throw error;
        log.warn('could not write the judge status', { rollout: rollout.name, error: failureMessage(error) });
      });
  };
  const say = (message: string) => {
    state.message = `${run.currentStep()}: ${message}`;
    rolloutLog.showDetails();
    rolloutLog.publishStatus();
  };

  try {
    say(`starting ${canaryPods} baseline pods of the stable revision (${stableHash}) beside the canary`);
    const baseline = await baselines.ensureBaseline.executeWithOptions(
      { summary: `start ${canaryPods} baseline pods of stable ${stableHash}` },
      [
        {
          rollout,
          stableHash,
          replicas: canaryPods,
          deadlineSeconds: run.input.progressDeadlineSeconds,
          ...(ownShare ? { ownHash: true } : {}),
        },
      ],
    );
    baselineName = baseline.name;
    if (ownShare) {
      // Set before the call: a cancelled or failed attempt may have added it all the same.
      backendAdded = true;
      say(`giving baseline ${baselineName} the canary's share of traffic, taken from the stable's`);
      await baselines.ensureBaselineBackend.executeWithOptions(
        { summary: `route the canary's share to baseline ${baselineName}` },
        [
          {
            rollout,
            stableHash,
            replicas: canaryPods,
            deadlineSeconds: run.input.progressDeadlineSeconds,
            routing,
          },
        ],
      );
    }
    await writeStatus(
      statusOf('Running', `judging ${names} against ${baselineName}`),
      `${stepName}: baseline ${baselineName} Ready`,
    );
    for (let number = 1; number <= judge.count; number++) {
      say(
        `judging the canary against baseline ${baselineName}: judgement ${number}/${judge.count} in ${judge.interval}`,
      );
      await condition(() => gates.promotion?.full === true, intervalMilliseconds, {
        summary: `judgement ${number}/${judge.count} in ${judge.interval}`,
      });
      if (gates.promotion?.full) return;
      const result = await judgeOnce(
        { rollout, judge, field, stableHash, canaryHash: templateHash, ownShare },
        `judge ${number}/${judge.count}: ${names} of canary vs baseline`,
      );
      const message = judgementMessage(number, judge.count, result);
      const final = number === judge.count || result.verdict === 'Failed';
      const phase = result.verdict === 'Failed' ? 'Failed' : final ? result.verdict : 'Running';
      const status = statusOf(phase, message, { number, result });
      if (result.verdict === 'Failed') {
        // The rollout writes the failed analysis with its Degraded status, as for any failed analysis.
        last = status;
        rolloutLog.failedAnalysis = { kind: 'step', verdict: status };
        throw ApplicationFailure.nonRetryable(`analysis failed: ${message}`, FailureType.AnalysisFailed);
      }
      await writeStatus(
        status,
        `${stepName} ${number}/${judge.count}: score ${result.score} (${result.verdict})`,
      );
      if (!final) continue;
      if (result.verdict === 'Successful') {
        ended = true;
        say(message);
        return;
      }
      // Inconclusive: held as an inconclusive analysis holds, until a person promotes or aborts.
      const hold = `step analysis inconclusive: ${message}; promote to go on, or abort`;
      gates.holds.set('step', hold);
      state.paused = true;
      rolloutLog.enterPhase('Paused', hold);
      await condition(() => gates.promotion !== undefined);
      gates.holds.delete('step');
      state.paused = gates.pausing;
      if (!gates.promotion?.full) gates.promotion = undefined;
      rolloutLog.enterPhase('Progressing', `${run.currentStep()}: promoted past the judge`);
    }
    ended = true;
  } catch (error) {
    if (isCancellation(error) && last && last.phase === 'Running') {
      const stopped = statusOf('Stopped', `stopped by its rollout before a verdict; ${last.message ?? ''}`);
      await CancellationScope.nonCancellable(() =>
        writeStatus({ ...last, ...stopped }, `${stepName} stopped`),
      );
    }
    throw error;
  } finally {
    // However the step ends (passed, failed, aborted, superseded), the baseline goes with it.
    await CancellationScope.nonCancellable(() =>
      removeBaselineParts({
        rollout,
        stableHash,
        routing,
        name: baselineName,
        backendAdded,
        drain: ended,
      }),
    );
  }
}
