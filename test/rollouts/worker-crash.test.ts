import { startAdmissionWebhook } from '../harness/admission-webhook';
import { isolate } from '../harness/isolation';
import { patchRolloutSpec, setImage } from '../harness/rollout-fixtures';
import { promoteUpdate } from '../../workflows/rollout-api';
import { rolloutScenario } from '../harness/rollout-scenario';
import {
  activityAttempts,
  activityCompletions,
  activitySummaries,
  historyOf,
  recordedAt,
  recordHistoryFixture,
  type HistoryEvent,
} from '../harness/temporal';

const app = 'inventory';

/**
 * The pause a worker is killed in; its restart (a Node start and bundling the workflows) must fit well
 * inside. On a busy two-core machine that restart has taken 20 s, so the pause leaves room for it.
 */
const PAUSE_SECONDS = 30;

describe('a worker killed during a timed pause', () => {
  const scope = isolate('crash');
  const scenario = rolloutScenario(scope, app);

  it(`resumes where it was, and the ${PAUSE_SECONDS} s pause lasts ${PAUSE_SECONDS} s in all, though its status write was in flight`, async () => {
    await scenario.firstRevisionHealthy([
      { setWeight: 50 },
      { pause: { duration: `${PAUSE_SECONDS}s` } },
      { setWeight: 100 },
    ]);
    // The kill catches the worker in the middle of its write that says Paused: a slow admission
    // webhook keeps that write waiting in the apiserver until the worker is gone.
    const webhook = await startAdmissionWebhook(scope.namespace);
    try {
      const held = webhook.hold((status) => status.revision === 2 && status.phase === 'Paused');
      await setImage(scope.namespace, app, `registry.example/${app}:2`);
      await held;
      await scenario.worker.kill();
      webhook.release();
    } finally {
      await webhook.close();
    }
    await scenario.worker.start();
    const paused = await scenario.waitForStatus(
      `r2 to pause for ${PAUSE_SECONDS}s`,
      (s) => s.revision === 2 && s.phase === 'Paused',
    );
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 50, [`${app}-canary`]: 50 });

    // As the user sees it: the Rollout says Paused, then, the pause over, no longer.
    await scenario.waitForStatus(
      `r2's pause to end`,
      (s) => s.revision === 2 && s.phase !== 'Paused',
      (PAUSE_SECONDS + 30) * 1000,
    );
    await scenario.waitForStatus('r2 to become Healthy', (s) => s.revision === 2 && s.phase === 'Healthy');

    const handle = scenario.client.workflow.getHandle(paused.workflowId!);
    await handle.result();
    const events = await historyOf(handle.workflowId);
    const timerStarted = events.find((event) => event.eventType === 'EVENT_TYPE_TIMER_STARTED')!;
    const timerFired = events.find((event) => event.eventType === 'EVENT_TYPE_TIMER_FIRED')!;
    const pauseMilliseconds = recordedAt(timerFired) - recordedAt(timerStarted);
    expect(Math.abs(pauseMilliseconds - PAUSE_SECONDS * 1000)).toBeLessThanOrEqual(1_000);

    // The timer fired on the restarted worker: by the server's record, the workflow task that took the
    // fired timer went to a worker other than the one that started the timer.
    const eventId = (event: HistoryEvent) => Number(event.eventId);
    const workerOf = (event: HistoryEvent) =>
      (event.workflowTaskStartedEventAttributes as { identity: string }).identity;
    const taskStarts = events.filter((event) => event.eventType === 'EVENT_TYPE_WORKFLOW_TASK_STARTED');
    const killedWorker = workerOf(
      taskStarts.filter((event) => eventId(event) < eventId(timerStarted)).at(-1)!,
    );
    const afterTheTimer = taskStarts.find((event) => eventId(event) > eventId(timerFired));
    expect(workerOf(afterTheTimer!)).not.toBe(killedWorker);

    // The write that said Paused was in flight at the kill: Temporal ran it again.
    expect(activityAttempts(events, /^status Paused: /)).toEqual([2]);

    // As the user sees it, from the pause's start to the status write that said it was over, on the
    // server's clock: the pause does not look shorter, and its end is written within a few seconds of
    // the timer, though it waited behind the write the kill caught. (The write that said Paused is no
    // start: its retry completes it late in Temporal's record.)
    const [resumedWritten] = activityCompletions(events, /: pause over$/);
    const observedPause = resumedWritten!.at - recordedAt(timerStarted);
    expect(observedPause).toBeGreaterThanOrEqual((PAUSE_SECONDS - 1) * 1000);
    expect(observedPause).toBeLessThanOrEqual((PAUSE_SECONDS + 5) * 1000);

    // Nothing before the pause ran twice: the restarted worker replayed history instead.
    const summaries = await activitySummaries(handle.workflowId);
    expect(summaries.filter((summary) => summary === 'set weight 50%')).toHaveLength(1);
    await recordHistoryFixture('canary-survives-worker-kill', handle);
  });

  it('stops worker and bridge cleanly on SIGTERM mid-rollout, and the next ones finish it', async () => {
    await patchRolloutSpec(scope.namespace, app, {
      template: { spec: { containers: [{ name: 'app', image: `registry.example/${app}:3` }] } },
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
    });
    const paused = await scenario.waitForStatus(
      'r3 to pause',
      (s) => s.revision === 3 && s.phase === 'Paused',
    );

    expect(await scenario.worker.stop()).toBe(0);
    expect(scenario.worker.logText()).toMatch(/"msg":"worker stopped"/);
    expect(await scenario.bridge.stop()).toBe(0);
    expect(scenario.bridge.logText()).toMatch(/"msg":"bridge stopped"/);
    await Promise.all([scenario.worker.start(), scenario.bridge.start()]);

    await scenario.client.workflow.getHandle(paused.workflowId!).executeUpdate(promoteUpdate, { args: [{}] });
    await scenario.waitForStatus('r3 to become Healthy', (s) => s.revision === 3 && s.phase === 'Healthy');
  });
});
