import type * as k8s from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { setTimeout as delay } from 'node:timers/promises';
import type { KubeClients } from '../kubernetes/client';
import { isNotFound } from '../kubernetes/errors';
import { POD_TEMPLATE_HASH_LABEL } from '../kubernetes/labels';
import { rethrowKubernetesError } from './kubernetes-failures';
import { heartbeatIntervalMs, readThenWatch } from './kubernetes-watch';
import { whyPodIsNotRunning } from './pod-readiness';
import { replicaSetRestorer } from './replica-set-restore';
import { describeReplicaSet, replicaSetName } from './replica-sets';
import type { ReplicaSetSummary } from './rollout-activities';
import type { RolloutRef } from '../workflows/rollout-api';

/** What each heartbeat carries; a retried attempt reads it back to keep the first attempt's deadline. */
export interface AvailabilityProgress {
  startedAtMs: number;
  availableReplicas: number;
  replicas: number;
}

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
  };
  // A copy each time: the SDK may send the details later, and they must say what was true then.
  const heartbeat = () => context.heartbeat({ ...progress });
  const restore = replicaSetRestorer(kube, input.rollout, input.replicas);
  const report = (replicaSet: ReplicaSetState) => {
    progress.availableReplicas = replicaSet.status?.availableReplicas ?? 0;
    heartbeat();
    restore(replicaSet);
  };

  // Aborted however the wait ends, to close the watch and stop the timers.
  const finished = new AbortController();
  const heartbeats = setInterval(heartbeat, heartbeatIntervalMs(context.info.heartbeatTimeoutMs));
  // At once, so the deadline's start is recorded even when this attempt ends before its first read.
  heartbeat();
  try {
    return await Promise.race([
      watchUntilAvailable(kube, namespace, name, input.replicas, report, finished.signal),
      failAtDeadline(kube, input, progress, finished.signal),
      context.cancelled,
    ]);
  } finally {
    clearInterval(heartbeats);
    finished.abort();
  }
}

async function failAtDeadline(
  kube: KubeClients,
  input: { rollout: RolloutRef; templateHash: string; replicas: number; deadlineSeconds: number },
  progress: AvailabilityProgress,
  finished: AbortSignal,
): Promise<never> {
  const remainingMs = progress.startedAtMs + input.deadlineSeconds * 1_000 - Date.now();
  await delay(Math.max(0, remainingMs), undefined, { signal: finished });
  const { namespace } = input.rollout;
  const podSelector = `${POD_TEMPLATE_HASH_LABEL}=${input.templateHash}`;
  // Only to enrich the message; the deadline has passed either way.
  const why = await whyPodsAreNotAvailable(kube, namespace, podSelector).catch(() => undefined);
  throw ApplicationFailure.nonRetryable(
    `${describeReplicaSet(namespace, replicaSetName(input.rollout, input.templateHash))}: ` +
      `${progress.availableReplicas} of ${input.replicas} pods available after the progress deadline of ` +
      `${input.deadlineSeconds}s${why ? ` (${why})` : ''}; see \`kubectl describe pods -n ${namespace} -l ${podSelector}\``,
    'ProgressDeadlineExceeded',
  );
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
  finished: AbortSignal,
): Promise<ReplicaSetSummary> {
  const summary = (replicaSet: ReplicaSetState): ReplicaSetSummary => ({
    name,
    replicas: replicaSet.spec?.replicas ?? 0,
    availableReplicas: replicaSet.status?.availableReplicas ?? 0,
  });
  const scaledToZero: ReplicaSetSummary = { name, replicas: 0, availableReplicas: 0 };
  const outcome = await readThenWatch<ReplicaSetState, ReplicaSetSummary | 'missing'>(kube.config, {
    path: `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/replicasets`,
    selector: { fieldSelector: `metadata.name=${name}` },
    finished,
    read: async () => {
      const replicaSet = await readReplicaSet(kube, namespace, name);
      if (!replicaSet) return { outcome: replicas === 0 ? scaledToZero : 'missing' };
      report(replicaSet);
      return {
        outcome: isAvailable(replicaSet, replicas) ? summary(replicaSet) : undefined,
        resourceVersion: replicaSet.metadata?.resourceVersion,
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
    'ReplicaSetMissing',
  );
}
