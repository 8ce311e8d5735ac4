import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { RolloutStatus } from '../../schemas/rollout';
import { SiirtoClusterKey } from '../../workflows/search-attributes';
import { run, runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { observer } from '../harness/observe';
import { kubectlApply, rolloutManifest, servicesAndRoute, setImage } from '../harness/rollout-fixtures';
import { startSecondCluster, type SecondCluster } from '../harness/second-cluster';
import { siirtoBridge, siirtoWorker, type SiirtoProcess } from '../harness/siirto-processes';
import { stack } from '../harness/stack';
import { temporalClient } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { bridgeProbes, reconcilesLogged } from '../k8s-bridge/bridge-probes';

const SIIRTO = path.join(stack.projectDir, 'cli', 'siirto');
const app = 'checkout';
const steps = [{ setWeight: 20 }, { pause: {} }];
const image = (version: number) => `registry.example/${app}:${version}`;

interface PastRollout {
  revision: number;
  workflowId: string;
}

/** A run as Temporal describes it: its state, the cluster it carries, its task queue. */
async function describeRun(client: Client, workflowId: string) {
  const description = await client.workflow.getHandle(workflowId).describe();
  return {
    status: description.status.name,
    cluster: description.typedSearchAttributes.get(SiirtoClusterKey),
    taskQueue: description.taskQueue,
  };
}

/**
 * Two clusters, one Temporal namespace (as on Temporal Cloud), each with a Rollout `<namespace>/checkout`.
 * Cluster a is the stack's, with a bridge and a worker; cluster b is a second kube-apiserver of its
 * own (test/harness/second-cluster.ts) with a bridge and no worker, so its runs stay as its bridge
 * left them and their histories show every signal or cancellation that reached them, from whichever
 * bridge. Each cluster has its SIIRTO_CLUSTER_ID and its own task queue.
 */
describe('two clusters deploying the same namespace/name into one Temporal namespace', () => {
  const scope = isolate('clusters');
  const { namespace } = scope;
  const see = observer(namespace);
  const queueA = `${scope.workflowIdPrefix}-a`;
  const queueB = `${scope.workflowIdPrefix}-b`;
  const idA = (revision: number) => `a/${namespace}/${app}/r${revision}`;
  const idB = (revision: number) => `b/${namespace}/${app}/r${revision}`;
  const manifest = (version: number) =>
    rolloutManifest({ namespace, app, steps, replicas: 2, image: image(version) });
  let clusterB: SecondCluster;
  let client: Client;
  let probes: ReturnType<typeof bridgeProbes>;
  let bridgeA: SiirtoProcess;
  let workerA: SiirtoProcess;
  let bridgeB: SiirtoProcess;
  const clusterA = { SIIRTO_CLUSTER_ID: 'a', SIIRTO_TASK_QUEUE: queueA, SIIRTO_LOG_LEVEL: 'debug' };

  const statusA = (description: string, accept: (status: RolloutStatus) => boolean) =>
    waitFor(
      `cluster a: ${description}`,
      async () => {
        const status = await see.rolloutStatus(app);
        return accept(status) && status;
      },
      { timeoutMs: 60_000 },
    );
  const statusB = (description: string, accept: (status: RolloutStatus) => boolean) =>
    waitFor(`cluster b: ${description}`, async () => {
      const rollout = JSON.parse(
        await clusterB.kubectl(['get', 'rollouts.siirto.dev', app, '-n', namespace, '-o', 'json']),
      ) as {
        status?: RolloutStatus;
      };
      return accept(rollout.status ?? {}) && (rollout.status ?? {});
    });
  const setImageB = (version: number) => setImage(namespace, app, image(version), clusterB.kubeconfig);
  /** Waits until a bridge has reconciled the Rollout a few more times: what it would do, it has done. */
  const reconciledAgain = (bridge: SiirtoProcess) => {
    const from = bridge.logText().length;
    return waitFor(
      `${app} reconciled 3 more times`,
      () => reconcilesLogged(bridge, namespace, app, from) >= 3,
    );
  };
  const siirto = (...args: string[]) => run(SIIRTO, [...args, '-n', namespace]);

  beforeAll(async () => {
    clusterB = await startSecondCluster(scope.namespace);
    await clusterB.kubectl(['create', 'namespace', namespace]);
    await Promise.all([
      kubectlApply(servicesAndRoute(namespace, app)),
      clusterB.kubectl(['apply', '-f', '-'], servicesAndRoute(namespace, app)),
    ]);
    client = await temporalClient();
    probes = bridgeProbes(client, namespace);
    bridgeA = siirtoBridge(scope, 'bridge-a', clusterA);
    workerA = siirtoWorker(scope, 'worker-a', clusterA);
    bridgeB = siirtoBridge(scope, 'bridge-b', {
      KUBECONFIG: clusterB.kubeconfig,
      SIIRTO_CLUSTER_ID: 'b',
      SIIRTO_TASK_QUEUE: queueB,
      SIIRTO_LOG_LEVEL: 'debug',
    });
    await Promise.all([bridgeA.start(), workerA.start(), bridgeB.start()]);
  }, 240_000);

  afterAll(async () => {
    await Promise.all([bridgeA?.stop(), workerA?.stop(), bridgeB?.stop()]);
    await clusterB?.stop();
    await client?.connection.close();
  });

  it('runs each cluster’s <namespace>/checkout under its own workflow ID, carrying its SiirtoCluster', async () => {
    await Promise.all([kubectlApply(manifest(1)), clusterB.kubectl(['apply', '-f', '-'], manifest(1))]);

    const a = await statusA('r1 Healthy', (status) => status.phase === 'Healthy' && status.revision === 1);
    const b = await statusB('r1 recorded', (status) => status.revision === 1);
    expect(a.workflowId).toBe(idA(1));
    expect(b.workflowId).toBe(idB(1));
    // Why wait: the run writes Healthy before it sends its announcements and closes.
    await waitFor(
      `${idA(1)} completed`,
      async () => (await describeRun(client, idA(1))).status === 'COMPLETED',
    );
    expect(await describeRun(client, idA(1))).toEqual({
      status: 'COMPLETED',
      cluster: 'a',
      taskQueue: queueA,
    });
    expect(await describeRun(client, idB(1))).toEqual({ status: 'RUNNING', cluster: 'b', taskQueue: queueB });
  });

  it('supersedes only its own cluster’s run when a new template arrives', async () => {
    await setImageB(2);
    await statusB('r2 recorded', (status) => status.revision === 2);
    await waitFor(
      'b’s r1 told it is superseded by b’s bridge',
      async () => (await probes.supersedeSignals(idB(1))).length === 1,
    );

    await setImage(namespace, app, image(2));
    await statusA('r2 Paused', (status) => status.phase === 'Paused' && status.revision === 2);
    await setImage(namespace, app, image(3));
    await statusA('r3 Paused', (status) => status.phase === 'Paused' && status.revision === 3);
    await reconciledAgain(bridgeA);

    expect(await probes.supersedeSignals(idA(2))).toEqual([{ revision: 3 }]);
    // b's runs heard only from b's bridge: r1 its one supersede, r2 nothing at all.
    expect(await probes.supersedeSignals(idB(1))).toEqual([{ revision: 2 }]);
    expect(await probes.supersedeSignals(idB(2))).toEqual([]);
    expect((await describeRun(client, idB(2))).status).toBe('RUNNING');
  });

  it('cleans up only its own cluster’s runs of a Rollout deleted and created again while its bridge was down', async () => {
    await bridgeA.stop();
    await run('kubectl', ['delete', 'rollouts.siirto.dev', app, '-n', namespace, '--wait=true']);
    await kubectlApply(manifest(1));
    await bridgeA.start();

    // Cluster a's runs of the deleted Rollout are cancelled, and its numbering goes on above them.
    await waitFor('a’s r3 of the deleted Rollout cancelled', () => probes.cancelRequested(idA(3)));
    const a = await statusA(
      'the new Rollout’s first revision Healthy',
      (status) => status.phase === 'Healthy',
    );
    expect(a).toMatchObject({ revision: 4, workflowId: idA(4) });
    await reconciledAgain(bridgeA);
    // Cluster b's runs of its own, live Rollout of the same namespace/name are not a's namesakes.
    expect(await probes.cancelRequested(idB(1))).toBe(false);
    expect(await probes.cancelRequested(idB(2))).toBe(false);
    expect((await describeRun(client, idB(2))).status).toBe('RUNNING');
  });

  it('cancels only its own cluster’s runs when its Rollout is deleted', async () => {
    await setImage(namespace, app, image(2));
    await statusA('r5 Paused', (status) => status.phase === 'Paused' && status.revision === 5);

    await clusterB.kubectl(['delete', 'rollouts.siirto.dev', app, '-n', namespace, '--wait=true']);
    await waitFor('b’s r2 cancelled by b’s bridge', () => probes.cancelRequested(idB(2)));
    await reconciledAgain(bridgeA);
    expect(await probes.cancelRequested(idA(5))).toBe(false);
    expect((await see.rolloutStatus(app)).phase).toBe('Paused');
  });

  it('siirto --cluster lists its own cluster’s runs, and promotes the run its Rollout names', async () => {
    const history = async (cluster: string, kubeconfig: string) => {
      const result = await siirto(
        'history',
        app,
        '--cluster',
        cluster,
        '--kubeconfig',
        kubeconfig,
        '-o',
        'json',
      );
      expect(result).toMatchObject({ code: 0 });
      return (JSON.parse(result.stdout) as PastRollout[]).map((past) => past.workflowId);
    };
    expect(await history('a', stack.kubeconfig)).toEqual([5, 4, 3, 2, 1].map(idA));
    expect(await history('b', clusterB.kubeconfig)).toEqual([2, 1].map(idB));

    const promoted = await siirto('promote', app, '--full', '--cluster', 'a');
    expect(promoted).toMatchObject({ code: 0, stdout: expect.stringContaining(`accepted by ${idA(5)}`) });
    await statusA('r5 Healthy', (status) => status.phase === 'Healthy' && status.revision === 5);
  });
});

/**
 * An installation that had no cluster ID, given one while a revision is in flight: the run started
 * under the old ID (`<namespace>/<name>/r<revision>`, no SiirtoCluster) is still the Rollout's.
 */
describe('a cluster given SIIRTO_CLUSTER_ID with a rollout in flight', () => {
  const scope = isolate('cluster-id-upgrade');
  const { namespace } = scope;
  const see = observer(namespace);
  const legacyId = (revision: number) => `${namespace}/${app}/r${revision}`;
  const clusterId = (revision: number) => `a/${namespace}/${app}/r${revision}`;
  const fourSteps = [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: {} }];
  let client: Client;
  let probes: ReturnType<typeof bridgeProbes>;
  let bridge: SiirtoProcess;
  let worker: SiirtoProcess;
  const siirto = (...args: string[]) => run(SIIRTO, [...args, '-n', namespace]);
  const statusOf = (description: string, accept: (status: RolloutStatus) => boolean) =>
    waitFor(
      description,
      async () => {
        const status = await see.rolloutStatus(app);
        return accept(status) && status;
      },
      { timeoutMs: 60_000 },
    );

  beforeAll(async () => {
    await kubectlApply(servicesAndRoute(namespace, app));
    client = await temporalClient();
    probes = bridgeProbes(client, namespace);
    bridge = siirtoBridge(scope, 'bridge-before', { SIIRTO_LOG_LEVEL: 'debug' });
    worker = siirtoWorker(scope, 'worker-before');
    await Promise.all([bridge.start(), worker.start()]);
    await kubectlApply(rolloutManifest({ namespace, app, steps: fourSteps, replicas: 2, image: image(1) }));
    await statusOf('r1 Healthy', (status) => status.phase === 'Healthy' && status.revision === 1);
    await setImage(namespace, app, image(2));
    await statusOf(
      'r2 Paused at its first pause',
      (status) => status.phase === 'Paused' && status.revision === 2 && status.currentStepIndex === 1,
    );
    // The upgrade: both processes restarted with a cluster ID, on the task queue the run in flight
    // was started on (siirtoEnvironment's).
    await Promise.all([bridge.stop(), worker.stop()]);
    bridge = siirtoBridge(scope, 'bridge-after', { SIIRTO_CLUSTER_ID: 'a', SIIRTO_LOG_LEVEL: 'debug' });
    worker = siirtoWorker(scope, 'worker-after', { SIIRTO_CLUSTER_ID: 'a' });
    await Promise.all([bridge.start(), worker.start()]);
  }, 240_000);

  afterAll(async () => {
    await Promise.all([bridge.stop(), worker.stop()]);
    await client?.connection.close();
  });

  it('keeps following the run started under the old ID, and starts no second run for its revision', async () => {
    const from = bridge.logText().length;
    await waitFor(
      '3 reconciles by the bridge with a cluster ID',
      () => reconcilesLogged(bridge, namespace, app, from) >= 3,
    );
    expect(await see.rolloutStatus(app)).toMatchObject({
      revision: 2,
      workflowId: legacyId(2),
      phase: 'Paused',
    });
    expect((await describeRun(client, legacyId(2))).status).toBe('RUNNING');
    expect((await probes.runsOf(app)).map((run) => run.workflowId).sort()).toEqual([
      legacyId(1),
      legacyId(2),
    ]);
  });

  it('lets siirto --cluster promote the run started under the old ID', async () => {
    const promoted = await siirto('promote', app, '--cluster', 'a');
    expect(promoted).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`accepted by ${legacyId(2)}`),
    });
    await statusOf(
      'r2 Paused at its second pause',
      (status) => status.phase === 'Paused' && status.currentStepIndex === 3,
    );
  });

  it('supersedes the run started under the old ID with a new revision under the cluster’s ID', async () => {
    await setImage(namespace, app, image(3));
    const status = await statusOf(
      'r3 Paused',
      (status) => status.phase === 'Paused' && status.revision === 3,
    );
    expect(status.workflowId).toBe(clusterId(3));
    expect(await probes.supersedeSignals(legacyId(2))).toEqual([{ revision: 3 }]);
    // Why wait: r3 goes on once r2 has stood down, which is before r2 closes.
    await waitFor(
      `${legacyId(2)} completed`,
      async () => (await describeRun(client, legacyId(2))).status === 'COMPLETED',
    );
    expect(await describeRun(client, clusterId(3))).toMatchObject({ status: 'RUNNING', cluster: 'a' });
    expect((await probes.startInput(clusterId(3))).supersedes).toBe(legacyId(2));
  });

  it('lists the runs from before and after the cluster ID in siirto --cluster history', async () => {
    const result = await siirto('history', app, '--cluster', 'a', '-o', 'json');
    expect(result).toMatchObject({ code: 0 });
    expect((JSON.parse(result.stdout) as PastRollout[]).map((past) => past.workflowId)).toEqual([
      clusterId(3),
      legacyId(2),
      legacyId(1),
    ]);
    const promoted = await siirto('promote', app, '--full', '--cluster', 'a');
    expect(promoted).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`accepted by ${clusterId(3)}`),
    });
    await statusOf('r3 Healthy', (status) => status.phase === 'Healthy' && status.revision === 3);
  });
});

