import type { Client } from '@temporalio/client';
import { fleetStatusQuery, fleetWorkflowId, type FleetReleaseState } from '../../workflows/fleet-api';
import {
  BREAKABLE_CLUSTER,
  clustersWithSiirto,
  stopClusterApiserver,
  type ClustersWithSiirto,
  type StackCluster,
  type StoppedApiserver,
  readyPodsIn,
  rolloutStatusIn,
} from '../harness/clusters';
import { run } from '../harness/commands';
import { applyFleetRelease, SIIRTO_CLI } from '../harness/fleet-release-file';
import { isolate } from '../harness/isolation';
import { rolloutManifestWith } from '../harness/rollout-fixtures';
import { temporalClient } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'checkout';
/** The cluster cut off: the stack's own cluster for this, since no other test file runs on it. */
const down = BREAKABLE_CLUSTER;
const image = (version: number) => `registry.example/${app}:${version}`;
/** How long the second cluster stays unreachable at least, while the release must keep waiting for it. */
const DOWN_MILLISECONDS = 15_000;

/**
 * A fleet release across two clusters of the stack, c1 and c4 (`stack:up -- --clusters=4`), each with
 * its own Siirto, in two waves [c1] → [c4], where c4's kube-apiserver is stopped for real once c1 is
 * Healthy: the second wave waits for c4 rather than counting it done, `siirto fleet status` says that c4
 * does not answer and why, and once the apiserver runs again the release takes c4 to the new revision.
 */
describe('a fleet release whose second cluster cannot be reached for a while', () => {
  const scope = isolate('fleetdown');
  const { namespace } = scope;
  let clusters: StackCluster[] = [];
  let client: Client;
  let fleet: ClustersWithSiirto | undefined;
  let stopped: StoppedApiserver | undefined;

  const manifest = (version: number) =>
    rolloutManifestWith(
      { namespace, app, replicas: 1, image: image(version) },
      { canary: { steps: [{ setWeight: 50 }, { setWeight: 100 }], scaleDownDelaySeconds: 1 } },
    );
  const target = (cluster: string) => `${cluster}/${namespace}/${app}`;
  const cluster = (name: string) => clusters.find((found) => found.name === name)!;

  const rolloutStatus = (cluster: StackCluster) => rolloutStatusIn(cluster, namespace, app);
  const readyPods = (cluster: StackCluster, version: number) =>
    readyPodsIn(cluster, namespace, app, image(version));

  beforeAll(async () => {
    fleet = await clustersWithSiirto(scope, ['c1', down]);
    clusters = fleet.clusters;
    client = await temporalClient();
    await Promise.all(clusters.map((on) => on.kubectl(['apply', '-f', '-'], manifest(1))));
    for (const on of clusters) {
      await waitFor(
        `${on.name}: r1 Healthy`,
        async () => {
          const status = await rolloutStatus(on);
          return status.phase === 'Healthy' && status.revision === 1;
        },
        { timeoutMs: 90_000 },
      );
    }
  }, 300_000);

  afterAll(async () => {
    // Whatever happened, the stack's c4 answers again for the tests after this one.
    await stopped?.start().catch(() => undefined);
    await fleet?.stop();
    await client?.connection.close();
  });

  it(`holds the second wave while ${down} does not answer, says so in \`siirto fleet status\`, and finishes once ${down} is back`, async () => {
    const releaseApp = `${scope.workflowIdPrefix}-down`;
    const applied = await applyFleetRelease(scope, 'v2', {
      app: releaseApp,
      change: { images: { app: image(2) } },
      waves: [
        // The soak leaves the moment between c1 Healthy and the second wave's start to stop c4 in.
        { name: 'first', targets: [target('c1')], gates: { soak: '10s' } },
        { name: 'rest', targets: [target(down)] },
      ],
    });
    expect(applied).toMatchObject({ code: 0, stderr: '' });
    const handle = client.workflow.getHandle(fleetWorkflowId(releaseApp));
    const state = () => handle.query(fleetStatusQuery) as Promise<FleetReleaseState>;
    const targetOf = (seen: FleetReleaseState, name: string) =>
      seen.targets.find((found) => found.cluster === name);

    await waitFor(
      `c1 Healthy at r2 in the release, ${down} still waiting`,
      async () => {
        const seen = await state();
        return targetOf(seen, 'c1')?.phase === 'Healthy' && targetOf(seen, down)?.phase === 'Waiting';
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    stopped = await stopClusterApiserver(cluster(down));
    const downAt = Date.now();
    await expect(
      cluster(down).kubectl(['get', '--raw', '/readyz', '--request-timeout=2s']),
    ).rejects.toThrow();

    // The real CLI names the cluster and the reason once the second wave's first call has failed again.
    const status = () => run(SIIRTO_CLI, ['fleet', 'status', releaseApp]);
    const said = await waitFor(
      `\`siirto fleet status\` to say ${down} does not answer`,
      async () => {
        const shown = await status();
        return (
          new RegExp(`cluster ${down} not answering \\(attempt \\d+\\): \\S+`).test(shown.stdout) &&
          shown.stdout
        );
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    console.log(`siirto fleet status while ${down} was down:\n${said}`);
    expect(said).toMatch(/^release .*: Running/m);

    // As long as c4 is down, and at least DOWN_MILLISECONDS: the release runs on, c4 is no success.
    do {
      const seen = await state();
      expect(seen.phase).toBe('Running');
      expect(targetOf(seen, down)?.phase).not.toMatch(/Healthy|Unchanged/);
      expect((await handle.describe()).status.name).toBe('RUNNING');
      const shown = await status();
      expect(shown.stdout).toMatch(new RegExp(`cluster ${down} not answering \\(attempt \\d+\\)`));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    } while (Date.now() - downAt < DOWN_MILLISECONDS);
    expect((await rolloutStatus(cluster('c1'))).revision).toBe(2);

    await stopped.start();
    stopped = undefined;
    const backAt = Date.now();
    console.log(`${down}'s kube-apiserver was down ${((backAt - downAt) / 1_000).toFixed(1)} s`);
    let timer: NodeJS.Timeout | undefined;
    const ended = (await Promise.race([
      handle.result(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`release not over 120s after ${down} came back`)), 120_000);
      }),
    ]).finally(() => clearTimeout(timer))) as FleetReleaseState;
    console.log(
      `the release ended ${((Date.now() - backAt) / 1_000).toFixed(1)} s after ${down} answered again`,
    );
    expect(ended.phase).toBe('Healthy');
    expect(targetOf(ended, down)).toMatchObject({ phase: 'Healthy', revision: 2 });
    expect(await rolloutStatus(cluster(down))).toMatchObject({ phase: 'Healthy', revision: 2 });
    await readyPods(cluster(down), 2);
    const final = await status();
    expect(final.stdout).toMatch(/^release .*: Healthy/m);
    expect(final.stdout).not.toMatch(/not answering/);
  }, 240_000);
});
