// What the benchmarks share: percentiles, watching for the first matching change, billed Actions.
import * as k8s from '@kubernetes/client-node';
import type { WorkflowHandle } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REVISION_ANNOTATION } from '../kubernetes/labels';
import { ROLLOUT_GROUP, ROLLOUT_PLURAL, ROLLOUT_VERSION } from '../schemas/rollout';
import { runOrThrow } from '../test/harness/commands';
import { observer } from '../test/harness/observe';
import { SiirtoProcess, siirtoEnvironment } from '../test/harness/siirto-processes';
import { loadStackEnvironment, stack } from '../test/harness/stack';

/** Milliseconds since the epoch, sub-millisecond: comparable with Temporal's event times. */
export const now = (): number => performance.timeOrigin + performance.now();

export function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] ?? Number.NaN;
}

export function report(label: string, milliseconds: number[], target: number): void {
  const p50 = percentile(milliseconds, 0.5);
  const p95 = percentile(milliseconds, 0.95);
  console.log(
    `${label}: p50 ${p50.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms over ${milliseconds.length} runs (target ≤ ${target} ms)`,
  );
}

/**
 * Resolves with the time the first event matching `accept` arrives on a watch of `path`; `query` (a
 * label or field selector) keeps a watch among thousands of objects from starting with all of them.
 */
export async function firstEvent<T>(
  config: k8s.KubeConfig,
  path: string,
  accept: (object: T) => boolean,
  query: Record<string, string> = {},
) {
  const watch = new k8s.Watch(config);
  let resolveSeen: (at: number) => void = () => undefined;
  const seen = new Promise<number>((resolve) => (resolveSeen = resolve));
  const request = await watch.watch(
    path,
    query,
    (_type, object: T) => {
      if (accept(object)) resolveSeen(now());
    },
    () => undefined,
  );
  return { seen: seen.finally(() => request.abort()), abort: () => request.abort() };
}

/**
 * Watches for a new image's template to be stored and for the canary ReplicaSet of the revision it
 * makes: `stored` and `created` resolve with the times the watch saw each. Start it before the change.
 * Both watches see only the Rollout `app` and its ReplicaSets, however many others share the namespace.
 */
export async function watchNewRevision(
  config: k8s.KubeConfig,
  namespace: string,
  app: string,
  { revision, image }: { revision: number; image: string },
) {
  const created = await firstEvent<k8s.V1ReplicaSet>(
    config,
    `/apis/apps/v1/namespaces/${namespace}/replicasets`,
    (replicaSet) => replicaSet.metadata?.annotations?.[REVISION_ANNOTATION] === String(revision),
    { labelSelector: `app=${app}` },
  );
  const stored = await firstEvent<{ spec: { template: { spec: { containers: { image: string }[] } } } }>(
    config,
    `/apis/${ROLLOUT_GROUP}/${ROLLOUT_VERSION}/namespaces/${namespace}/${ROLLOUT_PLURAL}`,
    (rollout) => rollout.spec.template.spec.containers[0]?.image === image,
    { fieldSelector: `metadata.name=${app}` },
  );
  return { stored: stored.seen, created: created.seen };
}

/** Temporal Actions as Temporal Cloud bills them: starts, timers, signals, updates, activities, upserts. */
export const BILLED_EVENTS = new Set([
  'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
  'EVENT_TYPE_TIMER_STARTED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED',
  'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
  'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES',
]);

/**
 * The local stack with Siirto's CRDs, a namespace of the benchmark's own, and a real worker and bridge
 * serving it; `close` stops them and deletes the namespace. `compiled` runs them from dist/ (with the
 * prebuilt workflow bundle), as an installed Siirto runs: the npm script builds it first.
 */
