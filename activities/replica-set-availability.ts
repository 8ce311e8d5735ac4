import type * as k8s from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { setTimeout as delay } from 'node:timers/promises';
import type { KubeClients } from '../kubernetes/client';
import { isNotFound, isTransient } from '../kubernetes/errors';
import { POD_TEMPLATE_HASH_LABEL } from '../kubernetes/labels';
import { rethrowKubernetesError } from './kubernetes-failures';
import { heartbeatIntervalMs, readThenWatch, type Sight } from './kubernetes-watch';
import { whyPodIsNotRunning } from './pod-readiness';
import { replicaSetRestorer } from './replica-set-restore';
import { describeReplicaSet, replicaSetName } from './replica-sets';
import type { ReplicaSetSummary } from './rollout-activities';
import {
  carriedOver,
  deadlinePassesAtMs,
  describeUnobserved,
  sightLost,
  sightRegained,
  unobservedMsAt,
  type UnobservedTime,
} from './unobserved-time';
import type { RolloutRef } from '../workflows/rollout-api';
import { FailureType } from '../reasons/rollout-reasons';

/**
 * What each heartbeat carries; a retried attempt reads it back to keep the first attempt's deadline,
 * and the time the apiserver could not be read, which the deadline does not count.
 */
export interface AvailabilityProgress {
  startedAtMs: number;
  availableReplicas: number;
  replicas: number;
  unobserved: UnobservedTime;
}

/** How often a deadline held while the apiserver cannot be read looks again whether it is back. */
const HELD_DEADLINE_RECHECK_MS = 500;

/** The parts of a ReplicaSet availability depends on, as the typed client and raw watch events both give them. */
interface ReplicaSetState {
  metadata?: { name?: string; generation?: number; resourceVersion?: string };
  spec?: { replicas?: number };
  status?: { availableReplicas?: number; observedGeneration?: number };
}

/**
 * True when `replicas` pods are available and the ReplicaSet controller has seen the latest spec,
 * so a scale made a moment ago is not mistaken for done.
 */
export function isAvailable(replicaSet: ReplicaSetState, replicas: number): boolean {
  const available = replicaSet.status?.availableReplicas ?? 0;
  const observed = (replicaSet.status?.observedGeneration ?? 0) >= (replicaSet.metadata?.generation ?? 0);
  return observed && (replicas === 0 ? available === 0 : available >= replicas);
}

export async function waitForReplicaSetAvailable(
  kube: KubeClients,
  input: { rollout: RolloutRef; templateHash: string; replicas: number; deadlineSeconds: number },
): Promise<ReplicaSetSummary> {
  const context = Context.current();
  const name = replicaSetName(input.rollout, input.templateHash);
  const namespace = input.rollout.namespace;
  const previous = context.info.heartbeatDetails as Partial<AvailabilityProgress> | undefined;
  const progress: AvailabilityProgress = {
    startedAtMs: previous?.startedAtMs ?? Date.now(),
    availableReplicas: 0,
    replicas: input.replicas,
    unobserved: carriedOver(previous?.unobserved),
  };
  // A copy each time: the SDK may send the details later, and they must say what was true then.
  const heartbeat = () => context.heartbeat({ ...progress });
  const restore = replicaSetRestorer(kube, input.rollout, input.replicas);
  const report = (replicaSet: ReplicaSetState) => {
    progress.availableReplicas = replicaSet.status?.availableReplicas ?? 0;
    heartbeat();
    restore(replicaSet);
  };
  const sight: Sight = {
    lost: (sinceMs) => {
      if (progress.unobserved.unobservedSinceMs !== undefined) return;
      progress.unobserved = sightLost(progress.unobserved, sinceMs);
      context.log.warn('the apiserver cannot be read: the progress deadline is held until it can', {
        replicaSet: `${namespace}/${name}`,
      });
      heartbeat();
    },
    regained: () => {
      if (progress.unobserved.unobservedSinceMs === undefined) return;
      progress.unobserved = sightRegained(progress.unobserved, Date.now());
      heartbeat();
    },
  };

  // Aborted however the wait ends, to close the watch and stop the timers.
  const finished = new AbortController();
  const heartbeats = setInterval(heartbeat, heartbeatIntervalMs(context.info.heartbeatTimeoutMs));
  // At once, so the deadline's start is recorded even when this attempt ends before its first read.
  heartbeat();
  try {
    return await Promise.race([
      watchUntilAvailable(kube, namespace, name, input.replicas, report, sight, finished.signal),
      failAtDeadline(kube, input, progress, report, finished.signal),
      context.cancelled,
    ]);
  } finally {
    clearInterval(heartbeats);
    finished.abort();
  }
}

/**
 * Fails once the progress deadline has passed, counting only time the apiserver could be read, and
 * only on a fresh read that finds the pods still short; that read may instead find them available.
 */
