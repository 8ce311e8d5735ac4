import type { Client } from '@temporalio/client';
import { FLEET_RELEASE_ANNOTATION } from '../../activities/fleet/cluster-rollouts';
import { FLEET_APPROVE_ANNOTATION } from '../../k8s-bridge/fleet-approval';
import type { RolloutStatus } from '../../schemas/rollout';
import { releaseQuery } from '../../temporal/release-attribute';
import { fleetStatusQuery, fleetWorkflowId, type FleetReleaseState } from '../../workflows/fleet-api';
import { CDEventsSink } from '../cdevents/cdevents-sink';
import { clustersWithSiirto, type ClustersWithSiirto, type StackCluster } from '../harness/clusters';
import { applyFleetRelease } from '../harness/fleet-release-file';
import { isolate } from '../harness/isolation';
import { rolloutManifestWith } from '../harness/rollout-fixtures';
import { historyOf, recordHistoryFixture, temporalClient } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'checkout';
const image = (version: number) => `registry.example/${app}:${version}`;

interface KubeEvent {
  reason: string;
  message: string;
  type: string;
}

interface ReleaseEventData {
  context: { specversion: string; id: string; source: string; type: string; timestamp: string };
  subject: { id: string; source: string; content: Record<string, unknown> };
  customData: {
    release: { app: string; name: string; phase: string };
    waves: { name: string; clusters: string[]; targets: string[] }[];
    clusters: string[];
    wave?: { index: number; name: string };
  };
}

/**
 * What a fleet release shows outside its own workflow, on the stack with two clusters (c1, c2), each
 * running its own Siirto with a CDEvents sink: the release held at an approval gate after its first
 * wave is approved by annotating its Rollout in c1 (`siirto.dev/fleet-approve=<release>`); the
 * release announces itself and its waves in CDEvents; and one Temporal visibility query on
 * `SiirtoRelease` finds the release and every cluster's revision run of it.
 */
