import { standDownUpdate } from '../../workflows/rollout-api';
import { isolate } from '../harness/isolation';
import { kubectlApply, rolloutManifest, setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import {
  activitySummaries,
  historyOf,
  recordedAt,
  recordHistoryFixture,
  type HistoryEvent,
} from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'relay';

/**
 * A run that could not be answered would look again once a second: a new revision that goes on within
 * that of its predecessor's answer was told, whatever the machine's load did to the steps in between.
 */
const LOOK_INTERVAL_MS = 1_000;

function updateId(event: HistoryEvent): string | undefined {
  const attributes = (event.workflowExecutionUpdateAcceptedEventAttributes ??
    event.workflowExecutionUpdateCompletedEventAttributes) as
    { acceptedRequest?: { meta?: { updateId?: string } }; meta?: { updateId?: string } } | undefined;
  return attributes?.acceptedRequest?.meta?.updateId ?? attributes?.meta?.updateId;
}

function activityEvents(events: HistoryEvent[], activityType: string) {
  const scheduled = events.find(
    (event) =>
      (event.activityTaskScheduledEventAttributes as { activityType?: { name?: string } } | undefined)
        ?.activityType?.name === activityType,
  );
  const ofIt = (type: string, field: string) =>
    events.find(
      (event) =>
        event.eventType === type &&
        (event[field] as { scheduledEventId?: string } | undefined)?.scheduledEventId === scheduled?.eventId,
    );
  return {
    scheduled,
    started: ofIt('EVENT_TYPE_ACTIVITY_TASK_STARTED', 'activityTaskStartedEventAttributes'),
    completed: ofIt('EVENT_TYPE_ACTIVITY_TASK_COMPLETED', 'activityTaskCompletedEventAttributes'),
  };
}

describe('a new image the moment the revision before it became Healthy', () => {
  const scope = isolate('back-to-back');
  const { namespace } = scope;
  // A CDEvents sink that is down keeps each run open, delivering, for a while after it is done with
  // the cluster: the new run must go on at its predecessor's word, not wait for its close.
  const scenario = rolloutScenario(scope, app, {
    workerEnvironment: () => ({
      SIIRTO_CDEVENTS_SINK_URL: 'http://127.0.0.1:9/',
      SIIRTO_CDEVENTS_RETRY_FOR: '8s',
    }),
  });

  it('goes on as soon as the old run answers that it stood down, taking over the scale-down it left', async () => {
    // The old stable's pods outlive a promotion by 10 s: the run that promoted waits that long, open.
    await kubectlApply(
      rolloutManifest({ namespace, app, replicas: 1, steps: [{ setWeight: 50 }], scaleDownDelaySeconds: 10 }),
    );
    const first = await scenario.waitForStatus(
      'r1 Healthy',
      (s) => s.revision === 1 && s.phase === 'Healthy',
    );
    await setImage(namespace, app, `registry.example/${app}:2`);
    const second = await scenario.waitForStatus(
      'r2 Healthy',
      (s) => s.revision === 2 && s.phase === 'Healthy',
    );
    await setImage(namespace, app, `registry.example/${app}:3`);
    const third = await scenario.waitForStatus(
      'r3 Healthy',
      (s) => s.revision === 3 && s.phase === 'Healthy',
    );

    const secondHandle = scenario.client.workflow.getHandle(second.workflowId!);
    // Promoted before r3 came, it stays the revision that was stable; it only hands over its scale-down.
    expect(await secondHandle.result()).toMatchObject({
      phase: 'Healthy',
      scaleDowns: [{ templateHash: first.currentTemplateHash }],
    });
    const before = await historyOf(second.workflowId!);
    const after = await historyOf(third.workflowId!);

    // r2's history records r3 asking, and r2 answering once it had stood down.
    const asked = `stand-down-for-${third.workflowId}`;
    const answered = before.find(
      (event) =>
        event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED' && updateId(event) === asked,
    );
    const accepted = before.find(
      (event) =>
        event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED' && updateId(event) === asked,
    );
    expect(accepted).toBeDefined();
    expect(
      (
        accepted?.workflowExecutionUpdateAcceptedEventAttributes as {
          acceptedRequest: { input: { name: string } };
        }
      ).acceptedRequest.input.name,
    ).toBe(standDownUpdate.name);
    expect(answered).toBeDefined();

    // r3 waited for that answer in one attempt, went on within a look's interval of it by the
    // server's clock, and only then wrote its canary's ReplicaSet.
    const handoff = activityEvents(after, 'waitForWorkflowToClose');
    expect((handoff.started?.activityTaskStartedEventAttributes as { attempt: number }).attempt).toBe(1);
    const handedOver = recordedAt(handoff.completed!);
    expect(handedOver).toBeGreaterThanOrEqual(recordedAt(answered!));
    expect(handedOver - recordedAt(answered!)).toBeLessThan(LOOK_INTERVAL_MS);
    const closed = before.find((event) => event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED');
    expect(handedOver).toBeLessThan(recordedAt(closed!));
    const canaryWrite = activityEvents(after, 'ensureReplicaSet');
    expect(Number(canaryWrite.scheduled?.eventId)).toBeGreaterThan(Number(handoff.completed?.eventId));

    // What r2 left is r3's: the scale-down of r1's pods that r2 still waited out, done in its stead.
    await waitFor('r1 scaled to 0', async () => {
      const old = (await scenario.see.replicaSets(app)).find((rs) => rs.hash === first.currentTemplateHash);
      return old?.replicas === 0;
    });
    expect(await activitySummaries(third.workflowId!)).toContain(`scale ${first.currentTemplateHash} to 0`);
    await recordHistoryFixture('canary-answered-its-successor', secondHandle);
  });
});
