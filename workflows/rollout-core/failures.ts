import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/workflow';
import { FailureType, PERMANENT_FAILURES } from '../../reasons/rollout-reasons';

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

/**
 * The rejection handler of a route write that gives the canary its weight only if its pods are
 * available: false when they were not (wait for them, then write again); any other failure stands.
 */
export function falseIfCanaryNotAvailable(error: unknown): false {
  if (failureType(error) !== FailureType.CanaryNotAvailable) throw error;
  return false;
}
