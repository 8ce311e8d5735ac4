import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { RolloutStatus } from '../../schemas/rollout';
import { startLoad, type LoadGenerator } from '../../stack/load-generator';
import { fleetWorkflowId, type FleetReleaseState } from '../../workflows/fleet-api';
import { clustersWithSiirto, type ClustersWithSiirto, type StackCluster } from '../harness/clusters';
import { run } from '../harness/commands';
import { applyFleetRelease, SIIRTO_CLI } from '../harness/fleet-release-file';
import { isolate } from '../harness/isolation';
import { analysisTemplateManifest, rolloutManifestWith, sampleContainer } from '../harness/rollout-fixtures';
import {
  activityCompletions,
  eventSummary,
  historyOf,
  recordedAt,
  temporalClient,
  type HistoryEvent,
} from '../harness/temporal';
import { waitFor } from '../harness/wait';

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { containers: { image: string }[] };
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
}

interface RolloutJson {
  spec: { template: { spec: { containers: { image: string }[] } } };
  status?: RolloutStatus;
}

/**
 * Fleet releases that go wrong, on three real clusters of the stack (`stack:up -- --clusters=3`), each
 * with its own Siirto (worker and bridge with SIIRTO_CLUSTER_ID=cN) and Rollouts of its own, in the
 * waves `[c1] → [c2, c3]`: a revision that fails its analysis in one cluster, and a cluster's worker
 * killed mid-wave. Each test is its own app, so its Rollouts, templates and metrics are its own.
 */
