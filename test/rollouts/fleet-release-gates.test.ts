import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { FLEET_RELEASE_ANNOTATION } from '../../activities/fleet/cluster-rollouts';
import type { RolloutStatus } from '../../schemas/rollout';
import { fleetWorkflowId, type FleetReleaseState } from '../../workflows/fleet-api';
import { clustersWithSiirto, type ClustersWithSiirto, type StackCluster } from '../harness/clusters';
import { run, type CommandResult } from '../harness/commands';
import { applyFleetRelease, SIIRTO_CLI } from '../harness/fleet-release-file';
import { isolate } from '../harness/isolation';
import { literal } from '../harness/literal-pattern';
import { rolloutManifestWith } from '../harness/rollout-fixtures';
import {
  historyOf,
  recordedAt,
  temporalClient,
  timerSummaries,
  type HistoryEvent,
} from '../harness/temporal';
import { waitFor } from '../harness/wait';

/** Each test's own Rollout, in every cluster, so that no test starts from another's revision. */
const ROLLOUTS = ['approval', 'window', 'overlap'] as const;
type RolloutName = (typeof ROLLOUTS)[number];
const image = (rollout: RolloutName, version: number) => `registry.example/${rollout}:${version}`;

/** How long the tests watch that a held wave stays held: longer than a follow's poll (5 s) twice over. */
const HELD_FOR_MILLISECONDS = 12_000;
const MINUTE = 60_000;