export async function siirtoOnTheStack(environment: NodeJS.ProcessEnv = {}, { compiled = false } = {}) {
  execFileSync('bash', ['stack/up.sh'], { stdio: ['ignore', 'ignore', 'inherit'] });
  loadStackEnvironment();
  // Another Temporal server than the stack's (one started with other dynamic config, to compare).
  if (process.env.BENCH_TEMPORAL_ADDRESS) process.env.TEMPORAL_ADDRESS = process.env.BENCH_TEMPORAL_ADDRESS;
  await runOrThrow('kubectl', ['apply', '--server-side', '--force-conflicts', '-f', 'deploy/crds/']);
  const suffix = randomBytes(3).toString('hex');
  const scope = { namespace: `bench-${suffix}`, workflowIdPrefix: `bench-${suffix}` };
  await runOrThrow('kubectl', ['create', 'namespace', scope.namespace]);
  const env = siirtoEnvironment(scope, { SIIRTO_RESYNC_SECONDS: '30', ...environment });
  const entry = (name: string) => (compiled ? `dist/${name}.js` : `${name}.ts`);
  if (compiled && !existsSync(path.join(stack.projectDir, entry('worker/main')))) {
    throw new Error('no compiled worker in dist/: run the benchmark with its npm script, which builds it');
  }
  const worker = new SiirtoProcess(entry('worker/main'), env, /worker started/, `${scope.namespace}-worker`);
  const bridge = new SiirtoProcess(
    entry('k8s-bridge/main'),
    env,
    /bridge started/,
    `${scope.namespace}-bridge`,
  );
  try {
    await Promise.all([worker.start(), bridge.start()]);
  } catch (error) {
    // One that started (or starts late) must not outlive the benchmark that failed to start both.
    await Promise.all([worker.stop(), bridge.stop()]);
    throw error;
  }
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(stack.kubeconfig);
  return {
    namespace: scope.namespace,
    /** The task queue of the worker, which every workflow of this namespace runs on. */
    taskQueue: scope.workflowIdPrefix,
    worker,
    bridge,
    kubeConfig,
    see: observer(scope.namespace),
    async close(): Promise<void> {
      await Promise.all([worker.stop(), bridge.stop()]);
      await runOrThrow('kubectl', ['delete', 'namespace', scope.namespace, '--wait=false']);
    },
  };
}

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];

/** When Temporal's server recorded the first event that matches, in ms since the epoch. */
export function recordedEvent(
  history: History,
  accept: (event: HistoryEvent) => boolean,
): number | undefined {
  const event = history.events?.find(accept);
  return event ? tsToMs(event.eventTime) : undefined;
}

/** When the server recorded the completion of the first activity of type `activityType`. */
export function completedActivity(history: History, activityType: string): number | undefined {
  const scheduled = history.events?.find(
    (event) => event.activityTaskScheduledEventAttributes?.activityType?.name === activityType,
  );
  if (!scheduled) return undefined;
  const scheduledId = Number(scheduled.eventId);
  return recordedEvent(
    history,
    (event) => Number(event.activityTaskCompletedEventAttributes?.scheduledEventId ?? -1) === scheduledId,
  );
}

/** When the server recorded an activity's scheduling, its start on a worker and its completion. */
export interface ActivityTimes {
  scheduled: number;
  started: number;
  completed: number;
}

/** The first activity of `activityType` scheduled after event `afterEventId`, by the server's clock. */
export function activityTimes(
  history: History,
  activityType: string,
  afterEventId = 0,
): ActivityTimes | undefined {
  const events = history.events ?? [];
  const scheduled = events.find(
    (event) =>
      Number(event.eventId) > afterEventId &&
      event.activityTaskScheduledEventAttributes?.activityType?.name === activityType,
  );
  if (!scheduled) return undefined;
  const id = Number(scheduled.eventId);
  const started = events.find(
    (event) => Number(event.activityTaskStartedEventAttributes?.scheduledEventId ?? -1) === id,
  );
  const completed = events.find(
    (event) => Number(event.activityTaskCompletedEventAttributes?.scheduledEventId ?? -1) === id,
  );
  if (!started || !completed) return undefined;
  return {
    scheduled: tsToMs(scheduled.eventTime),
    started: tsToMs(started.eventTime),
    completed: tsToMs(completed.eventTime),
  };
}

/** The first workflow task scheduled after event `afterEventId`: when it was scheduled, picked up and done. */
export function workflowTaskTimes(history: History, afterEventId = 0): ActivityTimes | undefined {
  const events = history.events ?? [];
  const index = events.findIndex(
    (event) => Number(event.eventId) > afterEventId && !!event.workflowTaskScheduledEventAttributes,
  );
  const scheduled = events[index];
  const started = events.slice(index + 1).find((event) => !!event.workflowTaskStartedEventAttributes);
  const completed = events.slice(index + 1).find((event) => !!event.workflowTaskCompletedEventAttributes);
  if (index < 0 || !scheduled || !started || !completed) return undefined;
  return {
    scheduled: tsToMs(scheduled.eventTime),
    started: tsToMs(started.eventTime),
    completed: tsToMs(completed.eventTime),
  };
}

/** The id of the first event that matches, or undefined. */
export function eventIdOf(history: History, accept: (event: HistoryEvent) => boolean): number | undefined {
  const event = history.events?.find(accept);
  return event ? Number(event.eventId) : undefined;
}
