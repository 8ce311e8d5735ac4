import { RETRY_ANNOTATION } from '../kubernetes/labels';
import type { RolloutCondition, RolloutPhase, RolloutStatus } from '../schemas/rollout';
import { findCondition, withCondition } from './rollout-status';

/**
 * Runs that closed without a verdict. A revision's run ends with a verdict (Healthy, or Degraded after
 * an abort) and writes it into the Rollout. One terminated by an operator, or closed by a defect
 * (Failed, TimedOut, Cancelled), leaves the Rollout at Progressing or Paused; and once Temporal's
 * retention forgets its workflow ID, starting the revision "again" would run its steps from the first
 * one, days later. So a revision's run is started by the bridge once, and after that only by a retry.
 *
 * What tells a run that was never started (the bridge recorded the revision and stopped before the
 * start) from one Temporal has forgotten is the WorkflowStarted condition, which the bridge owns:
 * Unknown while a start is due, True once Temporal has the run. A status that names a workflow
 * without it (written by hand, or by a Siirto from before this condition) is taken as started.
 */

/** The condition that says whether the current revision's run was started. */
export const WORKFLOW_STARTED_CONDITION = 'WorkflowStarted';
/** The workflow's own condition; the bridge writes it only for a run that can no longer write it. */
export const PROGRESSING_CONDITION = 'Progressing';
/** Reason of the Progressing condition and of the Warning Event for a run that ended without a verdict. */
export const ENDED_WITHOUT_VERDICT = 'EndedWithoutVerdict';

const START_DUE = 'StartDue';
const STARTED = 'Started';

/** What Temporal says of a revision's run. */
export type RunOutcome =
  | { kind: 'running' }
  | { kind: 'completed'; phase: RolloutPhase; message: string; startTime: Date }
  | { kind: 'ended'; how: string; startTime: Date }
  | { kind: 'unknown' };

/** What the bridge does about the current revision's run. */
export type RunDecision =
  | { action: 'keep' }
  | { action: 'markStarted' }
  /** `again`: a closed run has the ID, so the start must be allowed to reuse it. */
  | { action: 'start'; again: boolean }
  | { action: 'verdict'; phase: RolloutPhase; message: string }
  | { action: 'endedWithoutVerdict'; how: string };

const ACTIVE: readonly RolloutPhase[] = ['Pending', 'Progressing', 'Paused'];

/** The condition recorded with a revision, or with a retry, before its run is started. */
export function startDue(workflowId: string, why: string): Omit<RolloutCondition, 'lastTransitionTime'> {
  return {
    type: WORKFLOW_STARTED_CONDITION,
    status: 'Unknown',
    reason: START_DUE,
    message: `${workflowId} is to be started (${why})`,
  };
}

/** The condition once Temporal has the run. */
export function started(workflowId: string): Omit<RolloutCondition, 'lastTransitionTime'> {
  return {
    type: WORKFLOW_STARTED_CONDITION,
    status: 'True',
    reason: STARTED,
    message: `${workflowId} started`,
  };
}

/** Whether a condition speaks of this workflow: its message begins with the ID. */
function about(condition: RolloutCondition | undefined, workflowId: string): boolean {
  return condition?.message?.split(' ')[0] === workflowId;
}

/**
 * Decides from Temporal's word and the WorkflowStarted condition. A start is due only while the
 * condition says so for this workflow, and only if no run began after it was written: a run that
 * began after it is the one the start was for, whatever became of it.
 */
export function decideRun(
  outcome: RunOutcome,
  condition: RolloutCondition | undefined,
  workflowId: string,
  /** The template the Rollout runs is already the stable one. */
  stableIsCurrent: boolean,
): RunDecision {
  const due = about(condition, workflowId) && condition?.reason === START_DUE;
  const dueSince = due && condition?.lastTransitionTime ? Date.parse(condition.lastTransitionTime) : 0;
  switch (outcome.kind) {
    case 'running':
      return about(condition, workflowId) && condition?.reason === STARTED
        ? { action: 'keep' }
        : { action: 'markStarted' };
    case 'completed':
      // A verdict whose own status write was lost: say it, unless the run stood down without one.
      return ACTIVE.includes(outcome.phase)
        ? { action: 'endedWithoutVerdict', how: `completed with "${outcome.message}"` }
        : { action: 'verdict', phase: outcome.phase, message: outcome.message };
    case 'ended':
      return due && outcome.startTime.getTime() < dueSince
        ? { action: 'start', again: true }
        : { action: 'endedWithoutVerdict', how: outcome.how };
    case 'unknown':
      if (due) return { action: 'start', again: false };
      if (stableIsCurrent)
        return { action: 'verdict', phase: 'Healthy', message: `${workflowId} made it stable` };
      return {
        action: 'endedWithoutVerdict',
        how: "Temporal no longer knows it: its history is past the namespace's retention, or was deleted",
      };
  }
}

/** The user's way back: one command, or one annotation for those with only kubectl. */
export function endedWithoutVerdictMessage(workflowId: string, rolloutName: string, how: string): string {
  return (
    `the workflow ${workflowId} ended without a verdict (${how}); \`siirto retry ${rolloutName}\` ` +
    `(or \`kubectl annotate rollouts.siirto.dev ${rolloutName} ${RETRY_ANNOTATION}=true\`) to run it again`
  );
}

/** The status of a Rollout whose run ended without a verdict: Degraded, with the way back. */
export function endedWithoutVerdictStatus(
  status: RolloutStatus,
  message: string,
): Pick<RolloutStatus, 'phase' | 'message' | 'conditions'> {
  return {
    phase: 'Degraded',
    message,
    conditions: withCondition(status.conditions, {
      type: PROGRESSING_CONDITION,
      status: 'False',
      reason: ENDED_WITHOUT_VERDICT,
      message,
    }),
  };
}

/** Whether the Rollout is Degraded because its run ended without a verdict, so a retry starts it anew. */
export function endedWithoutVerdict(status: RolloutStatus | undefined): boolean {
  return (
    status?.phase === 'Degraded' &&
    findCondition(status.conditions, PROGRESSING_CONDITION)?.reason === ENDED_WITHOUT_VERDICT
  );
}
