import type { Client } from '@temporalio/client';
import { SiirtoClusterKey } from '../../workflows/search-attributes';
import { runOrThrow } from '../harness/commands';
import {
  addStackClusters,
  clustersWithSiirto,
  componentPid,
  stackClusters,
  type ClustersWithSiirto,
  type StackCluster,
  readyPodsIn,
  rolloutStatusIn,
} from '../harness/clusters';
import { isolate } from '../harness/isolation';
import { rolloutManifestWith, setImage } from '../harness/rollout-fixtures';
import { stack } from '../harness/stack';
import { temporalClient } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'checkout';
const image = (version: number) => `registry.example/${app}:${version}`;
const REPLICAS = 2;

interface ServedPod {
  namespace: string;
  name: string;
  ip: string;
  version: string;
}

/**
 * The stack grown to three clusters (`stack:up -- --clusters=3`), as a fleet rollout will use it: c1,
 * c2 and c3 each have a control plane, kwok nodes and a pod server of their own, and share the one
 * Temporal and Prometheus. Each runs its own Siirto (worker and bridge with SIIRTO_CLUSTER_ID=cN and
 * the task queue siirto-rollouts-cN), and each has a Rollout `<namespace>/checkout`: a canary without
 * a traffic router, as the extra clusters run no gateway.
 */
