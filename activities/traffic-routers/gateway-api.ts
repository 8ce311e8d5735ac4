import { ApplicationFailure } from '@temporalio/common';
import { isDeepStrictEqual } from 'node:util';
import type { KubeClients } from '../../kubernetes/client';
import { isNotFound } from '../../kubernetes/errors';
import { FIELD_MANAGER } from '../../kubernetes/labels';
import { lastWriterOf } from '../../kubernetes/managed-fields';
import { retryOnConflict } from '../../kubernetes/retry-on-conflict';
import type { TrafficRouting, TrafficWeights } from '../../schemas/rollout';
import { rethrowKubernetesError } from '../kubernetes-failures';
import { readThenWatch } from '../kubernetes-watch';
import { describeRollout } from '../rollout-reader';
import type { TrafficRouter, TrafficWeightChange, WeightDrift } from './traffic-router';
import { FailureType } from '../../reasons/rollout-reasons';

const HTTP_ROUTE = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' } as const;

/** The parts of an HTTPRoute Siirto reads; everything else passes through untouched. */
export interface HttpRouteBackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  weight?: number;
  [field: string]: unknown;
}

export interface HttpRouteRule {
  backendRefs?: HttpRouteBackendRef[];
  [field: string]: unknown;
}

export interface HttpRoute {
  metadata: { name: string; namespace: string; resourceVersion?: string; [field: string]: unknown };
  spec?: { rules?: HttpRouteRule[]; [field: string]: unknown };
  [field: string]: unknown;
}

export interface BackendWeights {
  stableService: string;
  canaryService: string;
  weights: TrafficWeights;
}

function describeRoute(route: HttpRoute): string {
  return `HTTPRoute ${route.metadata.namespace}/${route.metadata.name}`;
}

/** True when the backendRef sends to this core Service in the route's own namespace. */
function refersToService(ref: HttpRouteBackendRef, service: string, routeNamespace: string): boolean {
  return (
    ref.name === service &&
    (ref.kind ?? 'Service') === 'Service' &&
    (ref.group ?? '') === '' &&
    (ref.namespace ?? routeNamespace) === routeNamespace
  );
}

/**
 * Why the route's traffic cannot be split between the two Services, or undefined when it can. A rule
 * that sends to one of them but not the other cannot be split, nor can a route that sends to neither.
 * The bridge asks this before a rollout starts, the router before every weight change.
 */
export function routeSplitProblem(
  route: HttpRoute,
  { stableService, canaryService }: Omit<BackendWeights, 'weights'>,
): string | undefined {
  const namespace = route.metadata.namespace;
  let splitRules = 0;
  for (const [index, rule] of (route.spec?.rules ?? []).entries()) {
    const refs = rule.backendRefs ?? [];
    const sendsToStable = refs.some((ref) => refersToService(ref, stableService, namespace));
    const sendsToCanary = refs.some((ref) => refersToService(ref, canaryService, namespace));
    if (sendsToStable && sendsToCanary) splitRules++;
    else if (sendsToStable || sendsToCanary) {
      const [present, missing] = sendsToStable
        ? [stableService, canaryService]
        : [canaryService, stableService];
      return (
        `spec.rules[${index}] of ${describeRoute(route)} sends traffic to Service ${present} but has no backendRef ` +
        `to Service ${missing}, so Siirto cannot split it; add {name: ${missing}, port: <its port>, weight: 0} ` +
        "to that rule's backendRefs"
      );
    }
  }
  if (splitRules > 0) return undefined;
  return (
    `${describeRoute(route)} has no rule with backendRefs to Services ${stableService} and ${canaryService}, ` +
    'so Siirto cannot split its traffic; add both to the backendRefs of the rule serving this app ' +
    `(${stableService} at weight 100, ${canaryService} at weight 0)`
  );
}

/**
 * Returns a copy of the route with the stable and canary backendRefs weighted, in every rule that
 * sends to them; every other rule, match, filter and backend is kept as it is. A route that
 * `routeSplitProblem` finds fault with fails with type `TrafficRouteMisconfigured`.
 */
export function withBackendWeights(route: HttpRoute, backends: BackendWeights): HttpRoute {
  const problem = routeSplitProblem(route, backends);
  if (problem) throw ApplicationFailure.nonRetryable(problem, FailureType.TrafficRouteMisconfigured);
  const { stableService, canaryService, weights } = backends;
  const namespace = route.metadata.namespace;
  const updated = structuredClone(route);
  for (const ref of (updated.spec?.rules ?? []).flatMap((rule) => rule.backendRefs ?? [])) {
    if (refersToService(ref, stableService, namespace)) ref.weight = weights.stable;
    else if (refersToService(ref, canaryService, namespace)) ref.weight = weights.canary;
  }
  return updated;
}

function routeNames(trafficRouting: TrafficRouting): string[] {
  const gatewayApi = trafficRouting.gatewayAPI;
  if (!gatewayApi) return [];
  return gatewayApi.httpRoute
    ? [gatewayApi.httpRoute]
    : (gatewayApi.httpRoutes ?? []).map((route) => route.name);
}

