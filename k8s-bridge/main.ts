#!/usr/bin/env node
import type { Client } from '@temporalio/client';
import { makeKubeClients } from '../kubernetes/client';
import { createBridgeMetrics } from '../observability/bridge-metrics';
import { createLogger, errorText, type Logger } from '../observability/log';
import { createMetricsRegistry, serveObservability } from '../observability/observability-server';
import {
  observabilitySettingsFromEnv,
  ObservabilitySettingsError,
} from '../observability/observability-settings';
import { kubernetesApiCheck, Readiness, temporalNamespaceCheck } from '../observability/readiness';
import {
  connectTemporalClient,
  temporalSettingsFromEnv,
  TemporalSettingsError,
  type TemporalSettings,
} from '../temporal/connection';
import { ClusterAttributeMissingError, requireClusterAttribute } from '../temporal/cluster-identity';
import { AnnotationCommandDelivery } from './annotation-commands';
import { FleetApprovalDelivery } from './fleet-approval';
import { bridgeSettingsFromEnv, BridgeSettingsError } from './bridge-settings';
import { CommandTokens } from './command-tokens';
import { HttpCommandDelivery } from './http-command-delivery';
import { serveHttpCommands, type HttpCommandServer } from './http-command-server';
import { PacedResync } from './paced-resync';
import { ReconcileQueue, STATUS_CHANGE_DELAY_MS } from './reconcile-queue';
import { RolloutReconciler } from './reconcile-rollout';
import { listRollouts, watchRollouts, type RolloutWatch } from './rollout-watch';
import type { RolloutKey } from './rollout-status';
import { RolloutWorkflows } from './rollout-workflows';
import { isSettled } from './settled-rollouts';

/**
 * The Siirto bridge: watches Rollouts and keeps one Temporal workflow per revision. It holds no state
 * of its own (all of it is in the Rollout status and in Temporal), so it can be restarted at any time
 * and two can run at once. Settings come from the environment: KUBECONFIG (or the in-cluster service
 * account), temporal/connection.ts for Temporal, and k8s-bridge/bridge-settings.ts.
 */

/** How long shutdown waits for reconciles in progress, each bounded by SIIRTO_UPDATE_TIMEOUT_SECONDS and API timeouts. */
const SHUTDOWN_GRACE_MS = 25_000;
const COMPONENT = 'siirto-bridge';

