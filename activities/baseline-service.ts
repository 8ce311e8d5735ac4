import * as k8s from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { BASELINE_ROLE, baselinePodHash, ROLE_LABEL } from '../analysis/judge-query';
import type { KubeClients } from '../kubernetes/client';
import { isConflict, isNotFound } from '../kubernetes/errors';
import { FIELD_MANAGER, POD_TEMPLATE_HASH_LABEL } from '../kubernetes/labels';
import { FailureType } from '../reasons/rollout-reasons';
import type { RolloutRef } from '../workflows/rollout-api';
import { baselineName, readBaseline } from './baseline-replica-set';
import { rethrowKubernetesError } from './kubernetes-failures';
import { describeRollout } from './rollout-reader';
import { countEndpoints } from './service-endpoints';
import type { TrafficRouting } from '../schemas/rollout';
import { addBaselineBackend, removeBaselineBackend } from './traffic-routers/gateway-api';
import { baselineServiceName } from './traffic-routers/http-route-baseline';

const POLL_MILLISECONDS = 1_000;

/**
 * The baseline's own Service, for a route to send it a share of its own: the stable Service's ports,
 * and its selector with the baseline's pod-template-hash and role in place of the stable's hash, so it
 * selects the baseline's pods alone. Owned by the Rollout, as the baseline ReplicaSet is.
 */
export function buildBaselineService(
  stableService: k8s.V1Service,
  baseline: k8s.V1ReplicaSet,
  rollout: RolloutRef,
  stableHash: string,
): k8s.V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: baselineServiceName(rollout),
      namespace: rollout.namespace,
      labels: { [ROLE_LABEL]: BASELINE_ROLE },
      ownerReferences: baseline.metadata?.ownerReferences?.filter((owner) => owner.controller),
    },
    spec: {
      selector: {
        ...stableService.spec?.selector,
        [POD_TEMPLATE_HASH_LABEL]: baselinePodHash(stableHash),
        [ROLE_LABEL]: BASELINE_ROLE,
      },
      // The same ports, so a route's backendRef to the stable's port reaches the baseline on it too.
      ports: (stableService.spec?.ports ?? []).map(({ name, port, protocol, targetPort, appProtocol }) => ({
        name,
        port,
        protocol,
        targetPort,
        appProtocol,
      })),
    },
  };
}

async function readService(kube: KubeClients, namespace: string, name: string) {
  try {
    return await kube.core.readNamespacedService({ name, namespace });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    rethrowKubernetesError(error, { action: `reading Service ${namespace}/${name}` });
  }
}

/** The Service, if it is the Rollout's; one of the same name that is someone else's fails non-retryably. */
async function readOwnService(kube: KubeClients, rollout: RolloutRef): Promise<k8s.V1Service | undefined> {
  const name = baselineServiceName(rollout);
  const service = await readService(kube, rollout.namespace, name);
  if (!service) return undefined;
  const controller = service.metadata?.ownerReferences?.find((owner) => owner.controller);
  if (controller?.uid !== rollout.uid) {
    throw ApplicationFailure.nonRetryable(
      `Service ${rollout.namespace}/${name} exists but is not controlled by ${describeRollout(rollout)}; ` +
        "Siirto names the Service of a judged canary's baseline so: rename or delete that Service",
      FailureType.InvalidConfiguration,
    );
  }
  return service;
}

/**
 * Creates the baseline's Service (if it is not there) and waits until its EndpointSlices list
 * `replicas` Ready baseline pods, so a route sends it nothing it cannot serve. Idempotent.
 */