interface PodJson {
  metadata: { deletionTimestamp?: string };
  spec: { containers: { image: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

interface RolloutJson {
  metadata: { annotations?: Record<string, string> };
  spec: { template: { spec: { containers: { image: string }[] } } };
  status?: RolloutStatus;
}

/**
 * A fixed-offset IANA zone whose clock reads about noon now, so that windows a few minutes long never
 * straddle a midnight (a window ends on the day it starts), whenever the test runs.
 */
function noonZone(now: number): { zone: string; offsetHours: number } {
  let offsetHours = 12 - new Date(now).getUTCHours();
  if (offsetHours > 14) offsetHours -= 24;
  if (offsetHours < -12) offsetHours += 24;
  // Etc/GMT-3 is three hours ahead of UTC: POSIX signs, reversed.
  const zone = offsetHours === 0 ? 'UTC' : `Etc/GMT${offsetHours > 0 ? '-' : '+'}${Math.abs(offsetHours)}`;
  return { zone, offsetHours };
}

/** The zone's wall clock at an instant: `HH:MM`, the day's name and date, as a release file and Siirto write them. */
function wallClock(instant: number, offsetHours: number) {
  const local = new Date(instant + offsetHours * 3_600_000);
  const two = (value: number) => String(value).padStart(2, '0');
  return {
    clock: `${two(local.getUTCHours())}:${two(local.getUTCMinutes())}`,
    day: (['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const)[local.getUTCDay()] ?? 'Sun',
    date: `${local.getUTCFullYear()}-${two(local.getUTCMonth() + 1)}-${two(local.getUTCDate())}`,
  };
}

/** When the release's history recorded an accepted `approve` update, in ms (Temporal's server clock). */
function approvalsAccepted(events: HistoryEvent[]): number[] {
  return events
    .filter(
      (event) =>
        event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED' &&
        (
          event.workflowExecutionUpdateAcceptedEventAttributes as
            { acceptedRequest?: { input?: { name?: string } } } | undefined
        )?.acceptedRequest?.input?.name === 'approve',
    )
    .map(recordedAt);
}

/**
 * A fleet release's gates on three clusters of the stack, each running its own Siirto (worker and
 * bridge with SIIRTO_CLUSTER_ID=cN) against the one Temporal, in the waves [c1] → [c2, c3] with the
 * second wave's two Rollouts at once (maxParallel 2). Each test has its own Rollout in every cluster:
 * a canary without a traffic router or pauses, so the only holds are the release's. Releases are
 * started and steered with the CLI as a user types it.
 */
describe('a fleet release held at its gates across three clusters', () => {
  const scope = isolate('fleetgate');
  const { namespace } = scope;
  // The releases' workflow IDs are the apps': this file's own, so that no other run meets them.
  const releaseApp = (label: string) => `${scope.workflowIdPrefix}-${label}`;
  const started: string[] = [];
  let clusters: StackCluster[] = [];
  let client: Client;
  let fleet: ClustersWithSiirto | undefined;

  const cluster = (name: string): StackCluster => {
    const found = clusters.find((candidate) => candidate.name === name);
    if (!found) throw new Error(`no cluster ${name}`);
    return found;
  };
  const manifest = (rollout: RolloutName) =>
    rolloutManifestWith(
      { namespace, app: rollout, replicas: 1, image: image(rollout, 1) },
      // The old pod goes a second after the promotion, rather than the default 30.
      { canary: { steps: [{ setWeight: 50 }, { setWeight: 100 }], scaleDownDelaySeconds: 1 } },
    );
  const target = (clusterName: string, rollout: RolloutName) => `${clusterName}/${namespace}/${rollout}`;
  const revisionRun = (clusterName: string, rollout: RolloutName, revision: number) =>
    `${clusterName}/${namespace}/${rollout}/r${revision}`;
  const twoWaves = (rollout: RolloutName, firstGates: Record<string, unknown>) => [
    { name: 'first', targets: [target('c1', rollout)], gates: firstGates },
    { name: 'rest', maxParallel: 2, targets: [target('c2', rollout), target('c3', rollout)] },
  ];

  const rolloutOf = async (clusterName: string, rollout: RolloutName): Promise<RolloutJson> =>
    JSON.parse(
      await cluster(clusterName).kubectl([
        'get',
        'rollouts.siirto.dev',
        rollout,
        '-n',
        namespace,
        '-o',
        'json',
      ]),
    ) as RolloutJson;
  /** The app's pods once they are exactly the revision's, all Ready, none going. */
  const readyPods = (clusterName: string, rollout: RolloutName, version: number) =>
    waitFor(`${clusterName}: a Ready pod of ${image(rollout, version)} and no other`, async () => {
      const { items } = JSON.parse(
        await cluster(clusterName).kubectl([
          'get',
          'pods',
          '-n',
          namespace,
          '-l',
          `app=${rollout}`,
          '-o',
          'json',
        ]),
      ) as { items: PodJson[] };
      const ready = (pod: PodJson) =>
        !pod.metadata.deletionTimestamp &&
        pod.spec.containers[0]?.image === image(rollout, version) &&
        pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return items.length === 1 && items.every(ready) && items;
    });
  const healthyAt = (clusterName: string, rollout: RolloutName, revision: number, timeoutMs = 60_000) =>
    waitFor(
      `${clusterName}/${rollout}: r${revision} Healthy`,
      async () => {
        const { status } = await rolloutOf(clusterName, rollout);
        return status?.phase === 'Healthy' && status.revision === revision && status;
      },
      { timeoutMs },
    );
  /** When Temporal's server started and closed a workflow, in ms; undefined if it never ran. */
  const serverTimes = async (workflowId: string) => {
    try {
      const description = await client.workflow.getHandle(workflowId).describe();
      return {
        status: description.status.name,
        start: description.startTime.getTime(),
        close: description.closeTime?.getTime() ?? Number.NaN,
      };
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    }
  };
  /**
   * A revision's run once it has closed: the release goes on when the Rollout is Healthy, a moment
   * before the run itself ends (it still scales the old pods down).
   */
  const closedRun = (workflowId: string) =>
    waitFor(`${workflowId} closed`, async () => {
      const times = await serverTimes(workflowId);
      return times !== undefined && times.status !== 'RUNNING' && times;
    });
  const siirto = (args: string[]): Promise<CommandResult> => run(SIIRTO_CLI, args);
  /** `siirto fleet status APP`, until its output says what is wanted. */
  const statusSaying = (app: string, wanted: RegExp, timeoutMs = 60_000) =>
    waitFor(
      `siirto fleet status ${app} saying ${String(wanted)}`,
      async () => {
        const shown = await siirto(['fleet', 'status', app]);
        if (shown.code !== 0) throw new Error(`exit ${shown.code}: ${shown.stderr}`);
        // Thrown rather than false, so that a timeout shows the last status seen.
        if (!wanted.test(shown.stdout)) throw new Error(shown.stdout);
        return shown.stdout;
      },
      { timeoutMs, intervalMs: 1_000 },
    );
  /** Starts a release as a user does, from a file with `siirto fleet apply -f`. */
  const apply = async (app: string, releaseName: string, spec: Record<string, unknown>) => {
    const applied = await applyFleetRelease(scope, releaseName, { app, ...spec });
    expect(applied).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`started as ${fleetWorkflowId(app)}`),
    });
    started.push(fleetWorkflowId(app));
    return client.workflow.getHandle(fleetWorkflowId(app));
  };
  const ended = async (app: string, timeoutMs = 120_000): Promise<FleetReleaseState> => {
    let timer: NodeJS.Timeout | undefined;
    return (await Promise.race([
      client.workflow.getHandle(fleetWorkflowId(app)).result(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`release ${app} not over in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer))) as FleetReleaseState;
  };
  /** c2 and c3 still at r1, their templates as they were and no revision r2 run started, for a while. */
  const expectSecondWaveHeld = async (rollout: RolloutName, forMilliseconds: number) => {
    const before = await Promise.all(['c2', 'c3'].map((name) => rolloutOf(name, rollout)));
    const until = Date.now() + forMilliseconds;
    do {
      for (const [index, name] of ['c2', 'c3'].entries()) {
        const now = await rolloutOf(name, rollout);
        expect(now.spec.template).toEqual(before[index]?.spec.template);
        expect(now.spec.template.spec.containers[0]?.image).toBe(image(rollout, 1));
        expect(now.metadata.annotations?.[FLEET_RELEASE_ANNOTATION]).toBeUndefined();
        expect(now.status).toMatchObject({ phase: 'Healthy', revision: 1 });
        expect(await serverTimes(revisionRun(name, rollout, 2))).toBeUndefined();
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    } while (Date.now() < until);
  };
  /** Every cluster's Rollout Healthy at r2 with the new image's pod Ready, as the release reports it. */
  const expectEveryClusterAtR2 = async (
    rollout: RolloutName,
    release: FleetReleaseState,
    releaseName: string,
  ) => {
    expect(release.phase).toBe('Healthy');
    for (const name of ['c1', 'c2', 'c3']) {
      const { status, metadata, spec } = await rolloutOf(name, rollout);
      expect(status).toMatchObject({
        phase: 'Healthy',
        revision: 2,
        workflowId: revisionRun(name, rollout, 2),
      });
      expect(spec.template.spec.containers[0]?.image).toBe(image(rollout, 2));
      expect(metadata.annotations?.[FLEET_RELEASE_ANNOTATION]).toBe(`${release.app}/${releaseName}`);
      expect(release.targets).toContainEqual(
        expect.objectContaining({ cluster: name, phase: 'Healthy', revision: 2 }),
      );
      await readyPods(name, rollout, 2);
    }
  };

  beforeAll(async () => {
    fleet = await clustersWithSiirto(scope, 3);
    clusters = fleet.clusters;
    client = await temporalClient();
    await Promise.all(
      clusters.flatMap((each) =>
        ROLLOUTS.map((rollout) => each.kubectl(['apply', '-f', '-'], manifest(rollout))),
      ),
    );
    for (const each of clusters) {
      for (const rollout of ROLLOUTS) await healthyAt(each.name, rollout, 1, 90_000);
    }
  }, 420_000);

  afterAll(async () => {
    // A release a failed test left held at a gate would otherwise wait there for ever.
    await Promise.all(
      started.map((workflowId) =>
        client?.workflow
          .getHandle(workflowId)
          .terminate('test file cleanup')
          .catch(() => undefined),
      ),
    );
    await fleet?.stop();
    await client?.connection.close();
  });

  it('holds the second wave at an approval gate until `siirto fleet approve`, then takes c2 and c3 to Healthy at the new revision', async () => {
    const app = releaseApp('approval');
    const handle = await apply(app, 'v2', {
      change: { images: { app: image('approval', 2) } },
      waves: twoWaves('approval', { approval: true }),
    });
    await healthyAt('c1', 'approval', 2);
    await readyPods('c1', 'approval', 2);

    // The release says what it waits for and how to give it …
    const waiting = await statusSaying(
      app,
      new RegExp(`Waiting — approval after first: siirto fleet approve ${app}`),
    );
    expect(waiting).toMatch(/first: Gating \(approval\)/);
    expect(waiting).toMatch(/rest: Pending, maxParallel 2/);
    // … and holds c2 and c3 meanwhile.
    await expectSecondWaveHeld('approval', HELD_FOR_MILLISECONDS);

    const approved = await siirto(['fleet', 'approve', app]);
    expect(approved).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('approved: first approved by'),
    });

    const release = await ended(app);
    await expectEveryClusterAtR2('approval', release, 'v2');

    // By Temporal's server clock, the second wave's revisions began only after the approval was recorded.
    const [approvedAt, ...otherApprovals] = approvalsAccepted(await historyOf(handle.workflowId));
    expect(otherApprovals).toEqual([]);
    expect(approvedAt).toBeDefined();
    const c1 = await serverTimes(revisionRun('c1', 'approval', 2));
    expect(c1!.close).toBeLessThan(approvedAt!);
    for (const name of ['c2', 'c3']) {
      const times = await closedRun(revisionRun(name, 'approval', 2));
      expect(times?.status).toBe('COMPLETED');
      expect(times!.start).toBeGreaterThan(approvedAt!);
    }
  }, 180_000);

  it('holds the next wave while its time window is closed and starts it when the next window opens', async () => {
    const app = releaseApp('window');
    // Windows to the minute, from the clock now: the first open now and closing at least 45 s ahead
    // (so the first wave starts inside it however slowly the CLI starts), the next opening two minutes
    // after that. An approval gate after the first wave, given only once the first window has closed,
    // brings the second wave to its start while no window is open, whatever the machine's speed.
    const now = Date.now();
    const { zone, offsetHours } = noonZone(now);
    const firstOpens = Math.floor(now / MINUTE) * MINUTE;
    const firstCloses = Math.ceil((now + 45_000) / MINUTE) * MINUTE;
    const nextOpens = firstCloses + 2 * MINUTE;
    const at = (instant: number) => wallClock(instant, offsetHours);
    const today = at(now).day;
    const handle = await apply(app, 'v2', {
      change: { images: { app: image('window', 2) } },
      waves: twoWaves('window', { approval: true }),
      windows: [
        { days: [today], start: at(firstOpens).clock, end: at(firstCloses).clock, timeZone: zone },
        { days: [today], start: at(nextOpens).clock, end: at(nextOpens + 10 * MINUTE).clock, timeZone: zone },
      ],
    });
    await statusSaying(app, /Waiting — approval after first/, 120_000);
    const closedFor = firstCloses + 1_000 - Date.now();
    if (closedFor > 0) await new Promise((resolve) => setTimeout(resolve, closedFor));
    expect(await siirto(['fleet', 'approve', app])).toMatchObject({ code: 0 });

    // Closed: the release waits for the next opening and says when that is, in the window's zone.
    const opening = at(nextOpens);
    const waiting = await statusSaying(
      app,
      new RegExp(
        `Waiting — window closed: c[23]/${literal(`${namespace}/window (rest) waits until ${opening.day} ${opening.date} ${opening.clock} ${zone}`)}`,
      ),
      nextOpens - Date.now(),
    );
    expect(Date.now()).toBeLessThan(nextOpens);
    expect(waiting).toMatch(/first: Done/);
    await expectSecondWaveHeld('window', Math.min(HELD_FOR_MILLISECONDS, nextOpens - Date.now() - 5_000));

    const release = await ended(app, nextOpens + 120_000 - Date.now());
    await expectEveryClusterAtR2('window', release, 'v2');

    // By Temporal's server clock: the first wave began inside the first window, the approval came
    // after that window had closed, and the second wave's revisions began only once the next had opened.
    const c1 = await serverTimes(revisionRun('c1', 'window', 2));
    expect(c1!.start).toBeLessThan(firstCloses);
    const [approvedAt] = approvalsAccepted(await historyOf(handle.workflowId));
    expect(approvedAt).toBeGreaterThan(firstCloses);
    expect(approvedAt).toBeLessThan(nextOpens);
    expect(await timerSummaries(handle.workflowId)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^window closed: c2/${namespace}/window \\(rest\\) waits until`)),
        expect.stringMatching(new RegExp(`^window closed: c3/${namespace}/window \\(rest\\) waits until`)),
      ]),
    );
    for (const name of ['c2', 'c3']) {
      const times = await closedRun(revisionRun(name, 'window', 2));
      expect(times?.status).toBe('COMPLETED');
      expect(times!.start).toBeGreaterThanOrEqual(nextOpens);
    }
  }, 360_000);

  it('refuses a second release of the same app while one runs, naming it and how to abort it, and applies nothing of it', async () => {
    const app = releaseApp('overlap');
    await apply(app, 'v2', {
      change: { images: { app: image('overlap', 2) } },
      waves: twoWaves('overlap', { approval: true }),
    });
    await healthyAt('c1', 'overlap', 2);
    await statusSaying(app, /Waiting — approval after first/);

    const second = await applyFleetRelease(scope, 'v3', {
      app,
      change: { images: { app: image('overlap', 3) } },
      waves: [{ targets: [target('c1', 'overlap'), target('c2', 'overlap'), target('c3', 'overlap')] }],
    });
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(
      `release ${app}/v2 of app ${app} is still running (${fleetWorkflowId(app)})`,
    );
    expect(second.stderr).toContain(`siirto fleet abort ${app}`);
    // Nothing of it reached c2 or c3, held by the first release's gate, nor c1.
    await expectSecondWaveHeld('overlap', 3_000);
    expect((await rolloutOf('c1', 'overlap')).spec.template.spec.containers[0]?.image).toBe(
      image('overlap', 2),
    );

    // The first release goes on as before, to its end.
    expect(await siirto(['fleet', 'approve', app])).toMatchObject({ code: 0 });
    const release = await ended(app);
    expect(release.release).toBe('v2');
    await expectEveryClusterAtR2('overlap', release, 'v2');
    for (const name of ['c1', 'c2', 'c3']) {
      expect(await serverTimes(revisionRun(name, 'overlap', 3))).toBeUndefined();
      const { items } = JSON.parse(
        await cluster(name).kubectl(['get', 'pods', '-n', namespace, '-l', 'app=overlap', '-o', 'json']),
      ) as { items: PodJson[] };
      expect(items.map((pod) => pod.spec.containers[0]?.image)).not.toContain(image('overlap', 3));
    }
  }, 180_000);
});
