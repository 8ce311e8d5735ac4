import type { Client } from '@temporalio/client';
import type { RolloutStatus } from '../../schemas/rollout';
import { isolate } from '../harness/isolation';
import { rolloutManifest, servicesAndRoute } from '../harness/rollout-fixtures';
import { startSecondCluster, type SecondCluster } from '../harness/second-cluster';
import { siirtoBridge, siirtoWorker, type SiirtoProcess } from '../harness/siirto-processes';
import { temporalClient } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const CLUSTER_ID = 'outage';
const progressDeadlineSeconds = 8;
/** Longer than the deadline, as a control-plane upgrade or an etcd restart can take. */
const OUTAGE_MS = 14_000;

interface ReplicaSetJson {
  metadata: { name: string; generation?: number };
  spec: { replicas?: number };
}

/**
 * A progress deadline while the apiserver cannot be read. The cluster is a kube-apiserver of the
 * test's own (test/harness/second-cluster.ts), so stopping it disturbs no other test; it runs no
 * controllers, so the test plays the ReplicaSet controller's part and writes a ReplicaSet's status
 * itself when its pods are to count as available.
 */
describe('a progress deadline while the apiserver cannot be read', () => {
  const scope = isolate('apiserver-outage');
  const { namespace } = scope;
  let cluster: SecondCluster;
  let client: Client;
  let bridge: SiirtoProcess;
  let worker: SiirtoProcess;

  const rolloutStatus = async (app: string): Promise<RolloutStatus> => {
    const rollout = JSON.parse(
      await cluster.kubectl(['get', 'rollouts.siirto.dev', app, '-n', namespace, '-o', 'json']),
    ) as {
      status?: RolloutStatus;
    };
    return rollout.status ?? {};
  };
  const replicaSetOf = async (app: string): Promise<ReplicaSetJson | undefined> => {
    const list = JSON.parse(
      await cluster.kubectl(['get', 'replicasets', '-n', namespace, '-l', `app=${app}`, '-o', 'json']),
    ) as { items: ReplicaSetJson[] };
    return list.items[0];
  };
  /** Applies a first revision of one pod and waits until its run waits for that pod. */
  const firstRevisionWaitingForPods = async (app: string) => {
    await cluster.kubectl(['apply', '-f', '-'], servicesAndRoute(namespace, app));
    await cluster.kubectl(
      ['apply', '-f', '-'],
      rolloutManifest({ namespace, app, replicas: 1, steps: [{ setWeight: 50 }], progressDeadlineSeconds }),
    );
    const handle = client.workflow.getHandle(`${CLUSTER_ID}/${namespace}/${app}/r1`);
    await waitFor(`${app} r1 to wait for its pods`, async () => {
      const description = await handle.describe().catch(() => undefined);
      return (description?.raw.pendingActivities ?? []).some(
        (activity) => activity.activityType?.name === 'waitForReplicaSetAvailable',
      );
    });
    return Date.now();
  };
  const outage = async () => {
    await cluster.halt();
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    await cluster.resume();
  };

  beforeAll(async () => {
    cluster = await startSecondCluster(scope.namespace);
    await cluster.kubectl(['create', 'namespace', namespace]);
    client = await temporalClient();
    const environment = { KUBECONFIG: cluster.kubeconfig, SIIRTO_CLUSTER_ID: CLUSTER_ID };
    bridge = siirtoBridge(scope, 'bridge', environment);
    worker = siirtoWorker(scope, 'worker', environment);
    await Promise.all([bridge.start(), worker.start()]);
  }, 240_000);

  afterAll(async () => {
    await Promise.all([bridge?.stop(), worker?.stop()]);
    await cluster?.stop();
    await client?.connection.close();
  });

  it('does not pass while the apiserver is down: pods available after it came back still count', async () => {
    const app = 'outlasted';
    await firstRevisionWaitingForPods(app);
    await outage();

    // The ReplicaSet controller's part, once the apiserver is back: the pod is Ready.
    const replicaSet = await replicaSetOf(app);
    expect(replicaSet).toBeDefined();
    await cluster.kubectl([
      'patch',
      'replicaset',
      replicaSet!.metadata.name,
      '-n',
      namespace,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          replicas: 1,
          readyReplicas: 1,
          availableReplicas: 1,
          observedGeneration: replicaSet!.metadata.generation ?? 1,
        },
      }),
    ]);

    const settled = await waitFor(`${app} r1 to settle`, async () => {
      const status = await rolloutStatus(app);
      return (status.phase === 'Healthy' || status.phase === 'Degraded') && status;
    });
    expect(settled).toMatchObject({ revision: 1, phase: 'Healthy' });
  });

  it('passes only after the deadline’s own time has been observed, saying what it did not count', async () => {
    const app = 'never-ready';
    const waitingSince = await firstRevisionWaitingForPods(app);
    await outage();

    const degraded = await waitFor(
      `${app} r1 to become Degraded`,
      async () => {
        const status = await rolloutStatus(app);
        return status.phase === 'Degraded' && status;
      },
      { timeoutMs: 60_000 },
    );
    expect(Date.now() - waitingSince).toBeGreaterThanOrEqual(progressDeadlineSeconds * 1_000 + OUTAGE_MS);
    expect(degraded.message).toMatch(
      new RegExp(
        `0 of 1 pods available after the progress deadline of ${progressDeadlineSeconds}s, ` +
          'not counting \\d+s while the apiserver could not be read',
      ),
    );
  });
});