export async function ensureBaselineService(
  kube: KubeClients,
  input: {
    rollout: RolloutRef;
    stableHash: string;
    stableService: string;
    replicas: number;
    deadlineSeconds: number;
  },
): Promise<void> {
  const context = Context.current();
  const { rollout, stableHash, replicas } = input;
  const { namespace } = rollout;
  const name = baselineServiceName(rollout);
  if (!(await readOwnService(kube, rollout))) {
    const stableService = await readService(kube, namespace, input.stableService);
    const baseline = await readBaseline(kube, rollout, stableHash);
    if (!stableService || !baseline) {
      throw ApplicationFailure.nonRetryable(
        `${stableService ? `ReplicaSet ${namespace}/${baselineName(rollout, stableHash)}` : `Service ${namespace}/${input.stableService}`} ` +
          `is gone, so the baseline of ${describeRollout(rollout)} cannot get a Service of its own; retry the rollout`,
        stableService ? FailureType.ReplicaSetMissing : FailureType.ServiceMissing,
      );
    }
    const body = buildBaselineService(stableService, baseline, rollout, stableHash);
    try {
      await kube.core.createNamespacedService({ namespace, body, fieldManager: FIELD_MANAGER });
    } catch (error) {
      // Another attempt created it meanwhile; the read below checks it is the Rollout's.
      if (!isConflict(error))
        rethrowKubernetesError(error, { action: `creating Service ${namespace}/${name}` });
      await readOwnService(kube, rollout);
    }
  }
  const discovery = kube.config.makeApiClient(k8s.DiscoveryV1Api);
  const labelSelector = `kubernetes.io/service-name=${name}`;
  const deadline = Date.now() + input.deadlineSeconds * 1_000;
  for (;;) {
    const slices = await discovery
      .listNamespacedEndpointSlice({ namespace, labelSelector })
      .catch((error: unknown) =>
        rethrowKubernetesError(error, {
          action: `listing the EndpointSlices of Service ${namespace}/${name}`,
        }),
      );
    const count = countEndpoints(slices.items, `${baselineName(rollout, stableHash)}-`);
    context.heartbeat(count);
    if (count.revision >= replicas) return;
    if (Date.now() > deadline) {
      throw ApplicationFailure.nonRetryable(
        `Service ${namespace}/${name} listed ${count.revision} of the ${replicas} Ready baseline pods after the ` +
          `progress deadline of ${input.deadlineSeconds}s; check the cluster's EndpointSlice controller ` +
          '(kube-controller-manager) and the Service, then retry the rollout',
        FailureType.ServiceEndpointsNotReady,
      );
    }
    await context.sleep(POLL_MILLISECONDS);
  }
}

/** Deletes the baseline's Service; nothing to do when it is gone already. */
export async function removeBaselineService(
  kube: KubeClients,
  input: { rollout: RolloutRef },
): Promise<void> {
  const { rollout } = input;
  const service = await readService(kube, rollout.namespace, baselineServiceName(rollout));
  // Someone else's Service of that name is not Siirto's to delete.
  const controller = service?.metadata?.ownerReferences?.find((owner) => owner.controller);
  if (!service || controller?.uid !== rollout.uid) return;
  try {
    await kube.core.deleteNamespacedService({
      name: baselineServiceName(rollout),
      namespace: rollout.namespace,
      body: { preconditions: { uid: service.metadata?.uid } },
    });
  } catch (error) {
    if (isNotFound(error)) return;
    rethrowKubernetesError(error, { action: `deleting the baseline Service of ${describeRollout(rollout)}` });
  }
}

/** Where a judged canary's traffic is routed: the baseline's backend goes beside the stable's. */
export interface BaselineRouting {
  trafficRouting: TrafficRouting;
  stableService: string;
  canaryService: string;
}

/**
 * Gives the baseline a share of its own on a Gateway API route: its Service, its pods listed Ready,
 * then a backendRef to it beside the stable's in every rule Siirto weighs, weighted as the canary.
 * Idempotent.
 */
export async function ensureBaselineBackend(
  kube: KubeClients,
  input: {
    rollout: RolloutRef;
    stableHash: string;
    replicas: number;
    deadlineSeconds: number;
    routing: BaselineRouting;
  },
): Promise<void> {
  const { routing, ...baseline } = input;
  await ensureBaselineService(kube, { ...baseline, stableService: routing.stableService });
  await addBaselineBackend(kube, { rollout: input.rollout, ...routing });
}

/** Takes the baseline's backend off the routes, its weight back to the stable's; idempotent. */
export async function removeBaselineRouting(
  kube: KubeClients,
  input: { rollout: RolloutRef; routing: BaselineRouting },
): Promise<void> {
  await removeBaselineBackend(kube, { rollout: input.rollout, ...input.routing });
}
