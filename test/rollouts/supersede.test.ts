import * as k8s from '@kubernetes/client-node';
import { POD_TEMPLATE_HASH_LABEL } from '../../kubernetes/labels';
import { promoteUpdate } from '../../workflows/rollout-api';
import { canaryReplicasFor } from '../../workflows/strategies/canary-plan';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { recordHistoryFixture } from '../harness/temporal';
import { bridgeProbes } from '../k8s-bridge/bridge-probes';
import { waitFor } from '../harness/wait';

const app = 'search';
const replicas = 4;

describe('a new image while a canary is at 50%', () => {
  const scope = isolate('supersede');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);
  const { config, core, custom } = kubeClients();

  /**
   * Checks every route state that sends the canary traffic against the pods behind the canary
   * Service at that moment. A state already replaced by the time it is checked is not judged.
   */
  async function watchCanaryTraffic() {
    const judged: { weight: number; ready: number; needed: number }[] = [];
    const watch = new k8s.Watch(config);
    const request = await watch.watch(
      `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes`,
      { fieldSelector: `metadata.name=${app}` },
      (
        _type,
        route: {
          metadata: { resourceVersion: string };
          spec: { rules: { backendRefs: { name: string; weight: number }[] }[] };
        },
      ) => {
        const weight =
          route.spec.rules[0]?.backendRefs.find((ref) => ref.name === `${app}-canary`)?.weight ?? 0;
        if (weight === 0) return;
        // The watch goes on while this judges the change; a read that fails (as when the test has
        // ended) leaves this weight unjudged, and only a judged weight is asserted on.
        void (async () => {
          const selector = await scenario.see.serviceSelector(`${app}-canary`);
          const ready = await scenario.see.readyPods(selector[POD_TEMPLATE_HASH_LABEL] ?? 'none');
          const now = (await custom.getNamespacedCustomObject({
            group: 'gateway.networking.k8s.io',
            version: 'v1',
            namespace,
            plural: 'httproutes',
            name: app,
          })) as { metadata: { resourceVersion: string } };
          if (now.metadata.resourceVersion === route.metadata.resourceVersion) {
            judged.push({ weight, ready, needed: canaryReplicasFor(replicas, weight) });
          }
        })().catch(() => undefined);
      },
      () => undefined,
    );
    return { judged, stop: () => request.abort() };
  }

  it('stands the old revision down and rolls the newest one out, never routing to unready pods', async () => {
    await scenario.firstRevisionHealthy([{ setWeight: 50 }, { pause: {} }], { replicas });
    const traffic = await watchCanaryTraffic();

    await setImage(namespace, app, `registry.example/${app}:2`);
    const second = await scenario.waitForStatus(
      'r2 to pause at 50%',
      (s) => s.revision === 2 && s.phase === 'Paused',
    );
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 50, [`${app}-canary`]: 50 });

    await setImage(namespace, app, `registry.example/${app}:3`);
    const third = await scenario.waitForStatus(
      'r3 to pause at 50%',
      (s) => s.revision === 3 && s.phase === 'Paused',
    );
    expect(third.stableTemplateHash).toBe(second.stableTemplateHash);

    const superseded = scenario.client.workflow.getHandle(second.workflowId!);
    expect(await superseded.result()).toMatchObject({
      message: 'superseded by r3',
      weights: { stable: 100, canary: 0 },
    });
    // Its canary's pods outlive the traffic by abortScaleDownDelaySeconds; then r3 scales them down.
    await waitFor('r2 canary to be scaled to 0', async () => {
      const secondCanary = (await scenario.see.replicaSets(app)).find(
        (rs) => rs.hash === second.currentTemplateHash,
      );
      return secondCanary?.replicas === 0;
    });

    const newest = scenario.client.workflow.getHandle(third.workflowId!);
    await newest.executeUpdate(promoteUpdate, { args: [{}] });
    const healthy = await scenario.waitForStatus(
      'r3 to become Healthy',
      (s) => s.revision === 3 && s.phase === 'Healthy',
    );
    expect(healthy.stableTemplateHash).toBe(third.currentTemplateHash);
    expect(await scenario.see.readyPods(third.currentTemplateHash!)).toBe(replicas);
    traffic.stop();

    expect(traffic.judged.length).toBeGreaterThan(0);
    for (const state of traffic.judged) expect(state.ready).toBeGreaterThanOrEqual(state.needed);
    await newest.result();
    await recordHistoryFixture('canary-superseded', superseded);
    await recordHistoryFixture('canary-superseding', newest);
  });

  it('lets a new image supersede a promotion held at its last scale-up, starting from the stable whose pods still serve', async () => {
    await setImage(namespace, app, `registry.example/${app}:4`);
    const fourth = await scenario.waitForStatus(
      'r4 to pause at 50%',
      (s) => s.revision === 4 && s.phase === 'Paused',
    );
    const previousStable = fourth.stableTemplateHash!;
    // A quota of the pods running now holds r4's promotion at its last scale-up, before the stable
    // Service moves to it: r5 arrives while r4 may still be aborted or superseded.
    const quota = { metadata: { name: 'hold-promotion' }, spec: { hard: { pods: `${replicas + 2}` } } };
    await core.createNamespacedResourceQuota({ namespace, body: quota });
    await waitFor('the quota controller to count the pods', async () => {
      const counted = await core.readNamespacedResourceQuota({ namespace, name: quota.metadata.name });
      return counted.status?.used?.pods === `${replicas + 2}`;
    });
    const fourthHandle = scenario.client.workflow.getHandle(fourth.workflowId!);
    await fourthHandle.executeUpdate(promoteUpdate, { args: [{ full: true }] });
    await waitFor('r4 to scale its ReplicaSet to the full count', async () => {
      const canary = (await scenario.see.replicaSets(app)).find(
        (rs) => rs.hash === fourth.currentTemplateHash,
      );
      return canary?.replicas === replicas;
    });

    await setImage(namespace, app, `registry.example/${app}:5`);
    const fifthId = `${namespace}/${app}/r5`;
    const fifthInput = await waitFor('the bridge to start r5', () =>
      bridgeProbes(scenario.client, namespace).startInput(fifthId),
    );
    expect(fifthInput.stableTemplateHash).toBe(previousStable);
    expect(await fourthHandle.result()).toMatchObject({
      message: 'superseded by r5',
      stableTemplateHash: previousStable,
      weights: { stable: 100, canary: 0 },
    });
    await core.deleteNamespacedResourceQuota({ namespace, name: quota.metadata.name });

    const fifth = await scenario.waitForStatus(
      'r5 to pause at 50%',
      (s) => s.revision === 5 && s.phase === 'Paused',
    );
    // r5 splits traffic between itself and r3, whose pods never stopped serving; r4's go.
    expect(fifth.stableTemplateHash).toBe(previousStable);
    expect(await scenario.see.serviceSelector(`${app}-stable`)).toMatchObject({
      [POD_TEMPLATE_HASH_LABEL]: previousStable,
    });
    expect(await scenario.see.readyPods(previousStable)).toBe(replicas);
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 50, [`${app}-canary`]: 50 });
    await waitFor('r4 to scale down', async () => {
      const old = (await scenario.see.replicaSets(app)).find((rs) => rs.hash === fourth.currentTemplateHash);
      return (old?.replicas ?? 0) === 0;
    });
    const fifthHandle = scenario.client.workflow.getHandle(fifthId);
    await fifthHandle.executeUpdate(promoteUpdate, { args: [{ full: true }] });
    expect(await fifthHandle.result()).toMatchObject({ phase: 'Healthy' });
    await recordHistoryFixture('canary-superseding-a-promotion', fifthHandle);
  });
});
