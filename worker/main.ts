import { NativeConnection, Worker } from '@temporalio/worker';
import { createRolloutActivities } from '../activities';
import { createWorkflowHandoffActivities } from '../activities/workflow-handoff';
import { makeKubeClients } from '../kubernetes/client';
import {
  connectTemporalClient,
  temporalConnectionOptions,
  temporalSettingsFromEnv,
  TemporalSettingsError,
} from '../temporal/connection';

/**
 * The Siirto worker: runs rollout workflows and their activities. Scale it out by starting more on the
 * same task queue. Configuration comes from the environment (see temporal/connection.ts, KUBECONFIG).
 */
async function main(): Promise<void> {
  const settings = temporalSettingsFromEnv();
  const kube = makeKubeClients();
  const client = await connectTemporalClient(settings);
  const connection = await NativeConnection.connect(temporalConnectionOptions(settings));
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: { ...createRolloutActivities(kube), ...createWorkflowHandoffActivities(client) },
    // In-flight activities get this long to finish on SIGTERM before Temporal retries them elsewhere.
    shutdownGraceTime: '10 seconds',
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => worker.shutdown());
  }
  console.log(
    JSON.stringify({
      time: new Date().toISOString(),
      level: 'info',
      msg: 'worker started',
      address: settings.address,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
    }),
  );
  await worker.run();
  await connection.close();
  await client.connection.close();
}

main().catch((error: unknown) => {
  const message =
    error instanceof TemporalSettingsError
      ? error.message
      : error instanceof Error
        ? error.stack
        : String(error);
  console.error(`siirto worker: ${message}`);
  process.exit(1);
});
