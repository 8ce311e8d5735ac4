import { Context } from '@temporalio/activity';
import type { KubeClients } from '../kubernetes/client';
import { POD_TEMPLATE_HASH_LABEL } from '../kubernetes/labels';
import { rethrowKubernetesError } from './kubernetes-failures';
import { heartbeatIntervalMs, readThenWatch } from './kubernetes-watch';
import { isPodReady, whyPodIsNotReady, type PodState } from './pod-readiness';
import type { CanaryTrafficGuardOutcome } from './rollout-activities';
import type { RolloutRef } from '../workflows/rollout-api';
import type { TrafficRouter, TrafficWeightChange, WeightDrift } from './traffic-routers';

export interface CanaryTrafficGuardInput {
  rollout: RolloutRef;
  /** The canary's pods carry it in their pod-template-hash label. */
  templateHash: string;
  /** The weights the routes should carry; absent from runs that began before the guard watched them. */
  route?: TrafficWeightChange;
}

/** Whether the canary can serve its share, and if not, why not. */
export interface CanaryReadiness {
  /** True while at least one canary pod is Ready. */
  ready: boolean;
  readyPods: number;
  /** `2 of 3 canary pods Ready`, or `3 canary pods, none Ready: pod web-1a2b3: <its reason>`. */
  message: string;
}

/**
 * Whether the canary has a Ready pod: a data plane sends a weighted backend its whole share even when
 * none of its endpoints is Ready, so with none, every request of that share fails. The message names
 * the first pod that says why it is not Ready.
 */
export function canaryReadiness(pods: readonly PodState[]): CanaryReadiness {
  const readyPods = pods.filter(isPodReady).length;
  if (readyPods > 0) {
    return { ready: true, readyPods, message: `${readyPods} of ${pods.length} canary pods Ready` };
  }
  if (pods.length === 0) return { ready: false, readyPods, message: 'no canary pods' };
  const why = pods.map(whyPodIsNotReady).find((reason) => reason !== undefined);
  const count = pods.length === 1 ? '1 canary pod' : `${pods.length} canary pods`;
  return { ready: false, readyPods, message: `${count}, none Ready${why ? `: ${why}` : ''}` };
}

/** What each heartbeat carries, for the Web UI's pending activity view. */
interface GuardProgress {
  readyPods: number;
  pods: number;
}

/**
 * Lists, then watches the canary's pods while it holds traffic, and returns the moment none is Ready,
 * saying when and why; and watches the routes, returning when someone else changes their weights. It
 * only watches: the workflow moves the traffic, so a guard it has stopped (without waiting for it to
 * hear so) can never write after the workflow's own change. Ends when its activity is cancelled.
 */
export async function guardCanaryTraffic(
  kube: KubeClients,
  routers: TrafficRouter[],
  { rollout, templateHash, route }: CanaryTrafficGuardInput,
): Promise<CanaryTrafficGuardOutcome> {
  const context = Context.current();
  const progress: GuardProgress = { readyPods: 0, pods: 0 };
  // A copy each time: the SDK may send the details later, and they must say what was true then.
  const heartbeat = () => context.heartbeat({ ...progress });
  const finished = new AbortController();
  const heartbeats = setInterval(heartbeat, heartbeatIntervalMs(context.info.heartbeatTimeoutMs));
  heartbeat();
  try {
    const drifts = route
      ? routers
          .filter((router) => router.handles(route.trafficRouting))
          .map((router) => router.watchForDrift(route, finished.signal).then(driftOutcome))
      : [];
    return await Promise.race([
      watchUntilNoneReady(kube, rollout.namespace, templateHash, progress, finished.signal),
      ...drifts,
      context.cancelled,
    ]);
  } finally {
    clearInterval(heartbeats);
    finished.abort();
  }
}

function driftOutcome(drift: WeightDrift): CanaryTrafficGuardOutcome {
  const by = drift.changedBy ? ` by ${drift.changedBy.manager}` : '';
  return {
    unreadyAt: new Date().toISOString(),
    message: `${drift.object} ${drift.change ?? `had its weights changed to ${drift.found}`}${by}`,
    drift,
  };
}

async function watchUntilNoneReady(
  kube: KubeClients,
  namespace: string,
  templateHash: string,
  progress: GuardProgress,
  finished: AbortSignal,
): Promise<CanaryTrafficGuardOutcome> {
  const labelSelector = `${POD_TEMPLATE_HASH_LABEL}=${templateHash}`;
  const pods = new Map<string, PodState>();
  const judge = (): CanaryTrafficGuardOutcome | undefined => {
    const readiness = canaryReadiness([...pods.values()]);
    progress.pods = pods.size;
    progress.readyPods = readiness.readyPods;
    if (readiness.ready) return undefined;
    return { unreadyAt: new Date().toISOString(), message: readiness.message };
  };
  return readThenWatch<PodState, CanaryTrafficGuardOutcome>(kube.config, {
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
    selector: { labelSelector },
    finished,
    read: async () => {
      const list = await kube.core
        .listNamespacedPod({ namespace, labelSelector })
        .catch((error: unknown) =>
          rethrowKubernetesError(error, { action: `listing pods in ${namespace} with ${labelSelector}` }),
        );
      pods.clear();
      for (const pod of list.items) pods.set(pod.metadata?.name ?? '', pod);
      return { outcome: judge(), resourceVersion: list.metadata?.resourceVersion };
    },
    onEvent: ({ type, object }) => {
      const name = object.metadata?.name ?? '';
      if (type === 'DELETED') pods.delete(name);
      else pods.set(name, object);
      return judge();
    },
  });
}
