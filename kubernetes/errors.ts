import { ApiException } from '@kubernetes/client-node';

/** The HTTP status of a failed Kubernetes API call, or undefined when the call never got an answer. */
export function apiStatus(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

export const isNotFound = (error: unknown): boolean => apiStatus(error) === 404;
export const isConflict = (error: unknown): boolean => apiStatus(error) === 409;

/** Statuses worth retrying: conflicts, throttling, timeouts and server errors; or no answer at all. */
export function isTransient(error: unknown): boolean {
  const status = apiStatus(error);
  return status === undefined || status === 409 || status === 429 || status === 408 || status >= 500;
}

/** The apiserver's own message for a failed call, which names the field and the rule it broke. */
export function apiMessage(error: unknown): string {
  if (error instanceof ApiException) {
    const body: unknown = typeof error.body === 'string' ? safeJson(error.body) : error.body;
    if (body && typeof body === 'object' && 'message' in body) return String(body.message);
    return `HTTP ${error.code}`;
  }
  return error instanceof Error ? error.message : String(error);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
