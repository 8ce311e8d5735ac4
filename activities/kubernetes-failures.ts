import { ApplicationFailure } from '@temporalio/common';
import { apiMessage, apiStatus, isTransient } from '../kubernetes/errors';
import { FailureType } from '../reasons/rollout-reasons';

export interface FailedRequest {
  /** What was asked of which object, such as `updating HTTPRoute shop/web`. */
  action: string;
  /** What the user can do about it; a default by HTTP status is used when left out. */
  fix?: string;
  /** The ApplicationFailure type the workflow can tell this failure by. */
  type?: string;
}

/**
 * Rethrows a failed Kubernetes call the way Temporal should treat it: transient errors (no answer,
 * conflicts, throttling, server errors) as they are, so the activity is retried with backoff; the
 * rest, which no retry mends, as a non-retryable failure naming the object, the apiserver's reason
 * and the fix.
 */
export function rethrowKubernetesError(error: unknown, request: FailedRequest): never {
  if (isTransient(error)) throw error;
  const status = apiStatus(error);
  const fix = request.fix ?? defaultFix(status);
  throw ApplicationFailure.nonRetryable(
    `${request.action} failed: ${apiMessage(error)}. ${fix}`,
    request.type ?? defaultType(status),
  );
}

function defaultType(status: number | undefined): string {
  if (status === 401 || status === 403) return FailureType.KubernetesForbidden;
  if (status === 404) return FailureType.KubernetesNotFound;
  if (status === 400 || status === 422) return FailureType.KubernetesInvalid;
  return FailureType.KubernetesRequestFailed;
}

function defaultFix(status: number | undefined): string {
  switch (status) {
    case 401:
    case 403:
      return "Grant Siirto's service account this permission (see its ClusterRole), then retry the rollout.";
    case 404:
      return 'Create the object or correct the name the Rollout gives, then retry the rollout.';
    default:
      return 'Correct the field the message names, then retry the rollout.';
  }
}
