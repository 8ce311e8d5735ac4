import type { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type LogEntry,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import path from 'node:path';
import { createWorkflowHandoffActivities } from '../../activities/workflow-handoff';
import { RolloutWorkflows } from '../../k8s-bridge/rollout-workflows';
import {
  RolloutNameKey,
  RolloutNamespaceKey,
  RolloutPhaseKey,
  RolloutRevisionKey,
  RolloutStrategyKey,
  SiirtoClusterKey,
} from '../../workflows/search-attributes';
import { writeFigures } from '../harness/figures';
import { stack } from '../harness/stack';
import { FakeCluster } from './fake-cluster';

const TASK_QUEUE = 'siirto-workflow-gates';

/** What a test of the workflows works with: the server, the bridge's side of it, and the fake cluster. */
export interface WorkflowEnvironment {
  readonly client: Client;
  /** The bridge's own starts, supersedes and queries, on this environment's server. */
  readonly bridge: RolloutWorkflows;
  readonly cluster: FakeCluster;
  /** What the workflows logged at warn and above (a command they ignored, say), in order. */
  readonly workerLog: LogEntry[];
}

/**
 * A Temporal dev server of this file's own (the stack's `temporal` binary, on a free port, in memory,
 * so it never meets the running stack's), with the rollout workflows as the worker bundles them and
 * their activities on a fake cluster. One per test file: each test rolls out a Rollout of its own.
 * The tests' durations are written to test-artifacts/<figures>-figures.json.
 */
export function workflowEnvironment(figures: string): WorkflowEnvironment {
  const cluster = new FakeCluster();
  const workerLog: LogEntry[] = [];
  const durations: Record<string, number> = {};
  let environment: TestWorkflowEnvironment | undefined;
  let bridge: RolloutWorkflows | undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let startedAt = 0;

  beforeAll(async () => {
    installQuietRuntime(workerLog);
    const [started, bundle] = await Promise.all([
      TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'existing-path', path: path.join(stack.binDir, 'temporal') },
          ip: '127.0.0.1',
          searchAttributes: [
            RolloutNamespaceKey,
            RolloutNameKey,
            RolloutRevisionKey,
            RolloutPhaseKey,
            RolloutStrategyKey,
            SiirtoClusterKey,
          ],
          log: { format: 'pretty', level: 'error' },
        },
      }),
      rolloutWorkflowsBundle(),
    ]);
    environment = started;
    bridge = new RolloutWorkflows(started.client, TASK_QUEUE);
    worker = await Worker.create({
      connection: started.nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowBundle: bundle,
      activities: { ...cluster.activities(), ...createWorkflowHandoffActivities(started.client) },
      // Cancellations reach a waiting activity at its next heartbeat the server hears: soon, here.
      maxHeartbeatThrottleInterval: '200 ms',
    });
    running = worker.run();
  }, 120_000);

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await environment?.teardown();
    writeFigures(figures, { testDurationsMs: durations });
  }, 60_000);

  beforeEach(() => {
    startedAt = Date.now();
  });
  afterEach(() => {
    durations[expect.getState().currentTestName ?? 'unnamed'] = Date.now() - startedAt;
  });

  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the workflow environment is not started: use it inside tests');
    return value;
  };
  return {
    get client() {
      return ready(environment).client;
    },
    get bridge() {
      return ready(bridge);
    },
    cluster,
    workerLog,
  };
}

/**
 * The worker's own bundle of workflows/index.ts, made once per test file (Jest gives each file its own
 * modules): it takes seconds.
 */
let bundling: Promise<WorkflowBundleWithSourceMap> | undefined;
function rolloutWorkflowsBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundling ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    logger: new DefaultLogger('WARN'),
  });
  return bundling;
}

/**
 * Keeps what the workflows log at warn and above for the tests to read, and prints only errors: a
 * rollout ignoring a command it has no use for says so at warn, which is what some tests check.
 */
function installQuietRuntime(workerLog: LogEntry[]): void {
  const logger = new DefaultLogger('WARN', (entry) => {
    workerLog.push(entry);
    if (entry.level === 'ERROR') console.error(entry.message, entry.meta);
  });
  try {
    Runtime.install({ logger });
  } catch {
    // Another test file in this process installed it first: its logger stays.
  }
}
