import type { Client } from '@temporalio/client';
import { FLEET_RELEASE_ANNOTATION } from '../../activities/fleet/cluster-rollouts';
import type { RolloutStatus } from '../../schemas/rollout';
import { fleetStatusQuery, fleetWorkflowId, type FleetReleaseState } from '../../workflows/fleet-api';
import { run } from '../harness/commands';
import { applyFleetRelease, SIIRTO_CLI } from '../harness/fleet-release-file';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { kubectlApply, rolloutManifest, servicesAndRoute } from '../harness/rollout-fixtures';
import { siirtoBridge, siirtoWorker, type SiirtoProcess } from '../harness/siirto-processes';
import { activitySummaries, temporalClient } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'checkout';
const image = (version: number) => `registry.example/${app}:${version}`;

/**
 * A fleet release on the stack, with one cluster: the stack's, its bridge and worker carrying a
 * SIIRTO_CLUSTER_ID, so the worker also serves the fleet queues. The release, started with
 * `siirto fleet apply`, writes the new image into the Rollout through that worker, the cluster's
 * bridge rolls it out as revision 2 with the Rollout's own canary steps, and the release follows it
 * to Healthy.
 */
describe('a fleet release of one wave with one Rollout', () => {
  const scope = isolate('fleet');
  const { namespace } = scope;
  const cluster = scope.workflowIdPrefix;
  // The release's workflow ID is the app's: one of this file's own, so that no other run meets it.
  const releaseApp = `${scope.workflowIdPrefix}-checkout`;
  let client: Client;
  let bridge: SiirtoProcess;
  let worker: SiirtoProcess;

  const rolloutStatus = async (): Promise<RolloutStatus & { annotations?: Record<string, string> }> => {
    const rollout = (await kubeClients().custom.getNamespacedCustomObject({
      group: 'siirto.dev',
      version: 'v1alpha1',
      plural: 'rollouts',
      namespace,
      name: app,
    })) as { status?: RolloutStatus; metadata: { annotations?: Record<string, string> } };
    return { ...rollout.status, annotations: rollout.metadata.annotations };
  };

  beforeAll(async () => {
    client = await temporalClient();
    const settings = { SIIRTO_CLUSTER_ID: cluster };
    bridge = siirtoBridge(scope, 'bridge', settings);
    worker = siirtoWorker(scope, 'worker', settings);
    await kubectlApply(servicesAndRoute(namespace, app));
    await kubectlApply(
      rolloutManifest({
        namespace,
        app,
        steps: [{ setWeight: 50 }, { pause: { duration: '2s' } }],
        replicas: 2,
        image: image(1),
      }),
    );
    await Promise.all([bridge.start(), worker.start()]);
    await waitFor(
      'r1 Healthy',
      async () => {
        const status = await rolloutStatus();
        return status.phase === 'Healthy' && status.revision === 1;
      },
      { timeoutMs: 90_000 },
    );
  }, 240_000);

  afterAll(async () => {
    await Promise.all([bridge?.stop(), worker?.stop()]);
    await client?.connection.close();
  });

  it('writes the change through the cluster’s worker and follows the new revision to Healthy', async () => {
    const applied = await applyFleetRelease(scope, 'v2', {
      app: releaseApp,
      change: { images: { app: image(2) } },
      waves: [{ targets: [`${cluster}/${namespace}/${app}`] }],
    });
    expect(applied).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`started as ${fleetWorkflowId(releaseApp)}`),
    });

    const handle = client.workflow.getHandle(fleetWorkflowId(releaseApp));
    const ended = (await Promise.race([
      handle.result(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('release not over in 120s')), 120_000)),
    ])) as FleetReleaseState;
    expect(ended.phase).toBe('Healthy');
    const status = await rolloutStatus();
    expect(status).toMatchObject({ phase: 'Healthy', revision: 2, weights: { stable: 100, canary: 0 } });
    expect(status.annotations?.[FLEET_RELEASE_ANNOTATION]).toBe(`${releaseApp}/v2`);
    expect(ended.targets).toEqual([
      expect.objectContaining({
        cluster,
        phase: 'Healthy',
        revision: 2,
        workflowId: status.workflowId,
        templateHash: status.currentTemplateHash,
      }),
    ]);
    expect(await activitySummaries(handle.workflowId)).toEqual([
      'CDEvent pipelineRun.started #1',
      `apply ${releaseApp} v2 to ${cluster}/${namespace}/${app}`,
      'CDEvent taskRun.started #2 (wave 1)',
      `follow ${cluster}/${namespace}/${app} to Healthy or Degraded`,
      'CDEvent taskRun.finished #3 (wave 1)',
      'CDEvent pipelineRun.finished #4',
    ]);
    expect((await handle.query(fleetStatusQuery)).phase).toBe('Healthy');
    const shown = await run(SIIRTO_CLI, ['fleet', 'status', releaseApp]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(
      new RegExp(`wave 1\\s+${cluster}\\s+${namespace}/${app}\\s+Healthy\\s+Healthy`),
    );
  });
});