async function failAtDeadline(
  kube: KubeClients,
  input: { rollout: RolloutRef; templateHash: string; replicas: number; deadlineSeconds: number },
  progress: AvailabilityProgress,
  report: (replicaSet: ReplicaSetState) => void,
  finished: AbortSignal,
): Promise<ReplicaSetSummary> {
  const { namespace } = input.rollout;
  const name = replicaSetName(input.rollout, input.templateHash);
  let replicaSet: ReplicaSetState | undefined;
  for (;;) {
    // The time without sight only grows, so a deadline is never found to pass earlier than planned.
    const passesAt = deadlinePassesAtMs(
      progress.startedAtMs,
      input.deadlineSeconds * 1_000,
      progress.unobserved,
    );
    const waitMs = passesAt === undefined ? HELD_DEADLINE_RECHECK_MS : passesAt - Date.now();
    if (waitMs > 0) {
      await delay(waitMs, undefined, { signal: finished });
      continue;
    }
    try {
      replicaSet = await readReplicaSet(kube, namespace, name);
      break;
    } catch (error) {
      if (error instanceof ApplicationFailure || !isTransient(error)) throw error;
      // No answer: the deadline waits for one rather than passing on what was seen last.
      await delay(HELD_DEADLINE_RECHECK_MS, undefined, { signal: finished });
    }
  }
  if (!replicaSet) {
    if (input.replicas === 0) return { name, replicas: 0, availableReplicas: 0 };
    throw replicaSetMissing(namespace, name, input.replicas);
  }
  report(replicaSet);
  if (isAvailable(replicaSet, input.replicas)) return summarize(name, replicaSet);
  const podSelector = `${POD_TEMPLATE_HASH_LABEL}=${input.templateHash}`;
  // Only to enrich the message; the deadline has passed either way.
  const why = await whyPodsAreNotAvailable(kube, namespace, podSelector).catch(() => undefined);
  const unobserved = describeUnobserved(unobservedMsAt(progress.unobserved, Date.now()));
  throw ApplicationFailure.nonRetryable(
    `${describeReplicaSet(namespace, name)}: ` +
      `${progress.availableReplicas} of ${input.replicas} pods available after the progress deadline of ` +
      `${input.deadlineSeconds}s${unobserved}${why ? ` (${why})` : ''}; see \`kubectl describe pods -n ${namespace} -l ${podSelector}\``,
    FailureType.ProgressDeadlineExceeded,
  );
}

function summarize(name: string, replicaSet: ReplicaSetState): ReplicaSetSummary {
  return {
    name,
    replicas: replicaSet.spec?.replicas ?? 0,
    availableReplicas: replicaSet.status?.availableReplicas ?? 0,
  };
}

/** The first reason a pod gives for not running: unschedulable, image pull, crash loop. */
async function whyPodsAreNotAvailable(
  kube: KubeClients,
  namespace: string,
  labelSelector: string,
): Promise<string | undefined> {
  const pods = await kube.core.listNamespacedPod({ namespace, labelSelector });
  return pods.items.map(whyPodIsNotRunning).find((why) => why !== undefined);
}

/** Reads the ReplicaSet, then watches it until it is available. */
async function watchUntilAvailable(
  kube: KubeClients,
  namespace: string,
  name: string,
  replicas: number,
  report: (replicaSet: ReplicaSetState) => void,
  sight: Sight,
  finished: AbortSignal,
): Promise<ReplicaSetSummary> {
  const summary = (replicaSet: ReplicaSetState) => summarize(name, replicaSet);
  const scaledToZero: ReplicaSetSummary = { name, replicas: 0, availableReplicas: 0 };
  const fieldSelector = `metadata.name=${name}`;
  const outcome = await readThenWatch<ReplicaSetState, ReplicaSetSummary | 'missing'>(kube.config, {
    path: `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/replicasets`,
    selector: { fieldSelector },
    finished,
    sight,
    read: async () => {
      // A list rather than a get: the watch starts from the list's version, the store's current one.
      // An object's own version can be older than a restarted apiserver's watch cache holds, and a
      // watch from it would be refused (410 Gone) at every try until the object changes.
      const list = await kube.apps
        .listNamespacedReplicaSet({ namespace, fieldSelector })
        .catch((error: unknown) =>
          rethrowKubernetesError(error, { action: `reading ${describeReplicaSet(namespace, name)}` }),
        );
      const [replicaSet] = list.items;
      if (!replicaSet) return { outcome: replicas === 0 ? scaledToZero : 'missing' };
      report(replicaSet);
      return {
        outcome: isAvailable(replicaSet, replicas) ? summary(replicaSet) : undefined,
        resourceVersion: list.metadata?.resourceVersion,
      };
    },
    onEvent: (event) => {
      if (event.type === 'DELETED') return replicas === 0 ? scaledToZero : 'missing';
      report(event.object);
      return isAvailable(event.object, replicas) ? summary(event.object) : undefined;
    },
  });
  if (outcome === 'missing') throw replicaSetMissing(namespace, name, replicas);
  return outcome;
}

/** The ReplicaSet, or undefined where there is none. */
export async function readReplicaSet(
  kube: KubeClients,
  namespace: string,
  name: string,
): Promise<k8s.V1ReplicaSet | undefined> {
  try {
    return await kube.apps.readNamespacedReplicaSet({ name, namespace });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    rethrowKubernetesError(error, { action: `reading ${describeReplicaSet(namespace, name)}` });
  }
}

function replicaSetMissing(namespace: string, name: string, replicas: number): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `${describeReplicaSet(namespace, name)} was deleted while waiting for ${replicas} available pods; ` +
      'retry the rollout to create it again',
    FailureType.ReplicaSetMissing,
  );
}
