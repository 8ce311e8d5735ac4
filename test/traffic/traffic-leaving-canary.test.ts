import { abortUpdate } from '../../workflows/rollout-api';
import { isolate } from '../harness/isolation';
import { routeHost, setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { activitySummaries, historyOf, recordHistoryFixture, timerSummaries } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { startTraffic, type Traffic } from './traffic';

const app = 'catalog';
const replicas = 2;
/** Short for the test; long enough for a gateway to have applied the weights that moved away. */
const ABORT_SCALE_DOWN_DELAY_SECONDS = 5;

/** Failed requests between two readings of the load: 5xx from the gateway, and no answer at all. */
function failuresSince(traffic: Traffic, before: ReturnType<Traffic['responses']>): number {
  const after = traffic.responses();
  return after.gatewayErrors - before.gatewayErrors + after.failed - before.failed;
}

describe('traffic leaving a canary that is aborted or superseded', () => {
  const scope = isolate('leaving-canary');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app, {
    canary: { abortScaleDownDelaySeconds: ABORT_SCALE_DOWN_DELAY_SECONDS },
  });
  let traffic: Traffic;

  afterAll(() => traffic?.stop());

  it('keeps the canary pods up after an abort until the gateway has moved away, so no request fails', async () => {
    await scenario.firstRevisionHealthy([{ setWeight: 50 }, { pause: {} }], { replicas });
    traffic = startTraffic({ host: routeHost(namespace, app), ratePerSecond: 50 });
    await setImage(namespace, app, `registry.example/${app}:2`);
    const paused = await scenario.waitForStatus(
      'r2 to pause at 50%',
      (s) => s.revision === 2 && s.phase === 'Paused',
    );
    const split = await traffic.measureSplit(100);
    expect(split.shares['2']).toBeGreaterThan(0.3);

    const before = traffic.responses();
    const handle = scenario.client.workflow.getHandle(paused.workflowId!);
    await handle.executeUpdate(abortUpdate, { args: [{ reason: 'error budget' }] });
    await scenario.waitForStatus('r2 to become Degraded', (s) => s.phase === 'Degraded');
    // Every request of the next seconds is answered, by stable alone once the gateway has the weights.
    await waitFor(
      'the canary to be scaled to 0',
      async () => (await scenario.see.replicasOf(app, paused.currentTemplateHash)) === 0,
      {
        timeoutMs: (ABORT_SCALE_DOWN_DELAY_SECONDS + 30) * 1000,
      },
    );
    const after = await traffic.measureSplit(100);
    expect(after.shares).toEqual({ '1': 1 });
    expect(failuresSince(traffic, before)).toBe(0);

    // The delay, on the server's clock: the timer between the traffic leaving and the scale-down.
    expect(await timerSummaries(handle.workflowId)).toContain(
      `keep canary pods ${ABORT_SCALE_DOWN_DELAY_SECONDS}s after the traffic left them`,
    );
    const events = await historyOf(handle.workflowId);
    const fired = events.find((event) => event.eventType === 'EVENT_TYPE_TIMER_FIRED');
    const started = events.find((event) => event.eventType === 'EVENT_TYPE_TIMER_STARTED');
    const kept = Date.parse(fired?.eventTime as string) - Date.parse(started?.eventTime as string);
    expect(Math.abs(kept - ABORT_SCALE_DOWN_DELAY_SECONDS * 1000)).toBeLessThanOrEqual(1_000);
  });

  it('keeps the canary pods up when a newer revision supersedes it, and the newer one scales them down', async () => {
    await setImage(namespace, app, `registry.example/${app}:3`);
    const third = await scenario.waitForStatus(
      'r3 to pause at 50%',
      (s) => s.revision === 3 && s.phase === 'Paused',
    );
    await traffic.measureSplit(100);

    const before = traffic.responses();
    await setImage(namespace, app, `registry.example/${app}:4`);
    const fourth = await scenario.waitForStatus(
      'r4 to pause at 50%',
      (s) => s.revision === 4 && s.phase === 'Paused',
    );
    await waitFor(
      'r3 canary to be scaled to 0',
      async () => (await scenario.see.replicasOf(app, third.currentTemplateHash)) === 0,
      {
        timeoutMs: (ABORT_SCALE_DOWN_DELAY_SECONDS + 30) * 1000,
      },
    );
    await traffic.measureSplit(100);
    expect(failuresSince(traffic, before)).toBe(0);
    // r3 handed its canary's pods to r4, which scaled them down when their time was up.
    expect(await activitySummaries(fourth.workflowId!)).toContain(`scale ${third.currentTemplateHash} to 0`);
    await recordHistoryFixture(
      'canary-superseded-keeps-its-pods',
      scenario.client.workflow.getHandle(third.workflowId!),
    );
    await recordHistoryFixture(
      'canary-scales-down-what-its-predecessor-left',
      scenario.client.workflow.getHandle(fourth.workflowId!),
    );
  });
});
