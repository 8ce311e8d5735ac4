import * as k8s from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { KubeClients } from '../kubernetes/client';
import type { RolloutRef } from '../workflows/rollout-api';
import { FailureType } from '../reasons/rollout-reasons';
import { rethrowKubernetesError } from './kubernetes-failures';
import { heartbeatIntervalMs, readThenWatch } from './kubernetes-watch';
import { replicaSetName } from './replica-sets';

/** The parts of an EndpointSlice read here, as the typed client and raw watch events both give them. */
interface EndpointSliceState {
  metadata?: { name?: string; resourceVersion?: string };
  endpoints?: { conditions?: { ready?: boolean }; targetRef?: { kind?: string; name?: string } }[];
}

/** Ready endpoints of a Service: of the revision's pods, and of any other. */
export interface ServiceEndpointCount {
  revision: number;
  others: number;
}

/** Counts the ready endpoints across a Service's slices: the revision's pods are named after its ReplicaSet. */
export function countEndpoints(
  slices: Iterable<EndpointSliceState>,
  podNamePrefix: string,
): ServiceEndpointCount {
  const count = { revision: 0, others: 0 };
  const seen = new Set<string>();
  for (const slice of slices) {
    for (const endpoint of slice.endpoints ?? []) {
      // Unset means ready, as the EndpointSlice API says.
      if (endpoint.conditions?.ready === false) continue;
      const pod = endpoint.targetRef?.name ?? '';
      if (seen.has(pod)) continue;
      seen.add(pod);
      if (endpoint.targetRef?.kind === 'Pod' && pod.startsWith(podNamePrefix)) count.revision++;
      else count.others++;
    }
  }
  return count;
}

/**
 * Waits until the Service's EndpointSlices list `replicas` ready endpoints of the revision's pods and
 * no ready endpoint of any other: what a gateway reads to send the Service's traffic. A Service's
 * selector has moved a moment before; its slices follow once the cluster's EndpointSlice controller
 * has caught up, and only then do the route's weights move back onto it. Fails non-retryably with
 * type `ServiceEndpointsNotReady` after `deadlineSeconds`.
 */
export async function waitForServiceEndpoints(
  kube: KubeClients,
  input: {
    rollout: RolloutRef;
    service: string;
    templateHash: string;
    replicas: number;
    deadlineSeconds: number;
  },
): Promise<ServiceEndpointCount> {
  const context = Context.current();
  const { namespace } = input.rollout;
  const prefix = `${replicaSetName(input.rollout, input.templateHash)}-`;
  const labelSelector = `kubernetes.io/service-name=${input.service}`;
  const discovery = kube.config.makeApiClient(k8s.DiscoveryV1Api);
  const slices = new Map<string, EndpointSliceState>();
  const settled = (): ServiceEndpointCount | undefined => {
    const count = countEndpoints(slices.values(), prefix);
    return count.revision >= input.replicas && count.others === 0 ? count : undefined;
  };
  const finished = new AbortController();
  const heartbeats = setInterval(
    () => context.heartbeat(),
    heartbeatIntervalMs(context.info.heartbeatTimeoutMs),
  );
  let deadline: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      readThenWatch<EndpointSliceState, ServiceEndpointCount>(kube.config, {
        path: `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`,
        selector: { labelSelector },
        finished: finished.signal,
        read: async () => {
          try {
            const list = await discovery.listNamespacedEndpointSlice({ namespace, labelSelector });
            slices.clear();
            for (const slice of list.items)
              slices.set(slice.metadata?.name ?? '', slice as EndpointSliceState);
            return { outcome: settled(), resourceVersion: list.metadata?.resourceVersion };
          } catch (error) {
            rethrowKubernetesError(error, {
              action: `listing the EndpointSlices of Service ${namespace}/${input.service}`,
            });
          }
        },
        onEvent: ({ type, object }) => {
          const name = object.metadata?.name ?? '';
          if (type === 'DELETED') slices.delete(name);
          else slices.set(name, object);
          return settled();
        },
      }),
      new Promise<never>((_, reject) => {
        deadline = setTimeout(() => {
          const count = countEndpoints(slices.values(), prefix);
          reject(
            ApplicationFailure.nonRetryable(
              `Service ${namespace}/${input.service} did not list the ${input.replicas} Ready pods of ` +
                `${replicaSetName(input.rollout, input.templateHash)} alone within ${input.deadlineSeconds}s ` +
                `(${count.revision} of them, ${count.others} others); check the cluster's EndpointSlice ` +
                'controller (kube-controller-manager) and the Service, then retry the rollout',
              FailureType.ServiceEndpointsNotReady,
            ),
          );
        }, input.deadlineSeconds * 1000);
      }),
      context.cancelled,
    ]);
  } finally {
    clearInterval(heartbeats);
    clearTimeout(deadline);
    finished.abort();
  }
}
