import * as k8s from '@kubernetes/client-node';
import { RETRY_ANNOTATION } from '../../kubernetes/labels';
import { abortUpdate, promoteUpdate, statusQuery } from '../../workflows/rollout-api';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { annotateRollout, setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'payments';

describe('aborting a canary', () => {
  const scope = isolate('abort');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);
  const { config } = kubeClients();

  /** Every change to the route and the ReplicaSets, in the order etcd applied them. */
  async function recordChanges() {
    const changes: { resourceVersion: number; what: string }[] = [];
    const watch = new k8s.Watch(config);
    const record =
      <T>(describe: (object: T) => string) =>
      (_type: string, object: T) => {
        const what = describe(object);
        const resourceVersion = Number(
          (object as { metadata: { resourceVersion: string } }).metadata.resourceVersion,
        );
        changes.push({ resourceVersion, what });
      };
    const requests = await Promise.all([
      watch.watch(
        `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes`,
        {},
        record((route: { spec: { rules: { backendRefs: { name: string; weight: number }[] }[] } }) => {
          const canary = route.spec.rules[0]?.backendRefs.find((ref) => ref.name === `${app}-canary`);
          return `route canary weight ${canary?.weight}`;
        }),
        () => undefined,
      ),
      watch.watch(
        `/apis/apps/v1/namespaces/${namespace}/replicasets`,
        {},
        record(
          (replicaSet: { metadata: { name: string }; spec: { replicas: number } }) =>
            `${replicaSet.metadata.name} replicas ${replicaSet.spec.replicas}`,
        ),
        () => undefined,
      ),
    ]);
    return {
      changes,
      stop: () => requests.forEach((request) => request.abort()),
    };
  }

  it('sends traffic back to stable before the canary scales to 0, then a retry completes it', async () => {
    await scenario.firstRevisionHealthy([{ setWeight: 40 }, { pause: {} }]);
    await setImage(namespace, app, `registry.example/${app}:2`);
    const paused = await scenario.waitForStatus(
      'r2 to pause at 40%',
      (s) => s.revision === 2 && s.phase === 'Paused',
    );
    const canaryReplicaSet = `${app}-${paused.currentTemplateHash}`;
    const handle = scenario.client.workflow.getHandle(paused.workflowId!);

    const recorder = await recordChanges();
    const accepted = await handle.executeUpdate(abortUpdate, {
      args: [{ reason: 'error budget burnt', by: 'on-call' }],
    });
    expect(accepted.phase).toBe('Paused');
    const degraded = await scenario.waitForStatus('r2 to become Degraded', (s) => s.phase === 'Degraded');

    expect(degraded.message).toContain('aborted by on-call: error budget burnt');
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    await waitFor(
      'the canary pods to go',
      async () => (await scenario.see.readyPods(paused.currentTemplateHash!)) === 0,
    );
    // The pods are read by a list, the changes by watches that may deliver a moment later.
    const recorded = (what: string) => recorder.changes.find((change) => change.what === what);
    await waitFor(
      'the watches to deliver the canary ReplicaSet at 0 replicas',
      async () => recorded(`${canaryReplicaSet} replicas 0`) !== undefined,
    );
    recorder.stop();
    const trafficBack = recorded('route canary weight 0');
    const canaryGone = recorded(`${canaryReplicaSet} replicas 0`);
    expect(trafficBack).toBeDefined();
    expect(trafficBack!.resourceVersion).toBeLessThan(canaryGone!.resourceVersion);

    // The workflow's validator refuses at once, with its reason.
    await expect(handle.executeUpdate(promoteUpdate, { args: [{}] })).rejects.toMatchObject({
      cause: { message: expect.stringContaining('nothing to promote') },
    });

    await annotateRollout(namespace, app, `${RETRY_ANNOTATION}=true`);
    await scenario.waitForStatus(
      'r2 to pause again after the retry',
      (s) => s.phase === 'Paused' && s.revision === 2,
    );
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 60, [`${app}-canary`]: 40 });
    expect(await handle.query(statusQuery)).toMatchObject({ paused: true, currentStepIndex: 1 });

    await handle.executeUpdate(promoteUpdate, { args: [{ by: 'on-call' }] });
    const healthy = await scenario.waitForStatus(
      'r2 to become Healthy',
      (s) => s.phase === 'Healthy' && s.revision === 2,
    );
    expect(healthy.stableTemplateHash).toBe(paused.currentTemplateHash);
    expect(healthy.message).toContain('promoted by on-call');
    await handle.result();
    await recordHistoryFixture('canary-aborted-then-retried', handle);
  });
});
