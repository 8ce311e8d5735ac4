// What any controller built on Temporal pays on this machine before its own code runs, so that
// Siirto's reaction times can be read against it: the hops a new revision cannot skip, timed with no
// Siirto code in them.
import type * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { makeKubeClients } from '../kubernetes/client';
import { ROLLOUT_GROUP, ROLLOUT_PLURAL, ROLLOUT_VERSION } from '../schemas/rollout';
import { stack } from '../test/harness/stack';
import { percentile } from './bench-support';

export interface Floor {
  /** A client's start call → the first line of the workflow's first activity, on a worker already polling. */
  temporalStartToActivity: number[];
  /** Reading a Rollout and a ReplicaSet at once, then creating the ReplicaSet: ensureReplicaSet's calls. */
  readAndCreateReplicaSet: number[];
}

/**
 * A worker in this process, with a one-activity workflow and nothing else, on the stack's Temporal;
 * then the apiserver calls that create a canary ReplicaSet, from a plain client. Both quiet: one at a
 * time, a short pause between runs.
 */
export async function measureFloor(namespace: string, rolloutName: string, runs: number): Promise<Floor> {
  // The worker's state changes and webpack's report are not figures; the runtime is this process's
  // own, installed once.
  const logger = new DefaultLogger('WARN');
  Runtime.install({ logger });
  const taskQueue = `floor-${randomBytes(3).toString('hex')}`;
  let touchedAt = 0;
  const connection = await NativeConnection.connect({ address: stack.temporalAddress });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: require.resolve('./temporal-floor-workflow'),
      logger,
    }),
    activities: { touch: async () => void (touchedAt = performance.now()) },
  });
  const running = worker.run();
  const client = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
  const temporalStartToActivity: number[] = [];
  try {
    // The first runs warm the worker's code and connections; they are not counted.
    for (let run = -3; run < runs; run++) {
      const startedAt = performance.now();
      const handle = await client.workflow.start('temporalFloor', {
        taskQueue,
        workflowId: `${taskQueue}-${run}`,
      });
      await handle.result();
      if (run >= 0) temporalStartToActivity.push(touchedAt - startedAt);
      await pause();
    }
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
    await client.connection.close();
  }

  const kube = makeKubeClients();
  const readAndCreateReplicaSet: number[] = [];
  for (let run = -3; run < runs; run++) {
    const name = `${taskQueue}-${run + 3}`;
    const startedAt = performance.now();
    await Promise.all([
      kube.custom.getNamespacedCustomObject({
        group: ROLLOUT_GROUP,
        version: ROLLOUT_VERSION,
        plural: ROLLOUT_PLURAL,
        namespace,
        name: rolloutName,
      }),
      kube.apps.readNamespacedReplicaSet({ namespace, name }).catch(() => undefined),
    ]);
    await kube.apps.createNamespacedReplicaSet({ namespace, body: idleReplicaSet(name) });
    if (run >= 0) readAndCreateReplicaSet.push(performance.now() - startedAt);
    await kube.apps.deleteNamespacedReplicaSet({ namespace, name });
    await pause();
  }
  return { temporalStartToActivity, readAndCreateReplicaSet };
}

export function reportFloor(floor: Floor): void {
  const line = (label: string, values: number[]) =>
    `${label}: p50 ${percentile(values, 0.5).toFixed(0)} ms, p95 ${percentile(values, 0.95).toFixed(0)} ms`;
  console.log('the floor on this machine, no Siirto code in it (bench/temporal-floor.ts):');
  console.log(`  ${line('Temporal: start → first activity runs', floor.temporalStartToActivity)}`);
  console.log(
    `  ${line('apiserver: read Rollout and ReplicaSet, create ReplicaSet', floor.readAndCreateReplicaSet)}`,
  );
  const sums = floor.temporalStartToActivity.map(
    (ms, index) => ms + (floor.readAndCreateReplicaSet[index] ?? 0),
  );
  console.log(`  ${line('the two together, with nothing between them', sums)}`);
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 200));

/** A ReplicaSet of no pods, selecting nothing any Service routes to. */
function idleReplicaSet(name: string): k8s.V1ReplicaSet {
  const labels = { 'bench.siirto.dev/floor': name };
  return {
    metadata: { name, labels },
    spec: {
      replicas: 0,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'idle', image: 'registry.example/idle:1' }] },
      },
    },
  };
}