describe('a fleet release across three clusters when something fails', () => {
  const scope = isolate('fleetfail');
  const { namespace } = scope;
  let fleet: ClustersWithSiirto | undefined;
  let clusters: StackCluster[] = [];
  let client: Client;
  const loads: LoadGenerator[] = [];

  const image = (app: string, version: number) => `registry.example/${app}:${version}`;
  const target = (cluster: string, app: string) => `${cluster}/${namespace}/${app}`;
  const cluster = (name: string): StackCluster => {
    const found = clusters.find((candidate) => candidate.name === name);
    if (!found) throw new Error(`no cluster ${name} in the stack`);
    return found;
  };
  /** The release's workflow ID is its app's: this file's own, so no other run meets it. */
  const releaseApp = (app: string) => `${scope.workflowIdPrefix}-${app}`;

  const rollout = async (where: StackCluster, app: string): Promise<RolloutJson> =>
    JSON.parse(
      await where.kubectl(['get', 'rollouts.siirto.dev', app, '-n', namespace, '-o', 'json']),
    ) as RolloutJson;
  const statusOf = async (where: StackCluster, app: string) => (await rollout(where, app)).status ?? {};
  const waitForStatus = (
    where: StackCluster,
    app: string,
    description: string,
    accept: (status: RolloutStatus) => boolean,
    timeoutMs = 90_000,
  ) =>
    waitFor(
      `${where.name}: ${app} ${description}`,
      async () => {
        const status = await statusOf(where, app);
        return accept(status) && status;
      },
      { timeoutMs },
    );
  const pods = async (where: StackCluster, app: string) =>
    (
      JSON.parse(await where.kubectl(['get', 'pods', '-n', namespace, '-l', `app=${app}`, '-o', 'json'])) as {
        items: PodJson[];
      }
    ).items;
  const isReady = (pod: PodJson) =>
    !pod.metadata.deletionTimestamp &&
    pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  /** The app's pods once they are one Ready pod of the image and no other. */
  const onlyReadyPodOf = (where: StackCluster, app: string, version: number) =>
    waitFor(
      `${where.name}: one Ready pod of ${image(app, version)} and no other`,
      async () => {
        const items = await pods(where, app);
        return (
          items.length === 1 &&
          items.every((pod) => isReady(pod) && pod.spec.containers[0]?.image === image(app, version)) &&
          items
        );
      },
      { timeoutMs: 60_000 },
    );

  /** Each cluster's Rollout of the app (`strategy` by cluster) Healthy at its first revision. */
  const firstRevisionsHealthy = async (
    app: string,
    strategy: (cluster: string) => Record<string, unknown>,
  ) => {
    await Promise.all(
      clusters.map((where) =>
        where.kubectl(
          ['apply', '-f', '-'],
          rolloutManifestWith({ namespace, app, replicas: 1, image: image(app, 1) }, strategy(where.name)),
        ),
      ),
    );
    for (const where of clusters) {
      await waitForStatus(where, app, 'r1 Healthy', (s) => s.phase === 'Healthy' && s.revision === 1);
    }
  };

  /** Starts the release as a user does, with `siirto fleet apply -f`. */
  const apply = async (name: string, spec: Record<string, unknown>) => {
    const applied = await applyFleetRelease(scope, name, spec);
    expect(applied).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`started as ${fleetWorkflowId(String(spec.app))}`),
    });
    return client.workflow.getHandle(fleetWorkflowId(String(spec.app)));
  };
  const resultWithin = async (workflowId: string, timeoutMs: number): Promise<FleetReleaseState> => {
    let timer: NodeJS.Timeout | undefined;
    return (await Promise.race([
      client.workflow.getHandle(workflowId).result(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${workflowId} not over in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer))) as FleetReleaseState;
  };
  const workflowStatus = async (workflowId: string) =>
    (await client.workflow.getHandle(workflowId).describe()).status.name;

  beforeAll(async () => {
    fleet = await clustersWithSiirto(scope, 3);
    clusters = fleet.clusters;
    client = await temporalClient();
  }, 420_000);

  afterEach(async () => {
    await Promise.all(loads.splice(0).map((load) => load.stop()));
  });

  afterAll(async () => {
    await Promise.all(loads.map((load) => load.stop()));
    await fleet?.stop();
    await client?.connection.close();
  });

  it('aborts c2 and c3 and rolls c1 back when c2’s new revision fails its analysis, and says so', async () => {
    const app = 'checkout';
    // c2's own analysis: the share of the canary's requests that failed, from its pods' own metrics
    // as Prometheus scraped them in c2.
    await cluster('c2').kubectl(
      ['apply', '-f', '-'],
      analysisTemplateManifest(namespace, 'error-rate', {
        metrics: [
          {
            name: 'error-rate',
            interval: '2s',
            count: 15,
            // Until Prometheus has two scrapes of the canary with requests in them, the rate is empty.
            inconclusiveLimit: 14,
            failureLimit: 0,
            successCondition: 'result <= 0.1',
            failureCondition: 'result > 0.1',
            provider: {
              prometheus: {
                query:
                  'sum(rate(http_requests_total{cluster="c2",namespace="{{args.namespace}}",siirto_dev_pod_template_hash="{{args.canary-hash}}",code="500"}[10s]))' +
                  ' / sum(rate(http_requests_total{cluster="c2",namespace="{{args.namespace}}",siirto_dev_pod_template_hash="{{args.canary-hash}}"}[10s]))',
              },
            },
          },
        ],
      }),
    );
    const canary = (steps: unknown[]) => ({
      canary: { steps, scaleDownDelaySeconds: 1, abortScaleDownDelaySeconds: 1 },
    });
    await firstRevisionsHealthy(app, (name) =>
      name === 'c2'
        ? canary([{ setWeight: 50 }, { analysis: { templates: [{ templateName: 'error-rate' }] } }])
        : name === 'c3'
          ? // c3's revision waits for a person: in flight until the release aborts it.
            canary([{ setWeight: 50 }, { pause: {} }])
          : canary([{ setWeight: 50 }, { setWeight: 100 }]),
    );

    const releaseId = releaseApp(app);
    // The new build fails half of its requests (the sample app's SAMPLE_APP_ERROR_RATE).
    const handle = await apply('v2', {
      app: releaseId,
      change: {
        templatePatch: {
          spec: { containers: [sampleContainer(image(app, 2), { SAMPLE_APP_ERROR_RATE: 0.5 })] },
        },
      },
      waves: [
        { targets: [target('c1', app)] },
        { maxParallel: 2, targets: [target('c2', app), target('c3', app)] },
      ],
      abortOnDegraded: true,
      rollback: 'completedWaves',
    });

    // c2's users reach its canary pod once it is Ready.
    const c2Canary = await waitFor(
      'c2: a Ready canary pod of the new build',
      async () =>
        (await pods(cluster('c2'), app)).find(
          (pod) => isReady(pod) && pod.spec.containers[0]?.image === image(app, 2) && pod.status?.podIP,
        ),
      { timeoutMs: 90_000 },
    );
    const load = startLoad({ url: `http://${c2Canary.status!.podIP!}:8080/`, ratePerSecond: 20 });
    loads.push(load);

    const ended = await resultWithin(handle.workflowId, 180_000);
    // The release ran to its end: aborted, never Failed.
    expect(await workflowStatus(handle.workflowId)).toBe('COMPLETED');
    expect(ended.phase).toBe('Aborted');
    // The canary really answered with errors, half of them.
    const counts = load.responses();
    expect(counts.byStatus['500'] ?? 0).toBeGreaterThan(0);
    expect(counts.byVersion['2'] ?? 0).toBeGreaterThan(0);

    const byCluster = (name: string) => ended.targets.find((t) => t.cluster === name);
    expect(byCluster('c2')).toMatchObject({ phase: 'Degraded', rolloutPhase: 'Degraded' });
    expect(byCluster('c3')).toMatchObject({ phase: 'Aborted' });
    expect(byCluster('c1')).toMatchObject({ phase: 'RolledBack', rolloutPhase: 'Healthy' });
    expect(ended.message).toMatch(/c2\/.*checkout ended Degraded/);

    // c2: its own analysis failed it, and it serves from the stable pods alone.
    const c2 = await statusOf(cluster('c2'), app);
    expect(c2).toMatchObject({ phase: 'Degraded', revision: 2 });
    expect(c2.message).toMatch(/error-rate/);
    await onlyReadyPodOf(cluster('c2'), app, 1);

    // c3: its in-flight revision aborted by the fleet, the stable revision serving alone.
    const c3 = await waitForStatus(
      cluster('c3'),
      app,
      'r2 aborted',
      (s) => s.revision === 2 && s.phase === 'Degraded',
    );
    expect(c3.message).toContain(`fleet release v2 aborted`);
    expect(c3.weights?.canary ?? 0).toBe(0);
    await onlyReadyPodOf(cluster('c3'), app, 1);

    // c1: the previous template back, rolled out as a new revision, its pod of the old image Ready.
    expect((await rollout(cluster('c1'), app)).spec.template.spec.containers[0]?.image).toBe(image(app, 1));
    expect(await statusOf(cluster('c1'), app)).toMatchObject({ phase: 'Healthy', revision: 3 });
    await onlyReadyPodOf(cluster('c1'), app, 1);
    // The real rollback activity ran in c1 and put the template back.
    const history = await historyOf(handle.workflowId);
    expect(activityCompletions(history, new RegExp(`^roll back ${target('c1', app)} to `))).toHaveLength(1);

    // `siirto fleet status` names the cluster and the reason.
    const status = await run(SIIRTO_CLI, ['fleet', 'status', releaseId]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/Aborted — aborted: c2\/\S+ ended Degraded: .*error-rate/);
    expect(status.stdout).toMatch(/\bc2\s+\S+\/checkout\s+Degraded\s+Degraded\b/);
  }, 300_000);

  it('delays but completes the release when c2’s worker is killed mid-wave and started again', async () => {
    const app = 'pricing';
    // The release's gate after c1: its new pods up, as Prometheus scraped them in c1.
    await cluster('c1').kubectl(
      ['apply', '-f', '-'],
      analysisTemplateManifest(namespace, 'pods-up', {
        metrics: [
          {
            name: 'pods-up',
            interval: '2s',
            count: 2,
            inconclusiveLimit: 10,
            successCondition: 'result >= 1',
            provider: {
              prometheus: {
                query:
                  'sum(up{cluster="c1",namespace="{{args.namespace}}",siirto_dev_pod_template_hash="{{args.canary-hash}}"})',
              },
            },
          },
        ],
      }),
    );
    // In c2 and c3 the revision pauses 20 s at half weight: time for c2's worker to die in flight.
    await firstRevisionsHealthy(app, (name) => ({
      canary: {
        steps:
          name === 'c1'
            ? [{ setWeight: 50 }, { setWeight: 100 }]
            : [{ setWeight: 50 }, { pause: { duration: '20s' } }, { setWeight: 100 }],
        scaleDownDelaySeconds: 1,
      },
    }));

    const releaseId = releaseApp(app);
    const handle = await apply('v2', {
      app: releaseId,
      change: { images: { app: image(app, 2) } },
      waves: [
        { targets: [target('c1', app)], gates: { analysis: { templates: [{ templateName: 'pods-up' }] } } },
        { maxParallel: 2, targets: [target('c2', app), target('c3', app)] },
      ],
    });

    const c2Worker = fleet!.siirto.get('c2')!.worker;
    await waitForStatus(
      cluster('c2'),
      app,
      'r2 paused at its pause step',
      (s) => s.revision === 2 && s.phase === 'Paused',
      120_000,
    );
    // The kill must meet c2's follow running on that worker: its attempt started and still pending.
    await waitFor(`the release's follow of ${target('c2', app)} started`, async () => {
      const description = await client.workflow.getHandle(handle.workflowId).describe();
      return (description.raw.pendingActivities ?? []).some(
        (activity) =>
          activity.activityId === `follow/${target('c2', app)}` &&
          activity.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
      );
    });
    await c2Worker.kill();
    const killedAt = Date.now();
    // Killed mid-wave: c2's revision was still at its pause.
    expect(await statusOf(cluster('c2'), app)).toMatchObject({ revision: 2, phase: 'Paused' });
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    await c2Worker.start();

    const ended = await resultWithin(handle.workflowId, 180_000);
    expect(await workflowStatus(handle.workflowId)).toBe('COMPLETED');
    expect(ended.phase).toBe('Healthy');
    for (const where of clusters) {
      expect(await statusOf(where, app)).toMatchObject({
        phase: 'Healthy',
        revision: 2,
        workflowId: `${where.name}/${namespace}/${app}/r2`,
      });
      await onlyReadyPodOf(where, app, 2);
      // No revision's run ended Failed: each completed (it scales the old pod down after Healthy, so
      // it may close a moment after the release).
      const run = `${where.name}/${namespace}/${app}/r2`;
      expect(
        await waitFor(`${run} closed`, async () => {
          const status = await workflowStatus(run);
          return status !== 'RUNNING' && status;
        }),
      ).toBe('COMPLETED');
    }

    const history = await historyOf(handle.workflowId);
    // The gate analysis was measured in c1, by c1's worker, against Prometheus.
    expect(activityCompletions(history, /^c1\/\S+\/pricing: measure pods-up 2\/2$/)).toHaveLength(1);
    // c2's follow was taken over: its last attempt is a later one than the first, after the killed
    // worker's heartbeats stopped.
    const followStarted = startedAttempt(history, `follow ${target('c2', app)} to Healthy or Degraded`);
    expect(followStarted.attempt).toBeGreaterThan(1);
    expect(followStarted.at).toBeGreaterThan(killedAt);
    expect(followStarted.lastFailure).toMatch(/HEARTBEAT|heartbeat/);
    expect(startedAttempt(history, `follow ${target('c3', app)} to Healthy or Degraded`).attempt).toBe(1);
  }, 300_000);
});

/** The attempt of an activity (by its summary) that its history records as started, and when. */
function startedAttempt(
  events: HistoryEvent[],
  summary: string,
): { attempt: number; at: number; lastFailure: string } {
  const scheduled = events.find(
    (event) => event.eventType === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED' && eventSummary(event) === summary,
  );
  if (!scheduled) throw new Error(`no activity "${summary}" in the history`);
  const started = events.find(
    (event) =>
      event.eventType === 'EVENT_TYPE_ACTIVITY_TASK_STARTED' &&
      (event.activityTaskStartedEventAttributes as { scheduledEventId: string }).scheduledEventId ===
        scheduled.eventId,
  );
  if (!started) throw new Error(`activity "${summary}" never started`);
  const attributes = started.activityTaskStartedEventAttributes as { attempt: number; lastFailure?: unknown };
  return {
    attempt: attributes.attempt,
    at: recordedAt(started),
    lastFailure: JSON.stringify(attributes.lastFailure ?? null),
  };
}
