import type { Client } from '@temporalio/client';
import { fleetWorkflowId, type FleetReleaseState } from '../../workflows/fleet-api';
import {
  clustersWithSiirto,
  type ClustersWithSiirto,
  type StackCluster,
  readyPodsIn,
  rolloutStatusIn,
} from '../harness/clusters';
import { applyFleetRelease } from '../harness/fleet-release-file';
import { isolate } from '../harness/isolation';
import { rolloutManifestWith } from '../harness/rollout-fixtures';
import { activityCompletions, historyOf, temporalClient } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'checkout';
const image = (version: number) => `registry.example/${app}:${version}`;
const SOAK_SECONDS = 5;

/**
 * A fleet release across three clusters of the stack (`stack:up -- --clusters=3`), each running its
 * own Siirto (worker and bridge with SIIRTO_CLUSTER_ID=cN) against the one Temporal, each with a
 * Rollout `<namespace>/checkout`: a canary without a traffic router (the extra clusters run no
 * gateway) and without pauses, so the only gates are the release's. The release, started with
 * `siirto fleet apply`, goes to c1 first, then to c2 and c3 together.
 */
describe('a fleet release in two waves across three clusters', () => {
  const scope = isolate('fleet3');
  const { namespace } = scope;
  // The releases' workflow IDs are the apps': this file's own, so that no other run meets them.
  const releaseApp = (label: string) => `${scope.workflowIdPrefix}-${label}`;
  let clusters: StackCluster[] = [];
  let client: Client;
  let fleet: ClustersWithSiirto | undefined;

  const manifest = (version: number) =>
    rolloutManifestWith(
      { namespace, app, replicas: 1, image: image(version) },
      // The old pod goes a second after the promotion, rather than the default 30.
      { canary: { steps: [{ setWeight: 50 }, { setWeight: 100 }], scaleDownDelaySeconds: 1 } },
    );
  const target = (cluster: string) => `${cluster}/${namespace}/${app}`;
  const revisionRun = (cluster: string, revision: number) => `${cluster}/${namespace}/${app}/r${revision}`;

  const rolloutStatus = (cluster: StackCluster) => rolloutStatusIn(cluster, namespace, app);
  const readyPods = (cluster: StackCluster, version: number) =>
    readyPodsIn(cluster, namespace, app, image(version));
  /** When Temporal's server started and closed a workflow, in ms. */
  const serverTimes = async (workflowId: string) => {
    const description = await client.workflow.getHandle(workflowId).describe();
    return {
      status: description.status.name,
      start: description.startTime.getTime(),
      close: description.closeTime?.getTime() ?? Number.NaN,
    };
  };
  /**
   * A cluster's revision run, once it has completed (it still scales the old pods down after writing
   * Healthy, so it may close after the release has moved on): when it started, when its activity
   * writing the Rollout's status Healthy completed (the moment the Rollout was Healthy), and when it
   * closed, in the server's times.
   */
  const revisionTimes = async (cluster: string, revision: number) => {
    const workflowId = revisionRun(cluster, revision);
    const times = await waitFor(`${workflowId} completed`, async () => {
      const found = await serverTimes(workflowId);
      return found.status === 'COMPLETED' && found;
    });
    const [healthyWritten] = activityCompletions(await historyOf(workflowId), /^status Healthy/);
    expect(healthyWritten).toBeDefined();
    return { ...times, healthy: healthyWritten!.at };
  };

  /** Starts the release as a user does, and waits for its end. */
  const applyRelease = async (releaseName: string, spec: Record<string, unknown>) => {
    const applied = await applyFleetRelease(scope, releaseName, spec);
    expect(applied).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`started as ${fleetWorkflowId(String(spec.app))}`),
    });
    const handle = client.workflow.getHandle(fleetWorkflowId(String(spec.app)));
    let timer: NodeJS.Timeout | undefined;
    const ended = (await Promise.race([
      handle.result(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('release not over in 180s')), 180_000);
      }),
    ]).finally(() => clearTimeout(timer))) as FleetReleaseState;
    return { handle, ended };
  };

  /** Every cluster's Rollout Healthy at the revision, with its pods of the new image Ready. */
  const expectEveryClusterAt = async (revision: number, version: number, ended: FleetReleaseState) => {
    expect(ended.phase).toBe('Healthy');
    for (const cluster of clusters) {
      const status = await rolloutStatus(cluster);
      expect(status).toMatchObject({
        phase: 'Healthy',
        revision,
        workflowId: revisionRun(cluster.name, revision),
      });
      expect(ended.targets).toContainEqual(
        expect.objectContaining({ cluster: cluster.name, phase: 'Healthy', revision }),
      );
      await readyPods(cluster, version);
    }
  };

  beforeAll(async () => {
    fleet = await clustersWithSiirto(scope, 3);
    clusters = fleet.clusters;
    client = await temporalClient();
    await Promise.all(clusters.map((cluster) => cluster.kubectl(['apply', '-f', '-'], manifest(1))));
    for (const cluster of clusters) {
      await waitFor(
        `${cluster.name}: r1 Healthy`,
        async () => {
          const status = await rolloutStatus(cluster);
          return status.phase === 'Healthy' && status.revision === 1;
        },
        { timeoutMs: 90_000 },
      );
    }
  }, 420_000);

  afterAll(async () => {
    await fleet?.stop();
    await client?.connection.close();
  });

  it('brings c1 to Healthy, soaks, then takes c2 and c3 to Healthy at the new revision', async () => {
    const releaseId = releaseApp('soaked');
    const { handle, ended } = await applyRelease('v2', {
      app: releaseId,
      change: { images: { app: image(2) } },
      waves: [
        { name: 'first', targets: [target('c1')], gates: { soak: `${SOAK_SECONDS}s` } },
        { name: 'rest', targets: [target('c2'), target('c3')] },
      ],
    });
    await expectEveryClusterAt(2, 2, ended);

    // Server-side times: when the release saw c1's new revision Healthy (its follow completing, no
    // earlier than the Rollout's Healthy), and when each cluster's revision run started and was Healthy.
    const history = await historyOf(handle.workflowId);
    const [c1Followed] = activityCompletions(history, `follow ${target('c1')} to Healthy or Degraded`);
    expect(c1Followed).toBeDefined();
    const [c1, c2, c3] = await Promise.all(clusters.map((cluster) => revisionTimes(cluster.name, 2)));
    for (const later of [c2, c3]) {
      // c1's revision was Healthy before either of the second wave's began …
      expect(later!.start).toBeGreaterThan(c1!.healthy);
      // … and the soak held them for its whole length after the release saw it Healthy.
      expect(later!.start - c1Followed!.at).toBeGreaterThanOrEqual(SOAK_SECONDS * 1_000);
    }
  });

  it('takes all three clusters to the next revision with no gates, c2 and c3 at once, and says how long that took', async () => {
    const releaseId = releaseApp('ungated');
    const { handle, ended } = await applyRelease('v3', {
      app: releaseId,
      change: { images: { app: image(3) } },
      // maxParallel 2: c2 and c3 at once (a wave's default is one Rollout at a time).
      waves: [{ targets: [target('c1')] }, { maxParallel: 2, targets: [target('c2'), target('c3')] }],
    });
    await expectEveryClusterAt(3, 3, ended);
    const [c1, c2, c3] = await Promise.all(clusters.map((cluster) => revisionTimes(cluster.name, 3)));
    for (const later of [c2, c3]) expect(later!.start).toBeGreaterThan(c1!.healthy);
    // The second wave's two revisions ran at the same time.
    expect(c3!.start).toBeLessThan(c2!.close);
    expect(c2!.start).toBeLessThan(c3!.close);

    // Each follow ended within a second of its Rollout's Healthy being written (the activity of the
    // revision's own workflow that wrote it completing), so each wave ended as soon as its last
    // Rollout was Healthy: the follow watches the Rollout rather than reading it at intervals.
    const releaseHistory = await historyOf(handle.workflowId);
    for (const [index, cluster] of clusters.entries()) {
      const [followed] = activityCompletions(
        releaseHistory,
        `follow ${target(cluster.name)} to Healthy or Degraded`,
      );
      expect(followed).toBeDefined();
      const lagMs = followed!.at - [c1, c2, c3][index]!.healthy;
      console.log(`${cluster.name}: the release saw its Rollout Healthy ${lagMs} ms after it was written`);
      expect(lagMs).toBeLessThan(1_000);
    }

    const release = await serverTimes(handle.workflowId);
    const seconds = (release.close - release.start) / 1_000;
    console.log(
      `a 3-cluster, 2-wave fleet release with no gates took ${seconds.toFixed(1)} s from the release's start to its close (Temporal server times)`,
    );
    expect(release.status).toBe('COMPLETED');
  });
});
