import { createCDEventsActivities } from '../../activities/cdevents-emission';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import path from 'node:path';
import { fleetApproveCommand, releaseSnapshot, startRelease, releaseQuery } from '../../cli/fleet-commands';
import { fleetStatusTable } from '../../cli/fleet-status-table';
import { parseFleetRelease, WEEKDAYS } from '../../schemas/fleet-release';
import {
  FLEET_TASK_QUEUE,
  fleetAbortUpdate,
  fleetClusterTaskQueue,
  fleetPromoteUpdate,
  fleetStatusQuery,
  type FleetReleaseInput,
  type FleetReleaseState,
} from '../../workflows/fleet-api';
import { SiirtoReleaseKey } from '../../workflows/search-attributes';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';
import { FakeFleet } from './fake-fleet';

/**
 * The fleet release workflow, as the worker bundles it, on a Temporal dev server of this file's own,
 * with one worker per cluster on that cluster's queue (stopped and started again as a test needs)
 * running the fleet activities against Rollouts in memory. Durations are seconds: the dev server
 * skips no time.
 */

const FOLLOW_INTERVAL = 100;
const fleet = new FakeFleet();
let environment: TestWorkflowEnvironment;
let client: Client;
let bundle: WorkflowBundleWithSourceMap;
const clusterWorkers = new Map<string, { worker: Worker; running: Promise<void> }>();
let releaseWorker: { worker: Worker; running: Promise<void> };

async function startClusterWorker(cluster: string): Promise<void> {
  const worker = await Worker.create({
    connection: environment.nativeConnection,
    taskQueue: fleetClusterTaskQueue(cluster),
    activities: fleet.activities(),
    maxHeartbeatThrottleInterval: '100 ms',
  });
  clusterWorkers.set(cluster, { worker, running: worker.run() });
}

async function stopClusterWorker(cluster: string): Promise<void> {
  const running = clusterWorkers.get(cluster);
  clusterWorkers.delete(cluster);
  running?.worker.shutdown();
  await running?.running;
}

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Installed by another file in this process: its logger stays.
  }
  [environment, bundle] = await Promise.all([
    TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: path.join(stack.binDir, 'temporal') },
        ip: '127.0.0.1',
        searchAttributes: [SiirtoReleaseKey],
        log: { format: 'pretty', level: 'error' },
      },
    }),
    bundleWorkflowCode({
      workflowsPath: require.resolve('../../workflows'),
      logger: new DefaultLogger('WARN'),
    }),
  ]);
  client = environment.client;
  const worker = await Worker.create({
    connection: environment.nativeConnection,
    taskQueue: FLEET_TASK_QUEUE,
    workflowBundle: bundle,
    // Emission off (no sink): the release's CDEvents are tested on the stack.
    activities: createCDEventsActivities({
      mode: 'binary',
      headers: {},
      retryForMs: 1_000,
      origin: { clusterId: 'c1', temporalNamespace: 'default' },
    }),
    // Every task replays the history in full, so any nondeterminism fails here.
    maxCachedWorkflows: 0,
  });
  releaseWorker = { worker, running: worker.run() };
  for (const cluster of ['c1', 'c2', 'c3']) await startClusterWorker(cluster);
}, 120_000);

afterAll(async () => {
  for (const cluster of [...clusterWorkers.keys()]) await stopClusterWorker(cluster);
  releaseWorker?.worker.shutdown();
  await releaseWorker?.running;
  await environment?.teardown();
}, 60_000);

type Release = (input: FleetReleaseInput) => Promise<FleetReleaseState>;

function release(app: string, spec: Record<string, unknown>) {
  return parseFleetRelease({
    apiVersion: 'siirto.dev/v1alpha1',
    kind: 'FleetRelease',
    metadata: { name: 'v2' },
    spec: { app, change: { images: { app: `registry.example/${app}:2` } }, ...spec },
  });
}

async function start(app: string, spec: Record<string, unknown>): Promise<WorkflowHandle<Release>> {
  return startRelease(client, release(app, spec), {
    followIntervalMilliseconds: FOLLOW_INTERVAL,
    by: 'test',
  });
}

const state = (handle: WorkflowHandle<Release>) => handle.query(fleetStatusQuery);

