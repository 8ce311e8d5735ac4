import { Context } from '@temporalio/activity';
import { CloudEvent, HTTP, type Message } from 'cloudevents';
import { Counter, type Registry } from 'prom-client';
import {
  buildCDEvent,
  CDEVENT_TYPES,
  cdEventId,
  type RolloutCDEventInput,
  type ServiceCDEvent,
} from '../cdevents/rollout-event';
import {
  buildReleaseCDEvent,
  RELEASE_CDEVENT_TYPES,
  releaseCDEventId,
  type ReleaseCDEvent,
  type ReleaseCDEventInput,
} from '../cdevents/release-event';
import { createLogger, errorText, type Logger } from '../observability/log';
import type { CDEventsSettings } from './cdevents-settings';

/**
 * Sends a rollout's CDEvents to the configured sink as CloudEvents over HTTP. Delivery is best effort
 * within a bound: the activity retries the POST itself for at most SIIRTO_CDEVENTS_RETRY_FOR and then
 * gives the event up, counted and logged, rather than holding the rollout back. Every retry sends the
 * same event (same id and time), so consumers drop the duplicates a lost answer causes.
 */

export interface CDEventsMetrics {
  sent: Counter<'type'>;
  failed: Counter<'type'>;
}

export function createCDEventsMetrics(registry: Registry): CDEventsMetrics {
  return {
    sent: new Counter({
      name: 'siirto_cdevents_sent_total',
      help: 'CDEvents the sink accepted, by event type.',
      labelNames: ['type'],
      registers: [registry],
    }),
    failed: new Counter({
      name: 'siirto_cdevents_failed_total',
      help: 'CDEvents given up: the sink refused them or stayed unreachable for SIIRTO_CDEVENTS_RETRY_FOR.',
      labelNames: ['type'],
      registers: [registry],
    }),
  };
}

export interface CDEventEmission {
  /** False when emission is off, the sink refused the event, or it stayed unreachable. */
  delivered: boolean;
  /** HTTP requests made; 0 when emission is off. */
  attempts: number;
  /** The event's id, the same for every retry. */
  id: string;
}

export interface CDEventsActivities {
  emitCDEvent(input: RolloutCDEventInput): Promise<CDEventEmission>;
}

/** A fleet release's events (cdevents/release-event.ts), to the same sink, delivered the same way. */
export interface ReleaseCDEventsActivities {
  emitReleaseCDEvent(input: ReleaseCDEventInput): Promise<CDEventEmission>;
}

/** Any CDEvent Siirto sends: what the CloudEvent envelope needs of it. */
type SentCDEvent = ServiceCDEvent | ReleaseCDEvent;

const FIRST_RETRY_DELAY_MS = 200;
const LONGEST_RETRY_DELAY_MS = 5_000;
/** One request's limit, so a sink that accepts connections but never answers still gets retried. */
const ATTEMPT_TIMEOUT_MS = 5_000;
const SHORTEST_ATTEMPT_TIMEOUT_MS = 100;
/** Kept back from an activity's start-to-close timeout, to report the result before Temporal stops waiting. */
const RESULT_MARGIN_MS = 1_000;

/** What a retry loop needs from where it runs: inside an activity, Temporal's context; outside, timers. */
interface RetryEnvironment {
  /** Tells Temporal the activity is alive; a no-op when nothing listens. */
  heartbeat(details: { id: string; attempts: number }): void;
  /** Waits, and rejects when the activity is cancelled. */
  sleep(milliseconds: number): Promise<void>;
  cancellation?: AbortSignal;
  /** When the activity must have returned (epoch ms), if it is bounded. */
  deadline?: number;
}

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    // Called outside an activity: a test, or a caller of its own.
    return undefined;
  }
}

function retryEnvironment(startedAt: number): RetryEnvironment {
  const context = activityContext();
  if (!context) {
    return { heartbeat: () => undefined, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };
  }
  const { heartbeatTimeoutMs, startToCloseTimeoutMs } = context.info;
  return {
    // Temporal asks activities without a heartbeat timeout not to heartbeat.
    heartbeat: heartbeatTimeoutMs ? (details) => context.heartbeat(details) : () => undefined,
    sleep: (ms) => context.sleep(ms),
    cancellation: context.cancellationSignal,
    deadline: startToCloseTimeoutMs > 0 ? startedAt + startToCloseTimeoutMs - RESULT_MARGIN_MS : undefined,
  };
}

/** The CDEvent in a CloudEvent, as the CDEvents CloudEvents binding maps it. */
function cloudEventOf(event: SentCDEvent): CloudEvent<SentCDEvent> {
  return new CloudEvent<SentCDEvent>({
    specversion: '1.0',
    id: event.context.id,
    source: event.context.source,
    type: event.context.type,
    subject: event.subject.id,
    time: event.context.timestamp,
    datacontenttype: 'application/json',
    data: event,
  });
}

function messageFor(event: SentCDEvent, settings: CDEventsSettings): Message {
  const cloudEvent = cloudEventOf(event);
  return settings.mode === 'structured' ? HTTP.structured(cloudEvent) : HTTP.binary(cloudEvent);
}

type AttemptOutcome =
  { result: 'delivered' } | { result: 'retry'; problem: string } | { result: 'refused'; problem: string };