async function setRouteWeights(kube: KubeClients, change: TrafficWeightChange, name: string): Promise<void> {
  const { namespace } = change.rollout;
  const described = `HTTPRoute ${namespace}/${name}`;
  const path = { ...HTTP_ROUTE, namespace, name };
  await retryOnConflict(async () => {
    let route: HttpRoute;
    try {
      route = (await kube.custom.getNamespacedCustomObject(path)) as HttpRoute;
    } catch (error) {
      if (isNotFound(error)) {
        throw ApplicationFailure.nonRetryable(
          `${described}, named in spec.strategy.canary.trafficRouting.gatewayAPI of ` +
            `${describeRollout(change.rollout)}, does not exist; create it with backendRefs to Services ` +
            `${change.stableService} and ${change.canaryService}, or correct the name`,
          FailureType.TrafficRouteMissing,
        );
      }
      rethrowKubernetesError(error, { action: `reading ${described}` });
    }
    const updated = withBackendWeights(route, change);
    // Writing an unchanged route would only churn its resourceVersion and wake its controllers.
    if (isDeepStrictEqual(updated, route)) return;
    try {
      // A replace carries the resourceVersion read, so a concurrent edit makes it fail (409) and re-read.
      await kube.custom.replaceNamespacedCustomObject({
        ...path,
        body: updated,
        fieldManager: FIELD_MANAGER,
      });
    } catch (error) {
      rethrowKubernetesError(error, {
        action:
          `setting weights ${change.stableService}=${change.weights.stable} ` +
          `${change.canaryService}=${change.weights.canary} on ${described}`,
      });
    }
  });
}

/**
 * The weights of the route's stable and canary backendRefs when they differ from `change.weights`
 * and Siirto was not the last to write the rules; undefined otherwise, and for a route that cannot be
 * split at all (the next weight write says why).
 */
export function weightDrift(route: HttpRoute, change: BackendWeights): WeightDrift | undefined {
  if (routeSplitProblem(route, change)) return undefined;
  const { stableService, canaryService, weights } = change;
  const namespace = route.metadata.namespace;
  const found = new Map<string, number>();
  let drifted = false;
  for (const ref of (route.spec?.rules ?? []).flatMap((rule) => rule.backendRefs ?? [])) {
    const wanted = refersToService(ref, stableService, namespace)
      ? weights.stable
      : refersToService(ref, canaryService, namespace)
        ? weights.canary
        : undefined;
    if (wanted === undefined) continue;
    // Gateway API weighs a backendRef without a weight as 1.
    const weight = ref.weight ?? 1;
    if (!found.has(ref.name)) found.set(ref.name, weight);
    drifted ||= weight !== wanted;
  }
  if (!drifted) return undefined;
  const changedBy = lastWriterOf(route.metadata.managedFields, ['f:spec', 'f:rules']);
  // Siirto's own write: a weight change under way that this watch was started before.
  if (changedBy?.manager === FIELD_MANAGER) return undefined;
  return {
    object: describeRoute(route),
    found: [...found].map(([name, weight]) => `${name}=${weight}`).join(', '),
    ...(changedBy ? { changedBy } : {}),
  };
}

function watchRouteForDrift(
  kube: KubeClients,
  change: TrafficWeightChange,
  name: string,
  finished: AbortSignal,
): Promise<WeightDrift> {
  const { namespace } = change.rollout;
  return readThenWatch<HttpRoute, WeightDrift>(kube.config, {
    path: `/apis/${HTTP_ROUTE.group}/${HTTP_ROUTE.version}/namespaces/${encodeURIComponent(namespace)}/${HTTP_ROUTE.plural}`,
    selector: { fieldSelector: `metadata.name=${name}` },
    finished,
    read: async () => {
      try {
        const route = (await kube.custom.getNamespacedCustomObject({
          ...HTTP_ROUTE,
          namespace,
          name,
        })) as HttpRoute;
        return { outcome: weightDrift(route, change), resourceVersion: route.metadata.resourceVersion };
      } catch (error) {
        // A missing route is the next weight write's to report.
        if (isNotFound(error)) return {};
        rethrowKubernetesError(error, { action: `reading HTTPRoute ${namespace}/${name}` });
      }
    },
    onEvent: ({ type, object }) => (type === 'DELETED' ? undefined : weightDrift(object, change)),
  });
}

export function gatewayApiRouter(kube: KubeClients): TrafficRouter {
  return {
    field: 'gatewayAPI',
    handles: (trafficRouting) => trafficRouting.gatewayAPI !== undefined,
    async setWeights(change) {
      const names = routeNames(change.trafficRouting);
      if (change.weights.canary > 0) {
        for (const name of names) await setRouteWeights(kube, change, name);
        return;
      }
      // Back to stable, every route that can be moved is, whatever became of the others.
      const failures: unknown[] = [];
      for (const name of names)
        await setRouteWeights(kube, change, name).catch((error) => failures.push(error));
      const [first] = failures;
      if (first === undefined) return;
      // A failure a retry may mend is retried; the rest are told together.
      const transient = failures.find((failure) => !(failure instanceof ApplicationFailure));
      if (transient !== undefined || failures.length === 1) throw transient ?? first;
      const permanent = failures as ApplicationFailure[];
      throw ApplicationFailure.nonRetryable(
        permanent.map((failure) => failure.message).join('; '),
        permanent[0]?.type ?? FailureType.TrafficRouteMisconfigured,
      );
    },
    watchForDrift(change, finished) {
      return Promise.race(
        routeNames(change.trafficRouting).map((name) => watchRouteForDrift(kube, change, name, finished)),
      );
    },
  };
}
