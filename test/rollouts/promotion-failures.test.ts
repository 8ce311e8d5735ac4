import { abortUpdate, promoteUpdate, retryUpdate } from '../../workflows/rollout-api';
import { POD_TEMPLATE_HASH_LABEL } from '../../kubernetes/labels';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import {
  kubectlApply,
  patchRolloutSpec,
  podMetadata,
  rolloutManifest,
  sampleContainer,
  setImage,
} from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { bridgeProbes } from '../k8s-bridge/bridge-probes';

const app = 'orders';
const replicas = 4;
const progressDeadlineSeconds = 20;

describe('a promotion that cannot get its pods', () => {
  const scope = isolate('promotion-failure');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);
  const { core } = kubeClients();
  const quota = 'hold-promotion';

  async function warningEvents(name: string) {
    const events = await core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.kind=Rollout,involvedObject.name=${name}`,
    });
    return events.items.filter((event) => event.type === 'Warning').map((event) => event.reason);
  }

  async function workflowStatus(workflowId: string): Promise<string> {
    return (await scenario.client.workflow.getHandle(workflowId).describe()).status.name;
  }

  it('goes back to stable and ends Degraded when the quota holds the canary below full size past the deadline', async () => {
    await scenario.firstRevisionHealthy([{ setWeight: 50 }, { pause: {} }], {
      replicas,
      progressDeadlineSeconds,
    });
    await setImage(namespace, app, `registry.example/${app}:2`);
    const paused = await scenario.waitForStatus(
      'r2 to pause at 50%',
      (s) => s.revision === 2 && s.phase === 'Paused',
    );
    // The pods running now are all the namespace may have: promotion cannot add the canary's last two.
    await core.createNamespacedResourceQuota({
      namespace,
      body: { metadata: { name: quota }, spec: { hard: { pods: `${replicas + 2}` } } },
    });
    await waitFor('the quota controller to count the pods', async () => {
      const counted = await core.readNamespacedResourceQuota({ namespace, name: quota });
      return counted.status?.used?.pods === `${replicas + 2}`;
    });

    const handle = scenario.client.workflow.getHandle(paused.workflowId!);
    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    const degraded = await scenario.waitForStatus(
      'r2 to become Degraded at the progress deadline',
      (s) => s.revision === 2 && s.phase === 'Degraded',
      (progressDeadlineSeconds + 60) * 1000,
    );

    expect(degraded.message).toContain(`after the progress deadline of ${progressDeadlineSeconds}s`);
    expect(degraded.weights).toEqual({ stable: 100, canary: 0 });
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    expect(await scenario.see.serviceSelector(`${app}-stable`)).toMatchObject({
      [POD_TEMPLATE_HASH_LABEL]: paused.stableTemplateHash,
    });
    await waitFor('the canary to be scaled to 0', async () => {
      const canary = (await scenario.see.replicaSets(app)).find(
        (rs) => rs.hash === paused.currentTemplateHash,
      );
      return canary?.replicas === 0;
    });
    expect(await warningEvents(app)).toContain('ProgressDeadlineExceeded');
    // Waiting for a retry, not Failed.
    expect(await workflowStatus(paused.workflowId!)).toBe('RUNNING');
  });

  it('accepts an abort while the promotion waits for the canary pods', async () => {
    const degraded = await scenario.see.rolloutStatus(app);
    const handle = scenario.client.workflow.getHandle(degraded.workflowId!);
    await handle.executeUpdate(retryUpdate, { args: [{}] });
    await scenario.waitForStatus(
      'r2 to pause at 50% again',
      (s) => s.revision === 2 && s.phase === 'Paused' && s.weights?.canary === 50,
    );
    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    await scenario.waitForStatus('the promotion to wait for the canary pods', (s) =>
      /promoting: scaling the canary to 4 pods/.test(s.message ?? ''),
    );

    const accepted = await handle.executeUpdate(abortUpdate, { args: [{ reason: 'quota', by: 'on-call' }] });
    expect(accepted.phase).toBe('Progressing');
    const aborted = await scenario.waitForStatus(
      'r2 to become Degraded by the abort',
      (s) => s.phase === 'Degraded' && /aborted by on-call: quota/.test(s.message ?? ''),
    );
    expect(aborted.weights).toEqual({ stable: 100, canary: 0 });
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    await core.deleteNamespacedResourceQuota({ namespace, name: quota });
    await recordHistoryFixture('canary-promotion-starved-then-aborted', handle);
  });

  it('starts the next revision clean: its canary Service selects its own Ready pods', async () => {
    await setImage(namespace, app, `registry.example/${app}:3`);
    const third = await scenario.waitForStatus(
      'r3 to pause at 50%',
      (s) => s.revision === 3 && s.phase === 'Paused',
    );
    expect(await scenario.see.serviceSelector(`${app}-canary`)).toMatchObject({
      [POD_TEMPLATE_HASH_LABEL]: third.currentTemplateHash,
    });
    expect(await scenario.see.readyPods(third.currentTemplateHash!)).toBe(replicas / 2);
    await scenario.client.workflow.getHandle(third.workflowId!).executeUpdate(promoteUpdate, { args: [{}] });
    const healthy = await scenario.waitForStatus(
      'r3 to become Healthy',
      (s) => s.revision === 3 && s.phase === 'Healthy',
    );
    expect(healthy.stableTemplateHash).toBe(third.currentTemplateHash);
  });

  it('lets a newer revision that arrives while one waits for its predecessor roll out, with none waiting forever', async () => {
    // With the worker stopped, r4 and r5 are both started before either runs: r5 supersedes r4 before
    // r4's first step, a pause that no activity precedes.
    await scenario.worker.stop();
    const probes = bridgeProbes(scenario.client, namespace);
    await patchRolloutSpec(namespace, app, {
      template: { spec: { containers: [sampleContainer(`registry.example/${app}:4`)] } },
      strategy: { canary: { steps: [{ pause: {} }, { setWeight: 50 }, { pause: {} }] } },
    });
    const fourthInput = await waitFor('the bridge to start r4', () =>
      probes.startInput(`${namespace}/${app}/r4`).catch(() => undefined),
    );
    await setImage(namespace, app, `registry.example/${app}:5`);
    await waitFor('the bridge to start r5', () =>
      probes.startInput(`${namespace}/${app}/r5`).catch(() => undefined),
    );
    await scenario.worker.start();

    const fifth = await scenario.waitForStatus(
      'r5 to pause at its first step',
      (s) => s.revision === 5 && s.phase === 'Paused' && s.currentStepIndex === 0,
      90_000,
    );
    const fourth = scenario.client.workflow.getHandle(`${namespace}/${app}/r4`);
    expect(await fourth.result()).toMatchObject({ message: 'superseded by r5 before it started' });
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    // r4 never touched the cluster; r5 goes on as any revision does.
    expect(
      (await scenario.see.replicaSets(app)).find((rs) => rs.hash === fourthInput.templateHash),
    ).toBeUndefined();
    await scenario.client.workflow.getHandle(fifth.workflowId!).executeUpdate(promoteUpdate, { args: [{}] });
    await scenario.waitForStatus('r5 to pause at 50%', (s) => s.revision === 5 && s.currentStepIndex === 2);
    expect(await scenario.see.serviceSelector(`${app}-canary`)).toMatchObject({
      [POD_TEMPLATE_HASH_LABEL]: fifth.currentTemplateHash,
    });
    await recordHistoryFixture('canary-superseded-before-start', fourth);
  });
});

describe('a first revision whose pods never become Ready', () => {
  const scope = isolate('first-unready');
  const { namespace } = scope;
  const first = 'ledger';
  const scenario = rolloutScenario(scope, first);

  it('ends Degraded at the progress deadline, not Progressing forever, and a fixed template rolls out', async () => {
    const manifest = JSON.parse(
      rolloutManifest({
        namespace,
        app: first,
        steps: [{ setWeight: 50 }],
        replicas: 2,
        progressDeadlineSeconds: 15,
      }),
    ) as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
    manifest.spec.template.metadata.annotations['stack.siirto.dev/ready'] = 'false';
    await kubectlApply(JSON.stringify(manifest));

    const degraded = await scenario.waitForStatus(
      'r1 to become Degraded',
      (s) => s.revision === 1 && s.phase === 'Degraded',
      75_000,
    );
    expect(degraded.message).toContain('0 of 2 pods available after the progress deadline of 15s');
    const handle = scenario.client.workflow.getHandle(degraded.workflowId!);
    expect((await handle.describe()).status.name).toBe('RUNNING');

    await patchRolloutSpec(namespace, first, {
      template: { metadata: { ...podMetadata(first), annotations: { 'stack.siirto.dev/ready': null } } },
    });
    const healthy = await scenario.waitForStatus(
      'r2 to become Healthy',
      (s) => s.revision === 2 && s.phase === 'Healthy',
    );
    expect(await scenario.see.readyPods(healthy.stableTemplateHash!)).toBe(2);
    expect(await handle.result()).toMatchObject({ message: 'superseded by r2' });
    // The pods that never became Ready went with their revision.
    const unready = (await scenario.see.replicaSets(first)).find(
      (rs) => rs.hash === degraded.currentTemplateHash,
    );
    expect(unready?.replicas).toBe(0);
    await recordHistoryFixture('first-revision-never-ready', handle);
  });
});
