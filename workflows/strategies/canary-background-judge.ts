import { CancellationScope, condition, isCancellation, log, patched } from '@temporalio/workflow';
import type { AnalysisRunStatus, CanaryJudge } from '../../schemas/analysis';
import { parseDuration } from '../../schemas/duration';
import type { JudgeCarryOver } from '../continue-as-new';
import type { CanaryRolloutInput } from '../rollout-api';
import { baselines, cluster } from '../rollout-core/activity-options';
import type { RunningAnalysis } from '../rollout-core/analyses';
import { failureMessage } from '../rollout-core/failures';
import type { Gates } from '../rollout-core/gates';
import { BASELINE_TRAFFIC_SHARE } from '../rollout-core/patches';
import type { RolloutRun } from '../rollout-core/rollout-run';
import { judgeOnce, judgementMessage, judgeStatus, removeBaselineParts } from './canary-baseline';
import { routedBy } from './canary-replica-weights';

export interface BackgroundJudgeInput {
  run: RolloutRun<CanaryRolloutInput>;
  gates: Gates;
  judge: CanaryJudge;
  /** Where the judge is in the Rollout: `spec.strategy.canary.analysis.judge`. */
  field: string;
  /** The canary's pods now: the baseline is sized to as many before each judgement. */
  canaryPods: () => number;
  /** Judgements the run before made, when it handed the judge over. */
  resumed?: JudgeCarryOver;
  /** The clean-up of a judge stopped before (a promote past its hold): its baseline has the same name. */
  after?: Promise<void>;
}

/** A background judge: an analysis, and the clean-up of its baseline, which the rollout waits for. */
export interface BackgroundJudge extends RunningAnalysis {
  /** Settles once the baseline is gone (or kept for the next run, at a hand-over). */
  cleanedUp: Promise<void>;
}

/**
 * The canary judged against a baseline beside the steps, from the background analysis's starting step
 * to promotion (Kayenta's method, as a step's judge: canary-judge-step.ts). Once the canary has pods,
 * as many pods of the stable revision start beside it, with their own backend on a Gateway API route
 * at the canary's weight; every interval the baseline is sized to the canary's pods again and the
 * canary judged against it. Failed aborts the rollout as a failed background analysis does;
 * Inconclusive holds the rollout as a background analysis on too little data does, until a Successful
 * judgement lets go or a person promotes past it; once the steps are done, the next Successful
 * judgement is the verdict promotion waits for. The baseline goes when the judge stops, however it
 * stops, except at a hand-over to the next run, which finds it again by its name.
 */
