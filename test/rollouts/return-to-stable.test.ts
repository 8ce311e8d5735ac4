import { POD_TEMPLATE_HASH_LABEL } from '../../kubernetes/labels';
import { abortUpdate, promoteUpdate, retryUpdate } from '../../workflows/rollout-api';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import {
  kubectlApply,
  patchRolloutSpec,
  podMetadata,
  sampleContainer,
  servicesAndRoute,
  setImage,
} from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { eventSummary, historyOf, recordHistoryFixture, type HistoryEvent } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'billing';
const replicas = 2;

describe('going back to stable when the cluster has changed under the rollout', () => {
  const scope = isolate('return-to-stable');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);

  async function workflowStatus(workflowId: string): Promise<string> {
    return (await scenario.client.workflow.getHandle(workflowId).describe()).status.name;
  }

  it('ends an abort with the HTTPRoute deleted in Degraded, naming the route and the fix, with the canary scaled down', async () => {
    await scenario.firstRevisionHealthy([{ setWeight: 50 }, { pause: {} }], { replicas });
    await setImage(namespace, app, `registry.example/${app}:2`);
    const paused = await scenario.waitForStatus(
      'r2 to pause at 50%',
      (s) => s.revision === 2 && s.phase === 'Paused',
    );
    await runOrThrow('kubectl', ['delete', 'httproute', app, '-n', namespace]);

    const handle = scenario.client.workflow.getHandle(paused.workflowId!);
    await handle.executeUpdate(abortUpdate, { args: [{ reason: 'bad build' }] });
    const degraded = await scenario.waitForStatus('r2 to become Degraded', (s) => s.phase === 'Degraded');
    expect(degraded.message).toContain('aborted: bad build; then traffic could not be moved back to stable');
    expect(degraded.message).toContain(`HTTPRoute ${namespace}/${app}`);
    expect(degraded.message).toContain('does not exist; create it');
    await waitFor(
      'the canary to be scaled to 0',
      async () => (await scenario.see.replicasOf(app, paused.currentTemplateHash)) === 0,
    );
    expect(await workflowStatus(paused.workflowId!)).toBe('RUNNING');

    // With the route back, a retry completes the revision.
    await kubectlApply(servicesAndRoute(namespace, app));
    await handle.executeUpdate(retryUpdate, { args: [{}] });
    await scenario.waitForStatus(
      'r2 to pause at 50% again',
      (s) => s.phase === 'Paused' && s.weights?.canary === 50,
    );
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 50, [`${app}-canary`]: 50 });
    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    await scenario.waitForStatus('r2 to become Healthy', (s) => s.revision === 2 && s.phase === 'Healthy');
    await recordHistoryFixture('canary-aborted-with-route-deleted', handle);
  });

  it('ends a promotion onto a route edited to drop the canary in Degraded, the stable Service left on stable', async () => {
    await setImage(namespace, app, `registry.example/${app}:3`);
    const paused = await scenario.waitForStatus(
      'r3 to pause at 50%',
      (s) => s.revision === 3 && s.phase === 'Paused',
    );
    // A GitOps sync of an older route: no canary backendRef any more.
    await runOrThrow('kubectl', [
      'patch',
      'httproute',
      app,
      '-n',
      namespace,
      '--type',
      'json',
      '-p',
      JSON.stringify([
        {
          op: 'replace',
          path: '/spec/rules/0/backendRefs',
          value: [{ name: `${app}-stable`, port: 80, weight: 100 }],
        },
      ]),
    ]);

    const handle = scenario.client.workflow.getHandle(paused.workflowId!);
    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    const degraded = await scenario.waitForStatus('r3 to become Degraded', (s) => s.phase === 'Degraded');
    expect(degraded.message).toContain('promotion failed: spec.rules[0]');
    expect(degraded.message).toContain(`add {name: ${app}-canary`);
    // The stable Service never stays on pods that are not the stable revision's.
    expect(await scenario.see.serviceSelector(`${app}-stable`)).toMatchObject({
      [POD_TEMPLATE_HASH_LABEL]: paused.stableTemplateHash,
    });
    await waitFor(
      'the canary to be scaled to 0',
      async () => (await scenario.see.replicasOf(app, paused.currentTemplateHash)) === 0,
    );
    expect(await workflowStatus(paused.workflowId!)).toBe('RUNNING');
    await kubectlApply(servicesAndRoute(namespace, app));
    await recordHistoryFixture('canary-promotion-onto-edited-route', handle);
  });

  it('moves traffic back within a second of an abort while the canary waits for its pods', async () => {
    const before = await scenario.see.rolloutStatus(app);
    // Pods that never become Ready: the first step waits for them until its deadline.
    await patchRolloutSpec(namespace, app, {
      template: {
        metadata: { ...podMetadata(app), annotations: { 'stack.siirto.dev/ready': 'false' } },
        spec: { containers: [sampleContainer(`registry.example/${app}:4`)] },
      },
    });
    const waiting = await scenario.waitForStatus(
      'r4 to wait for its canary pods',
      (s) => s.revision === 4 && s.phase === 'Progressing' && s.workflowId !== before.workflowId,
    );
    const workflowId = waiting.workflowId!;
    await waitFor('the canary pods to be created, and not Ready', async () => {
      const canary = (await scenario.see.replicaSets(app)).find(
        (rs) => rs.hash === waiting.currentTemplateHash,
      );
      return canary?.replicas === 1 && canary.readyReplicas === 0;
    });
    // Long enough for the wait's heartbeats to be under way.
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    const handle = scenario.client.workflow.getHandle(workflowId);
    await handle.executeUpdate(abortUpdate, { args: [{ reason: 'stuck' }] });
    await scenario.waitForStatus('r4 to become Degraded', (s) => s.revision === 4 && s.phase === 'Degraded');

    const events = await historyOf(workflowId);
    const time = (event: HistoryEvent | undefined) => Date.parse(event?.eventTime as string);
    const accepted = events.find(
      (event) => event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED',
    );
    const backToStable = events.find(
      (event) =>
        event.eventType === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED' &&
        eventSummary(event) === 'abort: traffic back to stable',
    );
    const reaction = time(backToStable) - time(accepted);
    console.log(`abort while waiting for pods → traffic back to stable scheduled after ${reaction} ms`);
    expect(reaction).toBeGreaterThanOrEqual(0);
    expect(reaction).toBeLessThan(1_000);
    await recordHistoryFixture('canary-aborted-while-waiting-for-pods', handle);
  });
});
