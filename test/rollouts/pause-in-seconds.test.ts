import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { eventSummary, historyOf, type HistoryEvent } from '../harness/temporal';

const app = 'ledger';

/** When Temporal's server recorded an event, in ms. */
const recordedAt = (event: HistoryEvent) => Date.parse(String(event.eventTime));

describe('a pause given in whole seconds, as Argo Rollouts writes it', () => {
  const scope = isolate('pause-seconds');
  const scenario = rolloutScenario(scope, app);

  it('keeps pause: {duration: 10} a number through kubectl apply and pauses 10 s by the server’s clock', async () => {
    await scenario.firstRevisionHealthy([{ setWeight: 20 }, { pause: { duration: 10 } }, { setWeight: 60 }]);
    const stored = JSON.parse(
      await runOrThrow('kubectl', ['get', 'sro', app, '-n', scope.namespace, '-o', 'json']),
    ) as { spec: { strategy: { canary: { steps: unknown[] } } } };
    expect(stored.spec.strategy.canary.steps[1]).toEqual({ pause: { duration: 10 } });

    await setImage(scope.namespace, app, `registry.example/${app}:2`);
    const paused = await scenario.waitForStatus(
      'r2 to pause at 20%',
      (s) => s.revision === 2 && s.phase === 'Paused',
    );
    expect(paused.message).toContain('paused 10s or until promoted');
    await scenario.waitForStatus('r2 to become Healthy', (s) => s.revision === 2 && s.phase === 'Healthy');

    const events = await historyOf(paused.workflowId!);
    const started = events.find(
      (event) => event.eventType === 'EVENT_TYPE_TIMER_STARTED' && eventSummary(event) === 'pause 10s',
    );
    expect(started).toBeDefined();
    const fired = events.find(
      (event) =>
        event.eventType === 'EVENT_TYPE_TIMER_FIRED' &&
        (event.timerFiredEventAttributes as { startedEventId: string }).startedEventId === started?.eventId,
    );
    expect(fired).toBeDefined();
    // Temporal fires a timer at its deadline, give or take its own scheduling; Siirto sets the deadline.
    const pausedMs = recordedAt(fired!) - recordedAt(started!);
    expect(pausedMs).toBeGreaterThanOrEqual(9_900);
    expect(pausedMs).toBeLessThan(11_500);
  });
});