describe('a fleet release seen from outside: approved by annotation, announced in CDEvents, found by one query', () => {
  const scope = isolate('fleetvis');
  const { namespace } = scope;
  const releaseApp = `${scope.workflowIdPrefix}-${app}`;
  const releaseName = 'v2';
  let clusters: StackCluster[] = [];
  let client: Client;
  let fleet: ClustersWithSiirto | undefined;
  let sink: CDEventsSink;

  const manifest = (version: number) =>
    rolloutManifestWith(
      { namespace, app, replicas: 1, image: image(version) },
      { canary: { steps: [{ setWeight: 50 }, { setWeight: 100 }], scaleDownDelaySeconds: 1 } },
    );
  const target = (cluster: string) => `${cluster}/${namespace}/${app}`;
  const revisionRun = (cluster: string, revision: number) => `${cluster}/${namespace}/${app}/r${revision}`;
  const rollout = async (cluster: StackCluster) =>
    JSON.parse(await cluster.kubectl(['get', 'rollouts.siirto.dev', app, '-n', namespace, '-o', 'json'])) as {
      status?: RolloutStatus;
      metadata: { annotations?: Record<string, string> };
    };
  const rolloutEvents = async (cluster: StackCluster, reason: string): Promise<KubeEvent[]> => {
    const { items } = JSON.parse(
      await cluster.kubectl([
        'get',
        'events',
        '-n',
        namespace,
        '--field-selector',
        `involvedObject.name=${app},reason=${reason}`,
        '-o',
        'json',
      ]),
    ) as { items: KubeEvent[] };
    return items;
  };

  beforeAll(async () => {
    sink = await CDEventsSink.start();
    fleet = await clustersWithSiirto(scope, 2, { SIIRTO_CDEVENTS_SINK_URL: sink.url });
    clusters = fleet.clusters;
    client = await temporalClient();
    await Promise.all(clusters.map((cluster) => cluster.kubectl(['apply', '-f', '-'], manifest(1))));
    for (const cluster of clusters) {
      await waitFor(
        `${cluster.name}: r1 Healthy`,
        async () => {
          const status = (await rollout(cluster)).status;
          return status?.phase === 'Healthy' && status.revision === 1;
        },
        { timeoutMs: 90_000 },
      );
    }
  }, 420_000);

  afterAll(async () => {
    await fleet?.stop();
    await client?.connection.close();
    await sink?.close();
  });

  it('takes the approval from an annotation on a Rollout of the release, refusing one that names another release', async () => {
    const [c1, c2] = clusters as [StackCluster, StackCluster];
    const applied = await applyFleetRelease(scope, releaseName, {
      app: releaseApp,
      change: { images: { app: image(2) } },
      waves: [
        { name: 'canary', targets: [target('c1')], gates: { approval: true } },
        { name: 'rest', targets: [target('c2')] },
      ],
    });
    expect(applied.code).toBe(0);
    const handle = client.workflow.getHandle(fleetWorkflowId(releaseApp));
    await waitFor(
      'the release held at the approval gate after c1',
      async () => (await handle.query(fleetStatusQuery)).waves[0]?.gate === 'approval',
      { timeoutMs: 120_000 },
    );
    expect((await rollout(c1)).metadata.annotations?.[FLEET_RELEASE_ANNOTATION]).toBe(
      `${releaseApp}/${releaseName}`,
    );

    // A value naming another release: a Warning on the Rollout with the fix, the annotation gone, no approval.
    await c1.kubectl([
      'annotate',
      'rollouts.siirto.dev',
      app,
      '-n',
      namespace,
      `${FLEET_APPROVE_ANNOTATION}=v9`,
    ]);
    const [refused] = await waitFor(
      'the FleetApproveRejected Event on c1',
      async () => {
        const events = await rolloutEvents(c1, 'FleetApproveRejected');
        return events.length > 0 && events;
      },
      { timeoutMs: 30_000 },
    );
    expect(refused).toMatchObject({ type: 'Warning' });
    expect(refused!.message).toContain(`${FLEET_APPROVE_ANNOTATION}="v9"`);
    expect(refused!.message).toContain(`set ${FLEET_APPROVE_ANNOTATION}=${releaseName}`);
    await waitFor(
      'the refused annotation removed',
      async () => (await rollout(c1)).metadata.annotations?.[FLEET_APPROVE_ANNOTATION] === undefined,
      { timeoutMs: 15_000 },
    );
    const held = await handle.query(fleetStatusQuery);
    expect(held.waves[0]).toMatchObject({ gate: 'approval' });
    expect(held.waves[0]?.approved).toBeUndefined();
    expect((await rollout(c2)).status?.revision).toBe(1);

    // The release's own name: c1's bridge sends the approve Update, and the release goes on to c2.
    await c1.kubectl([
      'annotate',
      'rollouts.siirto.dev',
      app,
      '-n',
      namespace,
      `${FLEET_APPROVE_ANNOTATION}=${releaseName}`,
    ]);
    let timer: NodeJS.Timeout | undefined;
    const ended = (await Promise.race([
      handle.result(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('release not over in 150s after the approval')), 150_000);
      }),
    ]).finally(() => clearTimeout(timer))) as FleetReleaseState;
    expect(ended.phase).toBe('Healthy');
    const approvedBy = `annotation ${FLEET_APPROVE_ANNOTATION} on Rollout c1/${namespace}/${app} (by kubectl-annotate)`;
    expect(ended.waves[0]).toMatchObject({ approved: true, approvedBy });
    for (const cluster of clusters) {
      expect((await rollout(cluster)).status).toMatchObject({
        phase: 'Healthy',
        revision: 2,
        workflowId: revisionRun(cluster.name, 2),
      });
    }
    const [accepted] = await rolloutEvents(c1, 'FleetApproved');
    expect(accepted?.message).toContain(`release ${releaseApp}/${releaseName}: canary approved`);
    expect((await rollout(c1)).metadata.annotations?.[FLEET_APPROVE_ANNOTATION]).toBeUndefined();

    // The release's history keeps who approved: the approve Update, as the bridge sent it.
    const history = await historyOf(handle.workflowId);
    const updates = history
      .filter((event) => event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED')
      .map((event) => JSON.stringify(event));
    expect(updates).toHaveLength(1);
    const args = (
      JSON.parse(updates[0]!) as {
        workflowExecutionUpdateAcceptedEventAttributes: {
          acceptedRequest: { input: { name: string; args: { payloads: { data: string }[] } } };
        };
      }
    ).workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest.input;
    expect(args.name).toBe('approve');
    expect(
      args.args.payloads.map((payload) => JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8'))),
    ).toEqual([{ release: releaseName, by: approvedBy }]);

    await recordHistoryFixture('fleet-release-approved-by-annotation', handle);
  });

  it('announces the release as a CDEvents pipelineRun and each wave as a taskRun of it', async () => {
    const releaseId = `${releaseApp}/${releaseName}`;
    const source = `/siirto/fleet/${releaseApp}`;
    const ofRelease = () =>
      sink.events
        .map((event) => event.data as ReleaseEventData)
        .filter((event) => /^dev\.cdevents\.(pipelinerun|taskrun)\./.test(event.context.type));
    const events = await waitFor(
      'six release CDEvents at the sink',
      () => ofRelease().length >= 6 && ofRelease(),
      {
        timeoutMs: 30_000,
      },
    );
    expect(events.map((event) => [event.context.type, event.subject.id])).toEqual([
      ['dev.cdevents.pipelinerun.started.0.2.0', releaseId],
      ['dev.cdevents.taskrun.started.0.2.0', `${releaseId}/canary`],
      ['dev.cdevents.taskrun.finished.0.2.0', `${releaseId}/canary`],
      ['dev.cdevents.taskrun.started.0.2.0', `${releaseId}/rest`],
      ['dev.cdevents.taskrun.finished.0.2.0', `${releaseId}/rest`],
      ['dev.cdevents.pipelinerun.finished.0.2.0', releaseId],
    ]);
    // The release's page in the Web UI the workers know (SIIRTO_TEMPORAL_UI_URL), the same in every event.
    const url = String(events[0]?.subject.content.url);
    expect(url).toMatch(/^https?:\/\//);
    expect(
      url.endsWith(`/namespaces/default/workflows/${encodeURIComponent(fleetWorkflowId(releaseApp))}`),
    ).toBe(true);
    const waves = [
      { name: 'canary', clusters: ['c1'], targets: [target('c1')] },
      { name: 'rest', clusters: ['c2'], targets: [target('c2')] },
    ];
    for (const event of events) {
      expect(event.context).toMatchObject({ specversion: '0.5.1', source });
      expect(Number.isNaN(Date.parse(event.context.timestamp))).toBe(false);
      expect(event.subject.source).toBe(source);
      expect(event.customData).toMatchObject({
        release: { app: releaseApp, name: releaseName },
        waves,
        clusters: ['c1', 'c2'],
      });
    }
    expect(events[0]?.subject.content).toEqual({ pipelineName: releaseApp, url });
    expect(events[1]?.subject.content).toEqual({
      taskName: 'canary',
      url,
      pipelineRun: { id: releaseId, source },
    });
    expect(events[2]?.subject.content).toEqual({
      taskName: 'canary',
      url,
      pipelineRun: { id: releaseId, source },
      outcome: 'success',
    });
    expect(events[5]?.subject.content).toEqual({ pipelineName: releaseApp, url, outcome: 'success' });
    expect(events[5]?.customData.release.phase).toBe('Healthy');
    // One id per event: a consumer drops only true duplicates.
    expect(new Set(events.map((event) => event.context.id)).size).toBe(6);
  });

  it('finds the release and each cluster’s revision run of it by one SiirtoRelease query', async () => {
    const query = releaseQuery(`${releaseApp}/${releaseName}`);
    const expected = [fleetWorkflowId(releaseApp), revisionRun('c1', 2), revisionRun('c2', 2)].sort();
    const found = await waitFor(
      `the release and both revision runs listed by ${query}`,
      async () => {
        const ids: string[] = [];
        for await (const run of client.workflow.list({ query })) ids.push(run.workflowId);
        ids.sort();
        return JSON.stringify(ids) === JSON.stringify(expected) && ids;
      },
      { timeoutMs: 20_000 },
    );
    expect(found).toEqual(expected);
    // The first revisions ran before the release: no attribute, so not listed.
    expect(found).not.toContain(revisionRun('c1', 1));
  });
});