describe('three clusters sharing one Temporal and one Prometheus, each with its own Siirto', () => {
  const scope = isolate('clusters3');
  const { namespace } = scope;
  let clusters: StackCluster[] = [];
  let client: Client;
  let fleet: ClustersWithSiirto | undefined;

  const manifest = (version: number) =>
    rolloutManifestWith(
      { namespace, app, replicas: REPLICAS, image: image(version) },
      {
        canary: {
          steps: [{ setWeight: 50 }, { pause: { duration: '1s' } }],
          // The old pods go a second after the promotion, rather than the default 30.
          scaleDownDelaySeconds: 1,
        },
      },
    );
  const workflowId = (cluster: StackCluster, revision: number) =>
    `${cluster.name}/${namespace}/${app}/r${revision}`;

  const rolloutStatus = (cluster: StackCluster) => rolloutStatusIn(cluster, namespace, app);
  const healthyAt = (cluster: StackCluster, revision: number) =>
    waitFor(
      `${cluster.name}: ${namespace}/${app} Healthy at revision ${revision}`,
      async () => {
        const status = await rolloutStatus(cluster);
        return status.phase === 'Healthy' && status.revision === revision && status;
      },
      { timeoutMs: 90_000 },
    );
  const readyPods = (cluster: StackCluster, version: number) =>
    readyPodsIn(cluster, namespace, app, image(version), REPLICAS);
  /** What the cluster's own pod server answers for in the namespace. */
  const served = async (cluster: StackCluster): Promise<ServedPod[]> => {
    const body = await runOrThrow('curl', [
      '-fsS',
      '--unix-socket',
      cluster.podServerSocket,
      'http://pod-server/pods',
    ]);
    return (JSON.parse(body) as ServedPod[]).filter((pod) => pod.namespace === namespace);
  };
  const describeRun = async (id: string) => {
    const description = await client.workflow.getHandle(id).describe();
    return {
      status: description.status.name,
      cluster: description.typedSearchAttributes.get(SiirtoClusterKey),
      taskQueue: description.taskQueue,
    };
  };
  /** Each revision's run completes once it has written Healthy and sent its announcements. */
  const ranToCompletion = async (cluster: StackCluster, revision: number) => {
    const id = workflowId(cluster, revision);
    await waitFor(`${id} completed`, async () => (await describeRun(id)).status === 'COMPLETED');
    return describeRun(id);
  };
  /** The revision Healthy in the cluster through its own run, which completed on the cluster's queue. */
  const healthyThroughItsOwnRun = async (cluster: StackCluster, revision: number) => {
    const status = await healthyAt(cluster, revision);
    expect(status.workflowId).toBe(workflowId(cluster, revision));
    expect(await ranToCompletion(cluster, revision)).toEqual({
      status: 'COMPLETED',
      cluster: cluster.name,
      taskQueue: `siirto-rollouts-${cluster.name}`,
    });
  };

  beforeAll(async () => {
    fleet = await clustersWithSiirto(scope, 3);
    clusters = fleet.clusters;
    client = await temporalClient();
  }, 300_000);

  afterAll(async () => {
    await fleet?.stop();
    await client?.connection.close();
  });

  it('runs the first revision of each cluster’s Rollout under that cluster’s workflow ID, to Ready pods its own pod server answers for', async () => {
    await Promise.all(clusters.map((cluster) => cluster.kubectl(['apply', '-f', '-'], manifest(1))));

    for (const cluster of clusters) {
      await healthyThroughItsOwnRun(cluster, 1);
      const pods = await readyPods(cluster, 1);
      const answered = await waitFor(`${cluster.name}'s pod server to answer for its pods`, async () => {
        const now = await served(cluster);
        return now.length === REPLICAS && now;
      });
      expect(answered.map((pod) => [pod.name, pod.ip, pod.version]).sort()).toEqual(
        pods.map((pod) => [pod.metadata.name, pod.status?.podIP, '1']).sort(),
      );
    }
    // Each cluster's pods have addresses of their own: no address answers for two clusters.
    const addresses = (await Promise.all(clusters.map(served))).flat().map((pod) => pod.ip);
    expect(new Set(addresses).size).toBe(clusters.length * REPLICAS);
  });

  it('takes a new revision through its canary steps in each cluster, by that cluster’s own worker', async () => {
    await Promise.all(clusters.map((cluster) => setImage(namespace, app, image(2), cluster.kubeconfig)));

    for (const cluster of clusters) {
      await healthyThroughItsOwnRun(cluster, 2);
      await readyPods(cluster, 2);
    }
  });

  it('has Prometheus scrape every cluster’s pods, each series labelled with its cluster', async () => {
    const expected = (
      await Promise.all(
        clusters.map(async (cluster) =>
          (await served(cluster)).map((pod) => ({
            cluster: cluster.name,
            pod: pod.name,
            instance: `${pod.ip}:8080`,
          })),
        ),
      )
    ).flat();
    const key = (target: { cluster?: string; pod?: string; instance?: string }) =>
      `${target.cluster} ${target.pod} ${target.instance}`;
    const scraped = await waitFor(
      'Prometheus to scrape the current pods of every cluster',
      async () => {
        const query = `up{namespace="${namespace}", app="${app}"} == 1`;
        const response = await fetch(
          `${stack.prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`,
        );
        const body = (await response.json()) as { data: { result: { metric: Record<string, string> }[] } };
        const targets = body.data.result.map((result) => result.metric);
        return targets.map(key).sort().join('\n') === expected.map(key).sort().join('\n') && targets;
      },
      { timeoutMs: 30_000 },
    );
    expect(new Set(scraped.map((target) => target.cluster))).toEqual(new Set(['c1', 'c2', 'c3']));
    for (const cluster of clusters) {
      const job = cluster.name === 'c1' ? 'kubernetes-pods' : `kubernetes-pods-${cluster.name}`;
      expect(scraped.filter((target) => target.cluster === cluster.name)).toEqual(
        Array.from({ length: REPLICAS }, () => expect.objectContaining({ job, namespace })),
      );
    }
  });

  it('keeps all three clusters running when a test file beside this one asks the stack for fewer', async () => {
    const c3 = clusters.find((cluster) => cluster.name === 'c3')!;
    const apiserver = componentPid(c3, 'kube-apiserver');
    // What a test file on c1 and c2 does when it finds fewer clusters running than it needs.
    await addStackClusters(2);
    expect(stackClusters().map((cluster) => cluster.name)).toEqual(
      expect.arrayContaining(['c1', 'c2', 'c3']),
    );
    expect(componentPid(c3, 'kube-apiserver')).toBe(apiserver);
    await c3.kubectl(['get', '--raw', '/readyz', '--request-timeout=5s']);
    expect(await rolloutStatus(c3)).toMatchObject({ phase: 'Healthy', revision: 2 });
  });
});