describe('a bridge given SIIRTO_CLUSTER_ID on a Temporal namespace without SiirtoCluster', () => {
  const scope = isolate('cluster-id-unregistered');
  // A Temporal namespace of this test's own: the dev server registers Siirto's attributes on `default` only.
  const temporalNamespace = scope.workflowIdPrefix;

  beforeAll(async () => {
    await runOrThrow('temporal', ['operator', 'namespace', 'create', '--namespace', temporalNamespace]);
    await waitFor(`Temporal namespace ${temporalNamespace} to serve`, async () => {
      const result = await run('temporal', ['workflow', 'count', '--namespace', temporalNamespace]);
      return result.code === 0;
    });
  });

  afterAll(async () => {
    await run('temporal', ['operator', 'namespace', 'delete', '--namespace', temporalNamespace, '--yes']);
  });

  it('stops at start, naming the setting, the missing attribute and how to register it', async () => {
    const bridge = siirtoBridge(scope, 'bridge', {
      SIIRTO_CLUSTER_ID: 'a',
      TEMPORAL_NAMESPACE: temporalNamespace,
    });
    try {
      await expect(bridge.start()).rejects.toThrow(
        `SIIRTO_CLUSTER_ID=a needs the search attribute SiirtoCluster on Temporal namespace ${temporalNamespace}`,
      );
      expect(bridge.logText()).toContain(
        `temporal operator search-attribute create --namespace ${temporalNamespace} --name SiirtoCluster --type Keyword`,
      );
    } finally {
      await bridge.stop();
    }
  });
});
