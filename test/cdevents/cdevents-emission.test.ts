import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Registry } from 'prom-client';
import {
  createCDEventsActivities,
  createCDEventsMetrics,
  type CDEventEmission,
  type CDEventsActivities,
} from '../../activities/cdevents-emission';
import type { CDEventsMode, CDEventsSettings } from '../../activities/cdevents-settings';
import { CDEVENT_TYPES, type RolloutCDEventInput } from '../../cdevents/rollout-event';
import { createLogger } from '../../observability/log';
import { sampleValue } from '../observability/scrape';
import { waitFor } from '../harness/wait';
import { cdEventsValidator } from './cdevents-schemas';
import { CDEventsSink } from './cdevents-sink';

const TOKEN = 'tok-7f3a9c';
const RETRY_FOR_MS = 2_000;
/** What the activity may take beyond its retry bound: the last attempt's timeout floor and scheduling. */
const MARGIN_MS = 500;

const validator = cdEventsValidator();

function rolloutInput(overrides: Partial<RolloutCDEventInput> = {}): RolloutCDEventInput {
  return {
    kind: 'deployed',
    rollout: { namespace: 'shop', name: 'checkout' },
    revision: 2,
    workflowId: 'shop/checkout/r2',
    sequence: 0,
    stepIndex: 0,
    weights: { stable: 100, canary: 0 },
    images: ['registry.example.com:5000/shop/checkout:v2'],
    occurredAt: '2026-11-02T10:00:00.000Z',
    ...overrides,
  };
}

interface Emitter {
  activities: CDEventsActivities;
  registry: Registry;
  logLines: string[];
  /** A counter's value as exported, 0 when it has no sample for the type. */
  counter(name: 'sent' | 'failed', type: string): Promise<number>;
}

function emitter(sinkUrl: string | undefined, overrides: Partial<CDEventsSettings> = {}): Emitter {
  const settings: CDEventsSettings = {
    sinkUrl,
    mode: 'binary',
    headers: { authorization: `Bearer ${TOKEN}`, 'x-siirto-team': 'payments' },
    retryForMs: RETRY_FOR_MS,
    origin: { clusterId: 'test-cluster', temporalNamespace: 'default', webUiUrl: 'http://127.0.0.1:8233' },
    ...overrides,
  };
  const registry = new Registry();
  const logLines: string[] = [];
  const log = createLogger({ component: 'test' }, 'debug', (line) => logLines.push(line));
  return {
    activities: createCDEventsActivities(settings, createCDEventsMetrics(registry), log),
    registry,
    logLines,
    counter: async (name, type) =>
      sampleValue(await registry.metrics(), `siirto_cdevents_${name}_total`, { type }) ?? 0,
  };
}

/** Runs the activity in an activity context; the mock environment cannot infer the result's type. */
function runInActivity(
  environment: MockActivityEnvironment,
  activities: CDEventsActivities,
  input: RolloutCDEventInput,
): Promise<CDEventEmission> {
  return environment.run<[RolloutCDEventInput], CDEventEmission, CDEventsActivities['emitCDEvent']>(
    activities.emitCDEvent,
    input,
  );
}

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; elapsedMs: number }> {
  const started = Date.now();
  const result = await work();
  return { result, elapsedMs: Date.now() - started };
}

