import type { RolloutPhase } from '../../schemas/rollout';
import type { WebhookType } from '../../schemas/webhooks';

/**
 * What a webhook receives, in the shape Flagger sends, so receivers written for Flagger (its load
 * tester, approval gates) read it as they are. Pure: the workflow builds it, and the history keeps it
 * as the activity's input, so what each webhook was told is on record.
 */
export interface WebhookPayload {
  /** The Rollout's name and namespace. */
  name: string;
  namespace: string;
  /** The rollout's phase when the call is made: Progressing, Paused, Healthy, Degraded. */
  phase: RolloutPhase;
  /** The revision's pod-template hash, which tells one revision's calls from another's. */
  checksum: string;
  type: WebhookType;
  metadata: Record<string, string>;
}

/** An `event` webhook's metadata says what happened, as Flagger's event webhooks do. */
export interface RolloutEventNote {
  message: string;
  /** `Normal`, or `Warning` for a Degraded rollout. */
  eventType: 'Normal' | 'Warning';
  /** When it happened (ISO 8601, workflow time). */
  timestamp: string;
}

export function webhookPayload(
  rollout: { namespace: string; name: string },
  checksum: string,
  phase: RolloutPhase,
  hook: { type: WebhookType; metadata?: Record<string, string> },
  event?: RolloutEventNote,
): WebhookPayload {
  const metadata = { ...hook.metadata };
  if (event) {
    // Flagger's names, so its receivers find them; the hook's own metadata keeps its other keys.
    metadata.eventMessage = event.message;
    metadata.eventType = event.eventType;
    // Milliseconds since the epoch, as a string: Flagger sends the timestamp so.
    metadata.timestamp = String(Date.parse(event.timestamp));
  }
  return {
    name: rollout.name,
    namespace: rollout.namespace,
    phase,
    checksum,
    type: hook.type,
    metadata,
  };
}

/** What one call of a webhook came to, as the activity reports it and the history keeps it. */
export interface WebhookAnswer {
  /** True for an HTTP 2xx answer. */
  ok: boolean;
  /** The HTTP status, when the receiver answered at all. */
  status?: number;
  /** Why there was no answer: unreachable, timed out, a Secret missing. */
  error?: string;
  /** How long the call took, in milliseconds. */
  tookMs: number;
}

/** `HTTP 403`, or why there was no answer: how messages and summaries name an answer. */
export function describeAnswer(answer: WebhookAnswer): string {
  if (answer.status !== undefined) return `HTTP ${answer.status}`;
  return answer.error ?? 'no answer';
}
