#!/usr/bin/env node
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import {
  createAnalysisActivities,
  createCanaryJudgeActivities,
  createRolloutActivities,
} from '../activities';
import { createBlueGreenActivities } from '../activities/blue-green-activities';
import { createCDEventsActivities, createCDEventsMetrics } from '../activities/cdevents-emission';
import { createExperimentActivities } from '../activities/experiment-counts';
import { prometheusSettingsFromEnv } from '../activities/prometheus-settings';
import {
  CDEventsSettingsError,
  cdEventsSettingsFromEnv,
  describeCDEventsSettings,
} from '../activities/cdevents-settings';
import { createWebhookActivities } from '../activities/webhooks';
import { createWorkflowHandoffActivities } from '../activities/workflow-handoff';
import { makeKubeClients } from '../kubernetes/client';
import { freePort } from '../observability/free-port';
import { createLogger, errorText } from '../observability/log';
import { createMetricsRegistry, serveObservability } from '../observability/observability-server';
import {
  observabilitySettingsFromEnv,
  ObservabilitySettingsError,
} from '../observability/observability-settings';
import { kubernetesApiCheck, Readiness, temporalNamespaceCheck } from '../observability/readiness';
import { TemporalLogAdapter } from '../observability/temporal-log';
import { activityMetricsInterceptor, createWorkerMetrics } from '../observability/worker-metrics';
import {
  connectTemporalClient,
  temporalConnectionOptions,
  temporalSettingsFromEnv,
  TemporalSettingsError,
} from '../temporal/connection';
import { createFleetWorkers } from './fleet-workers';
import { workflowCode } from './workflow-code';
import { workerOptions, workerSettingsFromEnv, WorkerSettingsError } from './worker-settings';

/**
 * The Siirto worker: runs rollout workflows and their activities. Scale it out by starting more on the
 * same task queue. Configuration comes from the environment (see temporal/connection.ts, KUBECONFIG,
 * observability/observability-settings.ts).
 */
const COMPONENT = 'siirto-worker';

async function main(): Promise<void> {
  const settings = temporalSettingsFromEnv();
  const capacity = workerSettingsFromEnv();
  const observability = observabilitySettingsFromEnv({ metricsPort: 9464, sdkMetricsPort: 9466 });
  const log = createLogger({ component: COMPONENT }, observability.logLevel);
  const cdEvents = cdEventsSettingsFromEnv({ temporalNamespace: settings.namespace });
  const prometheus = prometheusSettingsFromEnv();
  // Before anything creates the SDK's runtime: its logger and metrics are fixed at creation.
  const sdkMetricsPort = observability.sdkMetricsPort || (await freePort());
  Runtime.install({
    logger: new TemporalLogAdapter(log),
    telemetryOptions: { metrics: { prometheus: { bindAddress: `0.0.0.0:${sdkMetricsPort}` } } },
  });
  const kube = makeKubeClients();
  const registry = createMetricsRegistry();
  const metrics = createWorkerMetrics(registry);
  let connection: NativeConnection | undefined = undefined;
  const readiness = new Readiness({
    kubernetes: kubernetesApiCheck(kube.config),
    temporal: temporalNamespaceCheck(() => connection, settings),
  });
  const server = await serveObservability({ port: observability.metricsPort, registry, readiness, log });
  const client = await connectTemporalClient(settings);
  connection = await NativeConnection.connect(temporalConnectionOptions(settings));
  const { source: workflowSource, ...workflowOptions } = await workflowCode(Runtime.instance().logger);
  const cdEventsActivities = createCDEventsActivities(cdEvents, createCDEventsMetrics(registry), log);
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    ...workflowOptions,
    ...workerOptions(capacity),
    activities: {
      ...createRolloutActivities(kube),
      ...createBlueGreenActivities(kube),
      ...createAnalysisActivities(kube, prometheus),
      ...createCanaryJudgeActivities(kube, prometheus),
      ...createExperimentActivities(prometheus),
      ...createWorkflowHandoffActivities(client),
      ...createWebhookActivities(kube),
      emitCDEvent: cdEventsActivities.emitCDEvent,
    },
    interceptors: { activityInbound: [activityMetricsInterceptor(metrics, client)] },
    // In-flight activities get this long to finish on SIGTERM before Temporal retries them elsewhere.
    shutdownGraceTime: '10 seconds',
  });
  // With a cluster ID, the worker also serves fleet releases: this cluster's part and the releases themselves.
  const fleetWorkers = settings.clusterId
    ? await createFleetWorkers({
        connection,
        namespace: settings.namespace,
        clusterId: settings.clusterId,
        fleetTaskQueue: settings.fleetTaskQueue,
        kube,
        client,
        prometheus,
        releaseAnnouncements: { emitReleaseCDEvent: cdEventsActivities.emitReleaseCDEvent },
        workflowOptions: { ...workflowOptions, ...workerOptions(capacity) },
      })
    : [];
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      worker.shutdown();
      for (const fleetWorker of fleetWorkers) fleetWorker.shutdown();
    });
  }
  log.info('worker started', {
    address: settings.address,
    temporalNamespace: settings.namespace,
    taskQueue: settings.taskQueue,
    fleetTaskQueues: fleetWorkers.map((fleetWorker) => fleetWorker.options.taskQueue),
    metricsPort: server.port,
    sdkMetricsPort,
    ...capacity,
    workflowCode: workflowSource,
    prometheus: prometheus.defaultPrometheusUrl,
    prometheusAllowedAddresses: prometheus.allowedAddresses,
    ...describeCDEventsSettings(cdEvents),
  });
  await Promise.all([worker.run(), ...fleetWorkers.map((fleetWorker) => fleetWorker.run())]);
  await connection.close();
  await client.connection.close();
  await server.close();
  log.info('worker stopped');
}

main().catch((error: unknown) => {
  const settingsError =
    error instanceof TemporalSettingsError ||
    error instanceof WorkerSettingsError ||
    error instanceof ObservabilitySettingsError ||
    error instanceof CDEventsSettingsError;
  createLogger({ component: COMPONENT }).error(settingsError ? errorText(error) : 'worker failed', {
    error,
    stack: settingsError || !(error instanceof Error) ? undefined : error.stack,
  });
  process.exit(1);
});