async function main(): Promise<void> {
  const temporal = temporalSettingsFromEnv();
  const settings = bridgeSettingsFromEnv();
  const log = createLogger({ component: COMPONENT }, settings.logLevel);
  const kube = makeKubeClients();
  const observability = observabilitySettingsFromEnv({ metricsPort: 9465 });
  const registry = createMetricsRegistry();
  let watch: RolloutWatch | undefined = undefined;
  const metrics = createBridgeMetrics(registry, () => watch?.watched() ?? []);

  let shuttingDown = false;
  let shutdownRequested: () => void = () => undefined;
  const shutdown = new Promise<void>((resolve) => (shutdownRequested = resolve));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (shuttingDown) {
        log.warn(`second ${signal}: exiting without waiting`);
        process.exit(1);
      }
      shuttingDown = true;
      log.info(`${signal} received: shutting down`);
      shutdownRequested();
    });
  }

  // Health and metrics answer from the start, so a bridge waiting for Temporal reports why it is not ready.
  let client: Client | undefined = undefined;
  const readiness = new Readiness({
    kubernetes: kubernetesApiCheck(kube.config),
    temporal: temporalNamespaceCheck(() => client, temporal),
  });
  const server = await serveObservability({ port: observability.metricsPort, registry, readiness, log });

  client = await connectUntilReachable(temporal, log, () => shuttingDown);
  if (!client) return server.close();
  await requireClusterAttribute(client, temporal.clusterId);
  const workflows = new RolloutWorkflows(
    client,
    temporal.taskQueue,
    (id) => metrics.workflowStarted(id),
    temporal.clusterId,
    settings.workflowHistoryLimit,
  );
  const reconciler = new RolloutReconciler(
    kube,
    workflows,
    new AnnotationCommandDelivery(
      kube,
      client,
      log,
      settings.updateTimeoutSeconds * 1_000,
      new FleetApprovalDelivery(kube, client, log, temporal.clusterId, settings.updateTimeoutSeconds * 1_000),
    ),
    log,
  );
  // Log lines about a Rollout carry the revision and workflow it was last read at, to be found by either.
  const about = (key: string) => ({ ...parseKey(key), ...reconciler.lastSeen(parseKey(key)) });
  const reconcile = async (key: string) => {
    const outcome = await reconciler.reconcile(parseKey(key));
    metrics.reconciles.inc({ outcome });
    log.debug('reconciled', { ...about(key), outcome });
    return outcome;
  };
  const queue = new ReconcileQueue(reconcile, {
    onError: (key, error, retryInMs) => {
      metrics.reconcileErrors.inc();
      log.warn('reconcile failed; retrying', { ...about(key), error, retryInMs });
    },
  });
  const keyText = (key: RolloutKey) => `${key.namespace}/${key.name}`;
  const enqueue = (key: RolloutKey) => queue.enqueue(keyText(key));

  watch = await watchRollouts(kube.config, {
    namespace: settings.watchNamespace,
    // A status written by a run (or by this bridge) needs no answer at once; coming later, it is off
    // the path of what does, such as the first step of a new revision, and a run's writes made close
    // together are reconciled once.
    onChange: (key, change) =>
      change === 'status' ? queue.enqueueLater(keyText(key), STATUS_CHANGE_DELAY_MS) : enqueue(key),
    onRestart: () => metrics.watchRestarts.inc(),
    log,
  });

  // The watch can miss nothing it delivers, but the world around a Rollout changes without events
  // for it (a Service created, a Rollout deleted while no bridge ran): look at everything now and then,
  // at a bounded rate (paced-resync.ts).
  const paced = new PacedResync(settings.resyncPerSecond, enqueue);
  const resync = async () => {
    // A pass still under way is as fresh as a new one; and its lists would only be read again.
    if (paced.busy) return;
    try {
      const [rollouts, openRuns] = await Promise.all([
        listRollouts(kube.custom, settings.watchNamespace),
        workflows.openRunsByRollout(settings.watchNamespace),
      ]);
      // Settled Rollouts are left alone (settled-rollouts.ts): a reconcile would find nothing to do.
      const keys = new Map<string, RolloutKey>();
      let settled = 0;
      for (const { key, object } of rollouts) {
        const text = keyText(key);
        if (isSettled(object, openRuns.get(text)?.runs ?? [])) {
          settled += 1;
          log.debug('settled; the resync leaves it', { ...key });
        } else keys.set(text, key);
      }
      // Open runs of a Rollout that is no longer listed: it was deleted, maybe while no bridge ran.
      const listed = new Set(rollouts.map(({ key }) => keyText(key)));
      for (const [text, { key }] of openRuns) if (!listed.has(text)) keys.set(text, key);
      metrics.resyncRollouts.inc({ outcome: 'settled' }, settled);
      metrics.resyncRollouts.inc({ outcome: 'reconciled' }, keys.size);
      log.debug('resync', { rollouts: rollouts.length, settled, reconciled: keys.size });
      await paced.pass([...keys.values()]);
    } catch (error) {
      log.warn('resync failed; trying again at the next one', { error });
    }
  };
  // The HTTP command endpoint: on only where a token Secret is named.
  let commandTokens: CommandTokens | undefined;
  let commandServer: HttpCommandServer | undefined;
  const { tokenSecret, address, port } = settings.commands;
  if (tokenSecret) {
    commandTokens = new CommandTokens(kube.config, tokenSecret, log);
    await commandTokens.start();
    const delivery = new HttpCommandDelivery(
      kube,
      client,
      log,
      settings.updateTimeoutSeconds * 1_000,
      settings.watchNamespace,
    );
    commandServer = await serveHttpCommands({ address, port, tokens: commandTokens, delivery, log });
  } else {
    log.info('HTTP commands disabled: set SIIRTO_COMMANDS_TOKEN_SECRET to NAMESPACE/NAME of a token Secret');
  }

  // A resync logs its own failure and the next one tries again: nothing waits on it.
  const resyncTimer = setInterval(() => void resync(), settings.resyncSeconds * 1_000);
  void resync();
  log.info('bridge started', {
    temporalAddress: temporal.address,
    temporalNamespace: temporal.namespace,
    taskQueue: temporal.taskQueue,
    clusterId: temporal.clusterId ?? 'none',
    resyncSeconds: settings.resyncSeconds,
    resyncPerSecond: settings.resyncPerSecond,
    watchNamespace: settings.watchNamespace ?? 'all',
  });

  await shutdown;
  clearInterval(resyncTimer);
  paced.stop();
  await commandServer?.close();
  commandTokens?.stop();
  await watch.stop();
  const drained = await Promise.race([
    queue.stop().then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), SHUTDOWN_GRACE_MS).unref()),
  ]);
  if (!drained) log.warn('reconciles still running at the end of the grace period', { keys: queue.busyKeys });
  await client.connection.close();
  await server.close();
  log.info('bridge stopped');
}

/** Temporal may come up after the bridge (as in a fresh cluster): keep trying with backoff until shutdown. */
async function connectUntilReachable(
  settings: TemporalSettings,
  log: Logger,
  stopping: () => boolean,
): Promise<Client | undefined> {
  for (let attempt = 1; !stopping(); attempt++) {
    try {
      return await connectTemporalClient(settings);
    } catch (error) {
      if (error instanceof TemporalSettingsError) throw error;
      const delayMs = Math.min(30_000, 1_000 * 2 ** (attempt - 1));
      log.warn(`cannot reach Temporal; retrying in ${delayMs} ms`, { error, attempt });
      const deadline = Date.now() + delayMs;
      while (Date.now() < deadline && !stopping()) await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return undefined;
}

function parseKey(key: string): RolloutKey {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const settingsError =
      error instanceof TemporalSettingsError ||
      error instanceof BridgeSettingsError ||
      error instanceof ClusterAttributeMissingError ||
      error instanceof ObservabilitySettingsError;
    createLogger({ component: COMPONENT }).error(settingsError ? errorText(error) : 'bridge failed', {
      error,
      stack: settingsError || !(error instanceof Error) ? undefined : error.stack,
    });
    process.exit(1);
  },
);
