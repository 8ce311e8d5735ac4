import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/workflow';
import { PERMANENT_FAILURES } from '../../reasons/rollout-reasons';

/** How a rollout reads the failure behind an activity or child workflow error. */

/** The application failure behind an activity or child workflow error, if one is. */
export function applicationFailureBehind(error: unknown): ApplicationFailure | undefined {
  let failure = error;
  while (failure instanceof ActivityFailure || failure instanceof ChildWorkflowFailure)
    failure = failure.cause;
  return failure instanceof ApplicationFailure ? failure : undefined;
}

/**
 * The non-retryable failure behind an activity or child workflow error: retrying the rollout as it is
 * cannot help.
 */
export function permanentFailure(error: unknown): ApplicationFailure | undefined {
  const failure = applicationFailureBehind(error);
  return failure?.nonRetryable || PERMANENT_FAILURES.includes(failure?.type ?? '') ? failure : undefined;
}

export function failureType(error: unknown): string | undefined {
  return applicationFailureBehind(error)?.type ?? undefined;
}

export function failureMessage(error: unknown): string {
  return permanentFailure(error)?.message ?? (error instanceof Error ? error.message : String(error));
}
