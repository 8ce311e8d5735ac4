import { allHandlersFinished, condition, makeContinueAsNewFunc, workflowInfo } from '@temporalio/workflow';
import { workflowSummary } from '../k8s-bridge/workflow-summary';
import type { AnalysisRunStatus } from '../schemas/analysis';
import type { Strategy } from '../schemas/rollout';
import type { AnalysisCarryOver } from './analysis-run';
import type { WebhookCarryOver } from './rollout-core/webhooks';
import type { ExperimentCarryOver } from './strategies/ab-testing-plan';
import type {
  AnalysisKind,
  PendingScaleDown,
  PromoteRequest,
  RolloutInput,
  RolloutState,
} from './rollout-api';

/**
 * A revision's run may wait for days: at a `pause: {}`, or held by an analysis whose data comes and
 * goes, every hold and release adds a signal and a status write to its history. Temporal warns past
 * 10,240 events (or 10 MB) and fails the run at 51,200, so a long run continues as new: a new run
 * under the same workflow ID, started from what the old one carries over, and reached by the same
 * commands, since every client addresses the workflow by ID, never by run. Behind the patch
 * CONTINUE_AS_NEW (rollout-core/patches.ts).
 *
 * Only at a quiet point, where the run waits on nothing but time and commands, and its state says all
 * there is to resume from:
 * - a pause step (`pause: {}` or a timed one: the new run waits until the original deadline);
 * - a hold between steps, while an analysis has too little data to go on;
 * - an A/B experiment between two looks (behind the patch AB_EXPERIMENT_CONTINUE_AS_NEW).
 * Not in the middle of a step: a weight change, a scale-up or a wait for pods has activities in
 * flight whose outcome only that run would hear. Nor while the traffic guard has moved the canary's
 * traffic away from unready pods, nor while a scale-down is being written. A step analysis never
 * holds a run for long (it ends after its count of measurements), nor does the final check of a
 * background analysis (a flapping one succeeds on its next good measurement). A Degraded run waiting
 * for a retry, or a Healthy one keeping the old stable's pods for `scaleDownDelaySeconds`, has no
 * analysis running: nothing adds to its history while it waits.
 */

/**
 * History events after which a run continues as new at its next quiet point. Far below Temporal's
 * warning, since the run may have to finish a step first, and short enough to read in the Web UI.
 */
export const DEFAULT_HISTORY_LIMIT = 2_000;

/** How close to its end a timed wait no longer continues as new (milliseconds). */
export const LAST_MOMENT_TO_CONTINUE = 10_000;

/** The run's history is long enough to continue as new: past the limit, or past Temporal's suggestion. */
export function historyTooLong(limit: number | undefined): boolean {
  const info = workflowInfo();
  return info.historyLength > (limit ?? DEFAULT_HISTORY_LIMIT) || info.continueAsNewSuggested;
}

/** The wait a run continued as new in, which the next run waits in again. */
export type QuietPoint = 'pause' | 'hold' | 'experiment';

/**
 * A background analysis across runs. A child workflow closes with the run that started it (Temporal's
 * default parent close policy), so before continuing as new the rollout asks it to stop and hand over
 * its tallies, and the next run starts a new one (under a new ID) that measures on from them: every
 * failure, inconclusive measurement and error in a row still counts, so the failure limit is never
 * reset by a new run and a promotion never rests on measurements the new analysis did not see.
 * An analysis already done carries its verdict instead.
 */
export type BackgroundCarryOver =
  { carriedOver: AnalysisCarryOver } | { verdict: AnalysisRunStatus } | { judged: JudgeCarryOver };

/**
 * A background judge across runs: its baseline stays (named after the stable revision, so the next
 * run finds it again), and the judgements so far go on being counted.
 */
export interface JudgeCarryOver {
  judgements: number;
}

/** What a run carries over to the next: everything the steps, commands and pauses depend on. */
export interface RolloutContinuation {
  /** Runs of this revision before the next one: 1 after its first continue-as-new. */
  runs: number;
  at: QuietPoint;
  /** Phase, step, weights, stable hash, pause and its deadline (`pauseEndsAt`), message. */
  state: RolloutState;
  /** The canary's pods last asked for. */
  canaryScale?: number;
  /** The traffic share the canary's pods are sized for, which a resize sizes them to again. */
  canaryShare?: number;
  /** A promote that came and has not acted yet. */
  promotion?: PromoteRequest;
  promotedBy?: string;
  /** Analyses holding the rollout, with why. */
  holds: [AnalysisKind, string][];
  pauseMessage: string;
  attempt: number;
  background?: BackgroundCarryOver;
  /** Background analyses handed over so far, so each new one gets an ID of its own. */
  handovers: number;
  /** ReplicaSets still waiting for their delay to scale to 0. */
  scaleDowns: PendingScaleDown[];
  /** CDEvents sent so far: the next run's continue their sequence. */
  announcementCount: number;
  /** Failed calls of the webhooks so far, which still count against their failureLimit. */
  webhooks?: WebhookCarryOver;
  /** An A/B experiment under way: it counts on from where it began, its looks going on. */
  experiment?: ExperimentCarryOver;
}

/**
 * Waits until every signal and update handler has finished and `pending()` (the status writes and
 * CDEvents queued behind the rollout, which a handler may add to) is settled and stays so.
 */
export async function settleBeforeContinuing(pending: () => readonly Promise<unknown>[]): Promise<void> {
  for (;;) {
    const awaited = pending();
    await Promise.all(awaited);
    await condition(allHandlersFinished);
    if (pending().every((promise, index) => promise === awaited[index])) return;
  }
}

/**
 * Continues as new with the same search attributes (the phase as last upserted) and memo, which the
 * bridge and `siirto history` find runs by; never returns.
 */
export function continueRolloutAsNew(input: RolloutInput): Promise<never> {
  const info = workflowInfo();
  return makeContinueAsNewFunc<(input: RolloutInput) => Promise<RolloutState>>({
    typedSearchAttributes: info.typedSearchAttributes,
    memo: info.memo,
  })(input);
}

/**
 * The first line of a continued run's current details in the Web UI. A run that continues as new has
 * no static summary or details (Temporal sets them only on a start), so it says here what it is.
 */
export function continuedRunHeading(input: RolloutInput & Strategy): string | undefined {
  if (!input.continued) return undefined;
  // The input carries the strategy's spec under its key, as spec.strategy does.
  const summary = workflowSummary({ ...input, ...input.rollout });
  return `${summary} — run ${input.continued.runs + 1}, continued as new from the one before (which has the plan)`;
}