/** 408 and 429 say "later"; any other 4xx says the request itself is wrong, which a retry repeats. */
function outcomeOfStatus(status: number): AttemptOutcome {
  if (status >= 200 && status < 300) return { result: 'delivered' };
  const problem = `the sink answered HTTP ${status}`;
  const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429;
  return permanent ? { result: 'refused', problem } : { result: 'retry', problem };
}

async function post(
  sinkUrl: string,
  message: Message,
  headers: Record<string, string>,
  timeoutMs: number,
  cancellation: AbortSignal | undefined,
): Promise<AttemptOutcome> {
  const messageHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    if (value !== undefined) messageHeaders[name] = String(value);
  }
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(sinkUrl, {
      method: 'POST',
      // The binding's headers last: they make the event, and the settings refuse to name them.
      headers: { ...headers, ...messageHeaders },
      body: String(message.body),
      signal: cancellation ? AbortSignal.any([timeout, cancellation]) : timeout,
    });
    // Not read: only the status matters, and an unread body would hold the connection.
    await response.body?.cancel();
    return outcomeOfStatus(response.status);
  } catch (error) {
    if (cancellation?.aborted) throw cancellation.reason;
    const problem = timeout.aborted
      ? `the sink did not answer within ${timeoutMs} ms`
      : `the sink cannot be reached (${errorText(causeOf(error))})`;
    return { result: 'retry', problem };
  }
}

/** fetch reports "fetch failed" and keeps the reason, such as ECONNREFUSED, in its cause. */
function causeOf(error: unknown): unknown {
  return error instanceof Error && error.cause !== undefined ? error.cause : error;
}

/**
 * The activities that emit CDEvents, bound to the worker's settings. The worker registers the
 * rollouts' with the rollout activities and the releases' beside the fleet workflows; the metrics go
 * on the worker's registry.
 */
export function createCDEventsActivities(
  settings: CDEventsSettings,
  metrics?: CDEventsMetrics,
  log: Logger = createLogger({ component: 'siirto-cdevents' }),
): CDEventsActivities & ReleaseCDEventsActivities {
  async function emitCDEvent(input: RolloutCDEventInput): Promise<CDEventEmission> {
    const id = cdEventId(input);
    const type = CDEVENT_TYPES[input.kind] ?? String(input.kind);
    const eventLog = log.with({
      namespace: input.rollout?.namespace,
      name: input.rollout?.name,
      revision: input.revision,
      workflowId: input.workflowId,
      eventId: id,
      eventType: type,
    });
    return deliver(id, type, eventLog, () => buildCDEvent(input, settings.origin));
  }

  async function emitReleaseCDEvent(input: ReleaseCDEventInput): Promise<CDEventEmission> {
    const id = releaseCDEventId(input);
    const type = RELEASE_CDEVENT_TYPES[input.kind] ?? String(input.kind);
    const eventLog = log.with({
      app: input.app,
      release: input.release,
      workflowId: input.workflowId,
      eventId: id,
      eventType: type,
    });
    return deliver(id, type, eventLog, () => buildReleaseCDEvent(input, settings.origin));
  }

  async function deliver(
    id: string,
    type: string,
    eventLog: Logger,
    build: () => SentCDEvent,
  ): Promise<CDEventEmission> {
    const startedAt = Date.now();
    const { sinkUrl } = settings;
    if (!sinkUrl) return { delivered: false, attempts: 0, id };

    const giveUp = (attempts: number, problem: string): CDEventEmission => {
      metrics?.failed.inc({ type });
      eventLog.warn('CDEvent not delivered; the rollout goes on without it', { attempts, problem });
      return { delivered: false, attempts, id };
    };

    let message: Message;
    try {
      message = messageFor(build(), settings);
    } catch (error) {
      // A retry would build the same wrong event: give it up now, the rollout (or release) matters more.
      return giveUp(0, errorText(error));
    }

    const environment = retryEnvironment(startedAt);
    const deadline = Math.min(
      startedAt + settings.retryForMs,
      environment.deadline ?? Number.POSITIVE_INFINITY,
    );
    let delay = FIRST_RETRY_DELAY_MS;
    for (let attempts = 1; ; attempts++) {
      const timeoutMs = Math.max(
        SHORTEST_ATTEMPT_TIMEOUT_MS,
        Math.min(ATTEMPT_TIMEOUT_MS, deadline - Date.now()),
      );
      const outcome = await post(sinkUrl, message, settings.headers, timeoutMs, environment.cancellation);
      if (outcome.result === 'delivered') {
        metrics?.sent.inc({ type });
        eventLog.debug('CDEvent delivered', { attempts });
        return { delivered: true, attempts, id };
      }
      const remaining = deadline - Date.now();
      if (outcome.result === 'refused' || remaining < SHORTEST_ATTEMPT_TIMEOUT_MS * 2) {
        return giveUp(attempts, outcome.problem);
      }
      // The last wait is cut short so that one more attempt still fits before the deadline.
      const wait = Math.min(delay, remaining - SHORTEST_ATTEMPT_TIMEOUT_MS);
      eventLog.debug('CDEvent attempt failed; retrying', {
        attempts,
        problem: outcome.problem,
        waitMs: wait,
      });
      environment.heartbeat({ id, attempts });
      await environment.sleep(wait);
      delay = Math.min(delay * 2, LONGEST_RETRY_DELAY_MS);
    }
  }
  return { emitCDEvent, emitReleaseCDEvent };
}