describe('emitting CDEvents to a real HTTP sink', () => {
  let sink: CDEventsSink;

  beforeEach(async () => {
    sink = await CDEventsSink.start();
  });

  afterEach(async () => {
    await sink.close();
  });

  it.each<CDEventsMode>(['binary', 'structured'])(
    'delivers every kind of event in %s mode, valid against the schemas, with the configured headers',
    async (mode) => {
      const { activities, counter } = emitter(sink.url, { mode });
      const inputs = (['deployed', 'upgraded', 'published', 'rolledback'] as const).map((kind, sequence) =>
        rolloutInput({ kind, sequence, reason: kind === 'rolledback' ? 'aborted by alice' : undefined }),
      );
      for (const input of inputs) {
        expect(await activities.emitCDEvent(input)).toEqual({
          delivered: true,
          attempts: 1,
          id: `shop/checkout/r2/${input.sequence}-${input.kind}`,
        });
      }

      const received = await sink.waitForEvents(4);
      expect(received.map((event) => event.cloudEvent.type)).toEqual(Object.values(CDEVENT_TYPES));
      for (const [index, event] of received.entries()) {
        expect(event.mode).toBe(mode);
        expect(validator.problems(event.data)).toEqual([]);
        const cdEvent = event.data as { context: Record<string, string>; subject: { id: string } };
        // The CloudEvents binding of CDEvents: the envelope repeats the CDEvent's context.
        expect(event.cloudEvent).toMatchObject({
          specversion: '1.0',
          id: cdEvent.context.id,
          source: '/siirto/test-cluster/shop/checkout',
          type: cdEvent.context.type,
          time: cdEvent.context.timestamp,
          subject: cdEvent.subject.id,
        });
        expect(cdEvent.context.id).toBe(`shop/checkout/r2/${index}-${inputs[index]!.kind}`);
        expect(event.headers.authorization).toBe(`Bearer ${TOKEN}`);
        expect(event.headers['x-siirto-team']).toBe('payments');
      }
      for (const type of Object.values(CDEVENT_TYPES)) expect(await counter('sent', type)).toBe(1);
    },
  );

  it('retries a sink that answers 503 twice and delivers the same event on the third attempt', async () => {
    const { activities, counter } = emitter(sink.url);
    sink.refuseNext(2, 503);
    const emission = await activities.emitCDEvent(rolloutInput({ kind: 'upgraded', sequence: 3 }));

    expect(emission).toEqual({ delivered: true, attempts: 3, id: 'shop/checkout/r2/3-upgraded' });
    expect(sink.requests.map((request) => [request.status, request.eventId])).toEqual([
      [503, 'shop/checkout/r2/3-upgraded'],
      [503, 'shop/checkout/r2/3-upgraded'],
      [200, 'shop/checkout/r2/3-upgraded'],
    ]);
    expect(sink.events).toHaveLength(1);
    expect(await counter('sent', CDEVENT_TYPES.upgraded)).toBe(1);
    expect(await counter('failed', CDEVENT_TYPES.upgraded)).toBe(0);
  });

  it('retries 408 and 429, which ask to come back later', async () => {
    const { activities } = emitter(sink.url);
    sink.refuseNext(1, 429);
    expect(await activities.emitCDEvent(rolloutInput())).toMatchObject({ delivered: true, attempts: 2 });
    sink.refuseNext(1, 408);
    expect(await activities.emitCDEvent(rolloutInput())).toMatchObject({ delivered: true, attempts: 2 });
  });

  it('gives up at once on a 4xx that a retry would only repeat, and counts the loss', async () => {
    const { activities, counter } = emitter(sink.url);
    sink.refuseNext(1, 400);
    const { result, elapsedMs } = await timed(() => activities.emitCDEvent(rolloutInput()));
    expect(result).toEqual({ delivered: false, attempts: 1, id: 'shop/checkout/r2/0-deployed' });
    expect(elapsedMs).toBeLessThan(1_000);
    expect(sink.requests).toHaveLength(1);
    expect(await counter('failed', CDEVENT_TYPES.deployed)).toBe(1);
  });

  it('gives an event up when the sink stays down, within the retry bound, with a warning and a count', async () => {
    const { activities, counter, logLines } = emitter(sink.url);
    sink.goDown(503);
    const { result, elapsedMs } = await timed(() =>
      activities.emitCDEvent(rolloutInput({ kind: 'rolledback' })),
    );

    expect(result).toMatchObject({ delivered: false, id: 'shop/checkout/r2/0-rolledback' });
    expect(result.attempts).toBeGreaterThanOrEqual(4);
    expect(sink.requests).toHaveLength(result.attempts);
    // It used its time: neither stopped early nor ran past the bound.
    expect(elapsedMs).toBeGreaterThanOrEqual(RETRY_FOR_MS - MARGIN_MS);
    expect(elapsedMs).toBeLessThanOrEqual(RETRY_FOR_MS + MARGIN_MS);
    expect(await counter('failed', CDEVENT_TYPES.rolledback)).toBe(1);
    expect(await counter('sent', CDEVENT_TYPES.rolledback)).toBe(0);

    const warning = logLines.map((line) => JSON.parse(line)).find((line) => line.level === 'warn');
    expect(warning).toMatchObject({
      msg: 'CDEvent not delivered; the rollout goes on without it',
      eventId: 'shop/checkout/r2/0-rolledback',
      workflowId: 'shop/checkout/r2',
      problem: 'the sink answered HTTP 503',
    });
    expect(logLines.join('\n')).not.toContain(TOKEN);
  });

  it('gives an event up when nothing listens on the port any more, within the retry bound', async () => {
    const { activities, counter } = emitter(sink.url);
    await sink.close();
    const { result, elapsedMs } = await timed(() => activities.emitCDEvent(rolloutInput()));

    expect(result).toMatchObject({ delivered: false, id: 'shop/checkout/r2/0-deployed' });
    expect(result.attempts).toBeGreaterThanOrEqual(4);
    expect(elapsedMs).toBeGreaterThanOrEqual(RETRY_FOR_MS - MARGIN_MS);
    expect(elapsedMs).toBeLessThanOrEqual(RETRY_FOR_MS + MARGIN_MS);
    expect(await counter('failed', CDEVENT_TYPES.deployed)).toBe(1);
  });

  it('does nothing, at once and without error, when no sink is configured', async () => {
    const { activities, registry } = emitter(undefined);
    const { result, elapsedMs } = await timed(() => activities.emitCDEvent(rolloutInput()));
    expect(result).toEqual({ delivered: false, attempts: 0, id: 'shop/checkout/r2/0-deployed' });
    expect(elapsedMs).toBeLessThan(100);
    expect(sink.requests).toHaveLength(0);
    expect(sampleValue(await registry.metrics(), 'siirto_cdevents_failed_total')).toBeUndefined();
  });

  it('gives up an event it cannot build without retrying, so the rollout is not held back', async () => {
    const { activities, counter } = emitter(sink.url);
    const result = await activities.emitCDEvent(rolloutInput({ images: [] }));
    expect(result).toEqual({ delivered: false, attempts: 0, id: 'shop/checkout/r2/0-deployed' });
    expect(sink.requests).toHaveLength(0);
    expect(await counter('failed', CDEVENT_TYPES.deployed)).toBe(1);
  });

  describe('inside an activity', () => {
    it('heartbeats between attempts and delivers once the sink is back', async () => {
      const { activities } = emitter(sink.url);
      const environment = new MockActivityEnvironment({
        heartbeatTimeoutMs: 10_000,
        startToCloseTimeoutMs: 30_000,
      });
      const heartbeats: unknown[] = [];
      environment.on('heartbeat', (details: unknown) => heartbeats.push(details));
      sink.refuseNext(2, 503);

      const result = await runInActivity(environment, activities, rolloutInput());
      expect(result).toMatchObject({ delivered: true, attempts: 3 });
      expect(heartbeats).toEqual([
        { id: 'shop/checkout/r2/0-deployed', attempts: 1 },
        { id: 'shop/checkout/r2/0-deployed', attempts: 2 },
      ]);
    });

    it('returns before its start-to-close timeout when that is shorter than the retry bound', async () => {
      const { activities } = emitter(sink.url, { retryForMs: 60_000 });
      const environment = new MockActivityEnvironment({
        heartbeatTimeoutMs: 10_000,
        startToCloseTimeoutMs: 3_000,
      });
      sink.goDown();
      const { result, elapsedMs } = await timed(() => runInActivity(environment, activities, rolloutInput()));
      expect(result.delivered).toBe(false);
      // One second of the three is kept back to report the result.
      expect(elapsedMs).toBeLessThanOrEqual(2_000 + MARGIN_MS);
      expect(elapsedMs).toBeGreaterThanOrEqual(2_000 - MARGIN_MS);
    });

    it('stops retrying when the activity is cancelled', async () => {
      const { activities, counter } = emitter(sink.url, { retryForMs: 60_000 });
      const environment = new MockActivityEnvironment({
        heartbeatTimeoutMs: 10_000,
        startToCloseTimeoutMs: 60_000,
      });
      sink.goDown();
      const started = Date.now();
      const emission = runInActivity(environment, activities, rolloutInput());
      await waitFor('two attempts at the sink', () => sink.requests.length >= 2);
      environment.cancel('CANCELLED');
      await expect(emission).rejects.toBeInstanceOf(CancelledFailure);
      expect(Date.now() - started).toBeLessThan(5_000);
      const attemptsAtCancel = sink.requests.length;
      // Nothing more arrives: the retry loop ended. Absence has no event to wait on, so this waits longer
      // than the loop's next pause would have been (800 ms after three attempts).
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(sink.requests).toHaveLength(attemptsAtCancel);
      expect(await counter('failed', CDEVENT_TYPES.deployed)).toBe(0);
    });
  });
});