export function startBackgroundJudge(input: BackgroundJudgeInput): BackgroundJudge {
  const { run, gates, judge, field, canaryPods } = input;
  const { rollout, revision, templateHash, state } = run;
  const stableHash = state.stableTemplateHash ?? templateHash;
  const intervalMilliseconds = parseDuration(judge.interval) ?? 30_000;
  const names = judge.metrics.map((metric) => metric.name).join(', ');
  const routing = routedBy(run.input.canary);
  const ownShare = routing.trafficRouting.gatewayAPI !== undefined && patched(BASELINE_TRAFFIC_SHARE);
  const scope = new CancellationScope();
  let judgements = input.resumed?.judgements ?? 0;
  let baselineName = '';
  let backendAdded = input.resumed !== undefined && ownShare;
  let concluding = false;
  let handingOver = false;
  let settled = false;
  let succeeded = false;
  /** Ended on a Successful verdict: the gateway gets a moment before the baseline's pods go. */
  let ended = false;
  let last: AnalysisRunStatus | undefined;

  const statusOf = (phase: AnalysisRunStatus['phase'], message: string): AnalysisRunStatus => ({
    revision,
    phase,
    message,
    metrics: [],
    ...(last?.judge ? { judge: last.judge } : {}),
  });
  const writeStatus = async (status: AnalysisRunStatus, summary: string) => {
    last = status;
    await cluster.writeRolloutStatus
      .executeWithOptions({ summary }, [{ rollout, revision, status: { analysis: { background: status } } }])
      .catch((error: unknown) => {
        if (isCancellation(error)) throw error;
        log.warn('could not write the judge status', { rollout: rollout.name, error: failureMessage(error) });
      });
  };
  /** Holds the rollout on an Inconclusive judgement, and lets go on a Successful one. */
  const hold = (held: boolean, message: string) => gates.holdForAnalysis('background', held, message);

  const judgeUntilVerdict = async (): Promise<AnalysisRunStatus> => {
    await input.after;
    await condition(() => canaryPods() > 0);
    let replicas = canaryPods();
    const baseline = await baselines.ensureBaseline.executeWithOptions(
      { summary: `start ${replicas} baseline pods of stable ${stableHash}` },
      [
        {
          rollout,
          stableHash,
          replicas,
          deadlineSeconds: run.input.progressDeadlineSeconds,
          ...(ownShare ? { ownHash: true } : {}),
        },
      ],
    );
    baselineName = baseline.name;
    if (ownShare) {
      // Set before the call: a cancelled or failed attempt may have added it all the same.
      backendAdded = true;
      await baselines.ensureBaselineBackend.executeWithOptions(
        { summary: `route the canary's share to baseline ${baselineName}` },
        [{ rollout, stableHash, replicas, deadlineSeconds: run.input.progressDeadlineSeconds, routing }],
      );
    }
    await writeStatus(
      statusOf('Running', `judging ${names} against ${baselineName} every ${judge.interval}`),
      `background judge: baseline ${baselineName} Ready`,
    );
    for (;;) {
      await condition(() => handingOver, intervalMilliseconds, {
        summary: `background judgement ${judgements + 1} in ${judge.interval}`,
      });
      if (handingOver) return statusOf('Running', 'handed over to the next run');
      if (canaryPods() > 0 && canaryPods() !== replicas) {
        replicas = canaryPods();
        await baselines.ensureBaseline.executeWithOptions(
          { summary: `resize baseline ${baselineName} to ${replicas} pods` },
          [
            {
              rollout,
              stableHash,
              replicas,
              deadlineSeconds: run.input.progressDeadlineSeconds,
              ...(ownShare ? { ownHash: true } : {}),
            },
          ],
        );
      }
      judgements++;
      const result = await judgeOnce(
        { rollout, judge, field, stableHash, canaryHash: templateHash, ownShare },
        `background judgement ${judgements}: ${names} of canary vs baseline`,
      );
      const message = judgementMessage(judgements, undefined, result);
      last = {
        ...statusOf('Running', message),
        judge: judgeStatus(judgements, judgements, baselineName, result),
      };
      if (result.verdict === 'Failed') return { ...last, phase: 'Failed' };
      if (result.verdict === 'Successful' && concluding) {
        hold(false, message);
        ended = true;
        return { ...last, phase: 'Successful' };
      }
      hold(result.verdict === 'Inconclusive', message);
      await writeStatus(
        last,
        `background judgement ${judgements}: score ${result.score} (${result.verdict})`,
      );
    }
  };

  let cleaned: () => void = () => undefined;
  const cleanedUp = new Promise<void>((resolve) => (cleaned = resolve));
  const verdict = scope.run(async () => {
    try {
      return await judgeUntilVerdict();
    } catch (error) {
      if (isCancellation(error) && last?.phase === 'Running' && !handingOver) {
        const stopped = statusOf('Stopped', `stopped by its rollout before a verdict; ${last.message ?? ''}`);
        await CancellationScope.nonCancellable(() => writeStatus(stopped, 'background judge stopped'));
      }
      throw error;
    } finally {
      // However the judge stops (a verdict, an abort, a supersede, the promotion), its baseline goes;
      // handed over to the next run, it stays for that run to judge against.
      if (!handingOver) {
        await CancellationScope.nonCancellable(() =>
          removeBaselineParts({
            rollout,
            stableHash,
            routing,
            name: baselineName || `${rollout.name}-baseline-${stableHash}`,
            backendAdded,
            drain: ended,
          }),
        );
      }
      cleaned();
    }
  });
  verdict.then(
    (outcome) => {
      settled = true;
      succeeded = outcome.phase === 'Successful';
      // A failed one the rollout writes with its Degraded status, as any failed analysis.
      if (outcome.phase === 'Successful') void writeStatus(outcome, `background judge ${outcome.phase}`);
    },
    () => (settled = true),
  );
  return {
    verdict,
    cleanedUp,
    succeeded: () => succeeded,
    conclude: () => {
      concluding = true;
      return Promise.resolve();
    },
    async handOver() {
      if (settled) {
        const outcome = await verdict.catch(() => undefined);
        return outcome && { verdict: outcome };
      }
      handingOver = true;
      scope.cancel();
      await cleanedUp;
      return { judged: { judgements } };
    },
    cancel: () => scope.cancel(),
  };
}
