import { promoteUpdate } from '../../workflows/rollout-api';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { kubectlApply, setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'inventory';
const steps = [{ setWeight: 50 }, { pause: {} }];
// Far beyond the waits below: a restore must not take until the deadline.
const progressDeadlineSeconds = 120;

describe('sizing a Rollout without a new revision', () => {
  const scope = isolate('resize');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);
  const { see } = scenario;

  const kubectl = (...args: string[]) => runOrThrow('kubectl', [...args, '-n', namespace]);

  async function replicaSetOf(hash: string | undefined) {
    return (await see.replicaSets(app)).find((replicaSet) => replicaSet.hash === hash);
  }

  /** Waits until the revision's ReplicaSet asks for `replicas` pods and has them all Ready. */
  function sized(what: string, hash: string | undefined, replicas: number, timeoutMs = 30_000) {
    return waitFor(
      `${what} to have ${replicas} pods Ready`,
      async () => {
        const replicaSet = await replicaSetOf(hash);
        return replicaSet?.replicas === replicas && replicaSet.readyReplicas === replicas && replicaSet;
      },
      { timeoutMs },
    );
  }

  async function event(reason: string, containing: string) {
    return waitFor(`a ${reason} Event saying "${containing}"`, async () =>
      (await see.rolloutEvents(app)).find(
        (event) => event.reason === reason && event.message.includes(containing),
      ),
    );
  }

  it('scales a Healthy Rollout with kubectl scale, through its scale subresource, without a new revision', async () => {
    const healthy = await scenario.firstRevisionHealthy(steps, { replicas: 2, progressDeadlineSeconds });
    expect(healthy).toMatchObject({ replicas: 2, selector: `app=${app}` });

    await kubectl('scale', `rollouts.siirto.dev/${app}`, '--replicas=4');
    await sized('the stable ReplicaSet', healthy.stableTemplateHash, 4);
    const status = await scenario.waitForStatus('status.replicas 4', (s) => s.replicas === 4);
    expect(status).toMatchObject({
      phase: 'Healthy',
      revision: 1,
      stableTemplateHash: healthy.stableTemplateHash,
    });
    const scale = JSON.parse(
      await kubectl('get', `rollouts.siirto.dev/${app}`, '--subresource=scale', '-o', 'json'),
    ) as {
      kind: string;
      spec: { replicas: number };
      status: { replicas: number; selector: string };
    };
    expect(scale).toMatchObject({
      kind: 'Scale',
      spec: { replicas: 4 },
      status: { replicas: 4, selector: `app=${app}` },
    });
    await event('Resized', 'resized to spec.replicas 4: stable 4');
  });

  it('resizes stable and canary of a rollout paused at 50% to the new size, keeping the weights, and promotes at that size', async () => {
    await setImage(namespace, app, `registry.example/${app}:2`);
    const paused = await scenario.waitForStatus(
      'r2 to pause at 50%',
      (s) => s.revision === 2 && s.phase === 'Paused',
    );
    await sized('the canary', paused.currentTemplateHash, 2);

    await kubectl('scale', `rollouts.siirto.dev/${app}`, '--replicas=6');
    await sized('the stable ReplicaSet', paused.stableTemplateHash, 6);
    await sized('the canary', paused.currentTemplateHash, 3);
    await event('Resized', 'resized to spec.replicas 6: stable 6, canary 3 for 50% of traffic');
    const resized = await scenario.waitForStatus('status.replicas 6', (s) => s.replicas === 6);
    expect(resized).toMatchObject({ phase: 'Paused', revision: 2, weights: { stable: 50, canary: 50 } });
    expect(await see.routeWeights(app)).toEqual({ [`${app}-stable`]: 50, [`${app}-canary`]: 50 });

    const handle = scenario.client.workflow.getHandle(paused.workflowId!);
    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    await scenario.waitForStatus('r2 to become Healthy', (s) => s.revision === 2 && s.phase === 'Healthy');
    await sized('r2, now stable,', paused.currentTemplateHash, 6);
    await waitFor(
      'the old stable to be scaled to 0',
      async () => (await replicaSetOf(paused.stableTemplateHash))?.replicas === 0,
    );
    await recordHistoryFixture('canary-resized-while-paused', handle);
  });

  it('scales back a canary ReplicaSet scaled down by hand mid-step at once, with a Warning naming who did it', async () => {
    await setImage(namespace, app, `registry.example/${app}:3`);
    const paused = await scenario.waitForStatus(
      'r3 to pause at 50%',
      (s) => s.revision === 3 && s.phase === 'Paused',
    );
    const canary = await sized('the canary', paused.currentTemplateHash, 3);

    const scaledAt = Date.now();
    await kubectl('scale', `replicaset/${canary.name}`, '--replicas=0');
    await event('ReplicaSetRestored', 'was scaled to 0 by a scale request (kubectl scale, say)');
    await sized('the canary, restored,', paused.currentTemplateHash, 3);
    const back = await scenario.waitForStatus(
      'r3 to hold 50% again',
      (s) => s.phase === 'Paused' && s.weights?.canary === 50,
    );
    // Restored at once: nowhere near the progress deadline the wait would otherwise have run to.
    expect(Date.now() - scaledAt).toBeLessThan((progressDeadlineSeconds * 1_000) / 2);
    expect(back.revision).toBe(3);
    expect(await see.routeWeights(app)).toEqual({ [`${app}-stable`]: 50, [`${app}-canary`]: 50 });
  });

  it('sets route weights changed by someone else back, with a Warning naming who changed them', async () => {
    const paused = await see.rolloutStatus(app);
    expect(paused).toMatchObject({ revision: 3, phase: 'Paused', weights: { canary: 50 } });

    // A GitOps tool syncing the route as it is in Git: everything on stable.
    await kubectl(
      'patch',
      'httproute',
      app,
      '--type',
      'json',
      '-p',
      JSON.stringify([
        { op: 'replace', path: '/spec/rules/0/backendRefs/0/weight', value: 100 },
        { op: 'replace', path: '/spec/rules/0/backendRefs/1/weight', value: 0 },
      ]),
    );
    const restored = await event(
      'TrafficWeightsRestored',
      `HTTPRoute ${namespace}/${app} had its weights changed to ${app}-stable=100, ${app}-canary=0 by kubectl`,
    );
    expect(restored.type).toBe('Warning');
    expect(restored.message).toContain('set them back to stable 50% / canary 50%');
    await waitFor('the weights to be 50/50 again', async () => {
      const weights = await see.routeWeights(app);
      return weights[`${app}-canary`] === 50 && weights[`${app}-stable`] === 50;
    });

    const handle = scenario.client.workflow.getHandle(paused.workflowId!);
    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    await scenario.waitForStatus('r3 to become Healthy', (s) => s.revision === 3 && s.phase === 'Healthy');
    await recordHistoryFixture('canary-restored-replica-set-and-weights', handle);
  });

  it('sizes the canary a step waits for anew when the Rollout is scaled down meanwhile, and goes on', async () => {
    const healthy = await see.rolloutStatus(app);
    expect(healthy).toMatchObject({ revision: 3, phase: 'Healthy', replicas: 6 });
    // Room for one canary pod of the three that 50% of 6 needs: the step waits.
    const quota = 'one-canary-pod';
    await kubectlApply(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ResourceQuota',
        metadata: { name: quota, namespace },
        spec: { hard: { pods: '7' } },
      }),
    );
    await waitFor(
      'the quota controller to count the pods',
      async () =>
        JSON.parse(await kubectl('get', 'resourcequota', quota, '-o', 'json')).status?.used?.pods === '6',
    );
    await setImage(namespace, app, `registry.example/${app}:4`);
    const waiting = await scenario.waitForStatus(
      'r4 to wait for its canary pods',
      (s) =>
        s.revision === 4 && s.phase === 'Progressing' && s.currentTemplateHash !== healthy.stableTemplateHash,
    );
    await waitFor('one canary pod of three to be Ready', async () => {
      const canary = await replicaSetOf(waiting.currentTemplateHash);
      return canary?.replicas === 3 && canary.readyReplicas === 1;
    });

    await kubectl('scale', `rollouts.siirto.dev/${app}`, '--replicas=2');
    const paused = await scenario.waitForStatus(
      'r4 to pause at 50% with the canary it has',
      (s) => s.revision === 4 && s.phase === 'Paused' && s.weights?.canary === 50,
    );
    expect(paused.replicas).toBe(2);
    await sized('the stable ReplicaSet', healthy.stableTemplateHash, 2);
    await sized('the canary', waiting.currentTemplateHash, 1);
    await kubectl('delete', 'resourcequota', quota);

    const handle = scenario.client.workflow.getHandle(paused.workflowId!);
    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    await scenario.waitForStatus('r4 to become Healthy', (s) => s.revision === 4 && s.phase === 'Healthy');
    await sized('r4, now stable,', waiting.currentTemplateHash, 2);
    await recordHistoryFixture('canary-resized-while-waiting-for-pods', handle);
  });

  it('lets a HorizontalPodAutoscaler size the Rollout through its scale subresource', async () => {
    const healthy = await see.rolloutStatus(app);
    // Below its minReplicas the autoscaler scales up without needing any metric.
    await kubectlApply(
      JSON.stringify({
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: app, namespace },
        spec: {
          scaleTargetRef: { apiVersion: 'siirto.dev/v1alpha1', kind: 'Rollout', name: app },
          minReplicas: 7,
          maxReplicas: 8,
          metrics: [
            {
              type: 'Resource',
              resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
            },
          ],
        },
      }),
    );
    // The autoscaler looks every 15 s.
    await sized('the stable ReplicaSet', healthy.stableTemplateHash, 7, 60_000);
    const status = await scenario.waitForStatus('status.replicas 7', (s) => s.replicas === 7);
    expect(status).toMatchObject({ phase: 'Healthy', revision: 4 });
    const autoscaler = JSON.parse(await kubectl('get', 'hpa', app, '-o', 'json')) as {
      status: { conditions?: { type: string; status: string }[] };
    };
    expect(autoscaler.status.conditions).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'AbleToScale', status: 'True' })]),
    );
    await kubectl('delete', 'hpa', app);
  });
});