describe('a fleet release', () => {
  test('runs its waves in order: the second wave starts only after the first is Healthy and has soaked, its two Rollouts at once', async () => {
    for (const cluster of ['c1', 'c2', 'c3']) fleet.add(`${cluster}/shop/order`);
    const handle = await start('order', {
      waves: [
        { targets: ['c1/shop/order'], gates: { soak: '2s' } },
        { targets: ['c2/shop/order', 'c3/shop/order'], maxParallel: 2 },
      ],
    });
    const ended = await handle.result();
    expect(ended.phase).toBe('Healthy');
    expect(ended.targets.map((target) => target.phase)).toEqual(['Healthy', 'Healthy', 'Healthy']);
    const [c1, c2, c3] = ['c1', 'c2', 'c3'].map((cluster) => fleet.get(`${cluster}/shop/order`));
    for (const later of [c2, c3])
      expect(later?.startedAt).toBeGreaterThanOrEqual((c1?.endedAt ?? Infinity) + 2_000);
    // maxParallel 2: both were in flight together.
    expect(c3?.startedAt).toBeLessThan(c2?.endedAt ?? 0);
    const soak = (await handle.fetchHistory()).events?.find(
      (event) => event.timerStartedEventAttributes && event.userMetadata?.summary,
    );
    expect(soak).toBeDefined();
  });

  test('keeps at most maxParallel Rollouts of a wave in flight', async () => {
    for (const name of ['p1', 'p2', 'p3']) fleet.add(`c2/shop/${name}`, { takesMilliseconds: 400 });
    const handle = await start('parallel', {
      waves: [{ targets: ['c2/shop/p1', 'c2/shop/p2', 'c2/shop/p3'], maxParallel: 1 }],
    });
    expect((await handle.result()).phase).toBe('Healthy');
    const [p1, p2, p3] = ['p1', 'p2', 'p3'].map((name) => fleet.get(`c2/shop/${name}`));
    expect(p2?.startedAt).toBeGreaterThanOrEqual(p1?.endedAt ?? Infinity);
    expect(p3?.startedAt).toBeGreaterThanOrEqual(p2?.endedAt ?? Infinity);
  });

  test('holds the next wave at a manual gate until it is approved through the CLI', async () => {
    for (const cluster of ['c1', 'c2']) fleet.add(`${cluster}/shop/gated`);
    const handle = await start('gated', {
      waves: [{ targets: ['c1/shop/gated'], gates: { approval: true } }, { targets: ['c2/shop/gated'] }],
    });
    const held = await waitFor(
      'the release to wait for approval',
      async () => {
        const seen = await state(handle);
        return seen.waiting?.startsWith('approval after wave 1') && seen;
      },
      { timeoutMs: 15_000 },
    );
    expect(held.phase).toBe('Waiting');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(fleet.get('c2/shop/gated').startedAt).toBeUndefined();
    const approvedAt = Date.now();
    expect(await fleetApproveCommand(client, 'gated')).toMatch(/wave 1 approved/);
    expect((await handle.result()).phase).toBe('Healthy');
    expect(fleet.get('c2/shop/gated').startedAt).toBeGreaterThanOrEqual(approvedAt);
  });

  test('a Rollout ending Degraded aborts the revisions in flight elsewhere and rolls the completed wave back', async () => {
    fleet.add('c1/shop/degrades');
    fleet.add('c2/shop/degrades', { outcome: 'Degraded', takesMilliseconds: 300 });
    fleet.add('c3/shop/degrades', { takesMilliseconds: 60_000 });
    const handle = await start('degrades', {
      rollback: 'completedWaves',
      waves: [
        { targets: ['c1/shop/degrades'] },
        { targets: ['c2/shop/degrades', 'c3/shop/degrades'], maxParallel: 2 },
      ],
    });
    const ended = await handle.result();
    expect(ended.phase).toBe('Aborted');
    expect(ended.message).toMatch(/c2\/shop\/degrades ended Degraded/);
    expect(Object.fromEntries(ended.targets.map((target) => [target.cluster, target.phase]))).toEqual({
      c1: 'RolledBack',
      c2: 'Degraded',
      c3: 'Aborted',
    });
    expect(fleet.log).toEqual(
      expect.arrayContaining(['abort c3/shop/degrades', 'rollback c1/shop/degrades']),
    );
    expect(fleet.log).not.toContain('abort c2/shop/degrades');
    expect(fleet.get('c1/shop/degrades').template).toBe('old');
  });

  test('a gate analysis failing in one cluster aborts the release and rolls back both clusters of the wave', async () => {
    for (const cluster of ['c1', 'c2', 'c3']) fleet.add(`${cluster}/shop/analysed`);
    fleet.measurements.set('c2', 'Failed');
    try {
      const handle = await start('analysed', {
        rollback: 'completedWaves',
        waves: [
          {
            targets: ['c1/shop/analysed', 'c2/shop/analysed'],
            maxParallel: 2,
            gates: { analysis: { templates: [{ templateName: 'success-rate' }] } },
          },
          { targets: ['c3/shop/analysed'] },
        ],
      });
      const ended = await handle.result();
      expect(ended.phase).toBe('Aborted');
      expect(ended.message).toMatch(/analysis failed: c2\/shop\/analysed success-rate: Failed/);
      expect(ended.targets.map((target) => `${target.cluster} ${target.phase}`)).toEqual([
        'c1 RolledBack',
        'c2 RolledBack',
        'c3 Skipped',
      ]);
      expect(fleet.get('c3/shop/analysed').startedAt).toBeUndefined();
    } finally {
      fleet.measurements.delete('c2');
    }
  });

  test('waits for a cluster that cannot be reached, says which and why, and never counts it a success', async () => {
    fleet.add('c2/shop/unreachable');
    fleet.unreachable.add('c2');
    const handle = await start('unreachable', { waves: [{ targets: ['c2/shop/unreachable'] }] });
    const snapshot = await waitFor(
      'a retried attempt on the unreachable cluster',
      async () => {
        const seen = await releaseSnapshot(client, 'unreachable');
        return seen.pending.some((work) => work.attempt > 1) ? seen : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(snapshot.state.targets[0]?.phase).toBe('Applying');
    expect(snapshot.state.phase).toBe('Running');
    expect(fleetStatusTable(snapshot.state, snapshot.pending)).toMatch(
      /cluster c2 not answering \(attempt \d+\): connect ECONNREFUSED/,
    );
    fleet.unreachable.delete('c2');
    const ended = await handle.result();
    expect(ended.phase).toBe('Healthy');
    expect(ended.targets[0]?.phase).toBe('Healthy');
  });

  test("goes on when a cluster's worker is killed mid-wave and another takes its Rollout over", async () => {
    fleet.add('c3/shop/survives', { takesMilliseconds: 3_000 });
    const handle = await start('survives', { waves: [{ targets: ['c3/shop/survives'] }] });
    await waitFor(
      'the Rollout to be followed',
      async () => (await state(handle)).targets[0]?.phase === 'Progressing',
      { timeoutMs: 15_000 },
    );
    await stopClusterWorker('c3');
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    // The Rollout ended Healthy in the cluster meanwhile, but no worker has seen it: not a success yet.
    expect((await state(handle)).targets[0]?.phase).toBe('Progressing');
    await startClusterWorker('c3');
    const ended = await handle.result();
    expect(ended.phase).toBe('Healthy');
  });

  test('starts no Rollout while its windows are closed, and says when the next one opens', async () => {
    fleet.add('c1/shop/windowed');
    const tomorrow =
      WEEKDAYS[(new Date().getUTCDay() + 6) % 7 === 6 ? 0 : ((new Date().getUTCDay() + 6) % 7) + 1];
    const handle = await start('windowed', {
      windows: [{ days: [tomorrow], start: '00:00', end: '24:00', timeZone: 'UTC' }],
      waves: [{ targets: ['c1/shop/windowed'] }],
    });
    const held = await waitFor(
      'the release to wait for its window',
      async () => {
        const seen = await state(handle);
        return seen.phase === 'Waiting' ? seen : undefined;
      },
      { timeoutMs: 15_000 },
    );
    const opening = new Date(
      Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1),
    );
    expect(held.waiting).toContain(`${tomorrow} ${opening.toISOString().slice(0, 10)} 00:00 UTC`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(fleet.get('c1/shop/windowed').startedAt).toBeUndefined();
    await handle.executeUpdate(fleetAbortUpdate, { args: [{ reason: 'test over', by: 'test' }] });
    const ended = await handle.result();
    expect(ended.phase).toBe('Aborted');
    expect(ended.targets[0]?.phase).toBe('Skipped');
  });

  test('refuses a second release of the same app while one runs, naming it and how to abort it', async () => {
    fleet.add('c1/shop/single', { takesMilliseconds: 60_000 });
    const handle = await start('single', { waves: [{ targets: ['c1/shop/single'] }] });
    const second = release('single', { waves: [{ targets: ['c1/shop/single'] }] });
    second.metadata.name = 'v3';
    await expect(startRelease(client, second)).rejects.toThrow(
      /release single\/v2 of app single is still running \(fleet\/single\).*siirto fleet abort single/,
    );
    await handle.executeUpdate(fleetAbortUpdate, { args: [{ by: 'test' }] });
    expect((await handle.result()).phase).toBe('Aborted');
    // Once it ended, the next release of the app may start (and finds the Rollout the abort left Degraded).
    fleet.get('c1/shop/single').takesMilliseconds = 100;
    const next = await startRelease(client, second, { followIntervalMilliseconds: FOLLOW_INTERVAL });
    expect((await next.result()).phase).toBe('Aborted');
    await waitFor(
      'both releases found by SiirtoRelease',
      async () => (await client.workflow.count(releaseQuery('single'))).count === 2,
      { timeoutMs: 15_000 },
    );
  });

  test("promotes one cluster's Rollouts alone", async () => {
    fleet.add('c1/shop/promoted', { takesMilliseconds: 60_000 });
    fleet.add('c2/shop/promoted', { takesMilliseconds: 60_000 });
    const handle = await start('promoted', {
      waves: [{ targets: ['c1/shop/promoted', 'c2/shop/promoted'], maxParallel: 2 }],
    });
    await waitFor(
      'both Rollouts in flight',
      async () => (await state(handle)).targets.every((target) => target.phase === 'Progressing'),
      { timeoutMs: 15_000 },
    );
    const result = await handle.executeUpdate(fleetPromoteUpdate, { args: [{ cluster: 'c2', by: 'test' }] });
    expect(result.promoted).toEqual(['c2/shop/promoted: promote accepted']);
    await waitFor('c2 Healthy', async () => (await state(handle)).targets[1]?.phase === 'Healthy', {
      timeoutMs: 15_000,
    });
    expect((await state(handle)).targets[0]?.phase).toBe('Progressing');
    expect(fleet.log).not.toContain('promote c1/shop/promoted');
    await handle.executeUpdate(fleetAbortUpdate, { args: [{ by: 'test' }] });
    await handle.result();
  });
});
