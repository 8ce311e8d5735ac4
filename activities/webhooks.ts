import type { KubeClients } from '../kubernetes/client';
import { apiMessage, apiStatus, isNotFound } from '../kubernetes/errors';
import type { WebhookType } from '../schemas/webhooks';
import type { WebhookAnswer, WebhookPayload } from '../workflows/rollout-core/webhook-payload';
import type { RolloutRef } from '../workflows/rollout-api';

/** One call of a webhook: what the workflow knows of it (never a header's value, only the Secret's name). */
export interface WebhookCall {
  rollout: RolloutRef;
  webhook: {
    name: string;
    type: WebhookType;
    url: string;
    timeoutMs: number;
    /** The Secret in the Rollout's namespace whose keys and values are the request's headers. */
    headersFromSecret?: string;
  };
  payload: WebhookPayload;
}

export interface WebhookActivities {
  /**
   * POSTs the payload to the webhook once and says how it answered. It never throws for the
   * receiver's sake (down, slow, a non-2xx, a Secret missing): that is an answer the workflow judges,
   * and a retry here would be a second call the history does not show. Safe to run again: a webhook
   * is called again the same way after a worker crash, as Flagger calls its hooks again.
   */
  callWebhook(call: WebhookCall): Promise<WebhookAnswer>;
}

/** A header name as HTTP allows it (RFC 9110 token); anything else in a Secret is refused by name. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/**
 * The request's headers from the Secret, read at each call so a rotated token is used at once. Values
 * are never logged or returned: a problem names the Secret and the key only.
 */
async function headersFromSecret(
  kube: KubeClients,
  namespace: string,
  name: string,
): Promise<{ headers: Record<string, string> } | { error: string }> {
  let data: Record<string, string>;
  try {
    const secret = await kube.core.readNamespacedSecret({ name, namespace });
    data = secret.data ?? {};
  } catch (error) {
    if (isNotFound(error)) {
      return { error: `Secret ${namespace}/${name} (headersFrom) not found: create it, or fix its name` };
    }
    const fix =
      apiStatus(error) === 403
        ? ': let the worker read Secrets there (deploy/components/webhook-headers)'
        : '';
    return {
      error: `Secret ${namespace}/${name} (headersFrom) could not be read: ${apiMessage(error)}${fix}`,
    };
  }
  const headers: Record<string, string> = {};
  for (const [key, encoded] of Object.entries(data)) {
    const value = Buffer.from(encoded, 'base64').toString('utf8');
    if (!HEADER_NAME.test(key) || /[\r\n\0]/.test(value)) {
      return {
        error: `Secret ${namespace}/${name} key "${key}" is not a valid header (a name without spaces or colons, a value on one line)`,
      };
    }
    headers[key] = value;
  }
  return { headers };
}

export async function callWebhook(kube: KubeClients, call: WebhookCall): Promise<WebhookAnswer> {
  const started = Date.now();
  const took = () => Date.now() - started;
  const { webhook, rollout } = call;
  let secretHeaders: Record<string, string> = {};
  if (webhook.headersFromSecret) {
    const read = await headersFromSecret(kube, rollout.namespace, webhook.headersFromSecret);
    if ('error' in read) return { ok: false, error: read.error, tookMs: took() };
    secretHeaders = read.headers;
  }
  try {
    const response = await fetch(webhook.url, {
      method: 'POST',
      headers: { ...secretHeaders, 'content-type': 'application/json' },
      body: JSON.stringify(call.payload),
      signal: AbortSignal.timeout(webhook.timeoutMs),
      // A redirect would carry the Secret's headers somewhere the Rollout does not name: it is an answer.
      redirect: 'manual',
    });
    // The body is not kept: it could echo what was sent, and the history must hold no header values.
    await response.body?.cancel().catch(() => undefined);
    return { ok: response.status >= 200 && response.status < 300, status: response.status, tookMs: took() };
  } catch (error) {
    return { ok: false, error: noAnswer(error, webhook.timeoutMs), tookMs: took() };
  }
}

/** Why a call got no answer, in words: `timed out after 5s`, `connection refused`. */
function noAnswer(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === 'TimeoutError')
    return `timed out after ${timeoutMs / 1000}s`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (cause?.code === 'ENOTFOUND') return 'host not found';
  return `no answer: ${cause?.message ?? (error instanceof Error ? error.message : String(error))}`;
}

/** The webhook activities, bound to a cluster (for the Secrets); the worker registers them by these names. */
export function createWebhookActivities(kube: KubeClients): WebhookActivities {
  return { callWebhook: (call) => callWebhook(kube, call) };
}
