import { ApplicationFailure } from '@temporalio/common';
import { isDeepStrictEqual } from 'node:util';
import type { KubeClients } from '../../kubernetes/client';
import { isNotFound } from '../../kubernetes/errors';
import { FIELD_MANAGER } from '../../kubernetes/labels';
import { lastWriterOf } from '../../kubernetes/managed-fields';
import { retryOnConflict } from '../../kubernetes/retry-on-conflict';
import type { TrafficWeights } from '../../schemas/rollout';
import { rethrowKubernetesError } from '../kubernetes-failures';
import { readThenWatch } from '../kubernetes-watch';
import { describeRollout } from '../rollout-reader';
import { FailureType } from '../../reasons/rollout-reasons';
import {
  describeRoute,
  HTTP_ROUTE,
  namedRoutes,
  refersToService,
  splitsBetween,
  type HttpRoute,
  type HttpRouteBackendRef,
  type HttpRouteRule,
  type SplitServices,
} from './http-route';
import {
  baselineRef,
  baselineServiceName,
  splitWithBaseline,
  withBaselineBackend,
  withoutBaselineBackend,
} from './http-route-baseline';
import { forEachRoutingObject } from './each-routing-object';
import { mirrorRefusal, parentGateways } from './gateway-controllers';
import { withManagedRoute, withoutManagedRoutes } from './http-route-managed-rules';
import { httpRouteProblems, routeSplitProblem } from './http-route-validation';
import type {
  RoutedWeights,
  RoutingTarget,
  TrafficRouter,
  TrafficWeightChange,
  WeightDrift,
} from './traffic-router';

export type { HttpRoute } from './http-route';
export { routeSplitProblem } from './http-route-validation';

export interface BackendWeights extends SplitServices {
  weights: TrafficWeights;
  /**
   * The Service of a judge's baseline pods: a rule with a backendRef to it splits the stable's weight
   * with it (http-route-baseline.ts). Siirto's router names `<rollout>-baseline`.
   */
  baselineService?: string;
}

/** What a backendRef of a splitting rule sends to: the stable, the canary, or a judge's baseline. */
type RefRole = 'stable' | 'canary' | 'baseline';

/**
 * Returns a copy of the route with the stable and canary backendRefs weighted, in every rule that
 * sends to both (a managed header route, which sends to the canary alone, keeps its weight); a rule
 * that also sends to `baselineService` gives it the canary's weight out of the stable's; every
 * other rule, match, filter and backend is kept as it is. A route that `routeSplitProblem` finds
 * fault with fails with type `TrafficRouteMisconfigured`.
 */
export function withBackendWeights(route: HttpRoute, backends: BackendWeights): HttpRoute {
  const problem = routeSplitProblem(route, backends);
  if (problem) throw ApplicationFailure.nonRetryable(problem, FailureType.TrafficRouteMisconfigured);
  const namespace = route.metadata.namespace;
  const updated = structuredClone(route);
  for (const rule of updated.spec?.rules ?? []) {
    if (!splitsBetween(rule, backends, namespace)) continue;
    const split = ruleSplit(rule, backends, backends.weights, namespace);
    for (const ref of rule.backendRefs ?? []) {
      const role = roleOf(ref, backends, namespace);
      if (role) ref.weight = split[role];
    }
  }
  return updated;
}

/** Which of the Services Siirto weighs the backendRef sends to, if any. */
function roleOf(
  ref: HttpRouteBackendRef,
  backends: SplitServices & { baselineService?: string },
  namespace: string,
): RefRole | undefined {
  if (refersToService(ref, backends.stableService, namespace)) return 'stable';
  if (refersToService(ref, backends.canaryService, namespace)) return 'canary';
  if (backends.baselineService && refersToService(ref, backends.baselineService, namespace))
    return 'baseline';
  return undefined;
}

/** The weights of a splitting rule's backendRefs for `weights`: the stable's shared with a baseline it has. */
function ruleSplit(
  rule: HttpRouteRule,
  backends: SplitServices & { baselineService?: string },
  weights: TrafficWeights,
  namespace: string,
): Record<RefRole, number> {
  const hasBaseline =
    backends.baselineService !== undefined &&
    baselineRef(rule, backends.baselineService, namespace) !== undefined;
  return hasBaseline
    ? splitWithBaseline(weights.stable, weights.canary)
    : { stable: weights.stable, canary: weights.canary, baseline: 0 };
}

/**
 * The weights of the stable and canary backendRefs, by Service name, as the first rule that sends to
 * a Service carries them, and whether every rule that splits traffic carries `wanted`.
 */
function splitWeights(
  route: HttpRoute,
  services: SplitServices & { baselineService?: string },
  wanted?: TrafficWeights,
): { found: Map<string, number>; differs: boolean } {
  const namespace = route.metadata.namespace;
  const found = new Map<string, number>();
  let differs = false;
  for (const rule of route.spec?.rules ?? []) {
    if (!splitsBetween(rule, services, namespace)) continue;
    // A judge's baseline backend takes its weight from the stable's, as Siirto set it: no drift.
    const split = wanted && ruleSplit(rule, services, wanted, namespace);
    for (const ref of rule.backendRefs ?? []) {
      const role = roleOf(ref, services, namespace);
      if (role === undefined) continue;
      // Gateway API weighs a backendRef without a weight as 1.
      const weight = ref.weight ?? 1;
      if (!found.has(ref.name)) found.set(ref.name, weight);
      differs ||= split !== undefined && weight !== split[role];
    }
  }
  return { found, differs };
}

/** The weights the route carries, as the first rule that splits traffic carries them. */
export function routeWeights(
  route: HttpRoute,
  services: SplitServices & { baselineService?: string },
): TrafficWeights | undefined {
  if (routeSplitProblem(route, services)) return undefined;
  const { found } = splitWeights(route, services);
  const stable = found.get(services.stableService);
  const canary = found.get(services.canaryService);
  // The baseline runs the stable revision, on weight taken from the stable's.
  const baseline = services.baselineService ? (found.get(services.baselineService) ?? 0) : 0;
  return stable === undefined || canary === undefined ? undefined : { stable: stable + baseline, canary };
}

/**
 * The weights of the route's stable and canary backendRefs when they differ from `change.weights`
 * and Siirto was not the last to write the rules; undefined otherwise, and for a route that cannot be
 * split at all (the next weight write says why).
 */
export function weightDrift(route: HttpRoute, change: BackendWeights): WeightDrift | undefined {
  if (routeSplitProblem(route, change)) return undefined;
  const { found, differs } = splitWeights(route, change, change.weights);
  if (!differs) return undefined;
  const changedBy = lastWriterOf(route.metadata.managedFields, ['f:spec', 'f:rules']);
  // Siirto's own write: a weight change under way that this watch was started before.
  if (changedBy?.manager === FIELD_MANAGER) return undefined;
  return {
    object: describeRoute(route),
    found: [...found].map(([name, weight]) => `${name}=${weight}`).join(', '),
    ...(changedBy ? { changedBy } : {}),
  };
}

function routePath(target: RoutingTarget, name: string) {
  return { ...HTTP_ROUTE, namespace: target.rollout.namespace, name };
}

/** The route, or undefined when it does not exist. */
async function readRoute(
  kube: KubeClients,
  target: RoutingTarget,
  name: string,
): Promise<HttpRoute | undefined> {
  try {
    return (await kube.custom.getNamespacedCustomObject(routePath(target, name))) as HttpRoute;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    rethrowKubernetesError(error, { action: `reading HTTPRoute ${target.rollout.namespace}/${name}` });
  }
}

/**
 * Reads the route, edits a copy and writes it back with the resourceVersion read, again from the read
 * when someone else wrote in between; writes nothing when the edit changes nothing. A missing route
 * fails with type `TrafficRouteMissing`, unless `missingIsDone`: nothing to take away from it then.
 */
async function editRoute(
  kube: KubeClients,
  target: RoutingTarget,
  name: string,
  {
    edit,
    action,
    missingIsDone = false,
    beforeWrite,
  }: {
    edit: (route: HttpRoute) => HttpRoute;
    action: string;
    missingIsDone?: boolean;
    /** Read the route meanwhile; write it only once this has resolved. */
    beforeWrite?: Promise<void>;
  },
): Promise<void> {
  const described = `HTTPRoute ${target.rollout.namespace}/${name}`;
  await retryOnConflict(async () => {
    const route = await readRoute(kube, target, name);
    if (!route) {
      if (missingIsDone) return;
      throw ApplicationFailure.nonRetryable(
        `${described}, named in ${target.field ?? 'spec.strategy.canary'}.trafficRouting.gatewayAPI of ` +
          `${describeRollout(target.rollout)}, does not exist; create it with backendRefs to Services ` +
          `${target.stableService} and ${target.canaryService}, or correct the name`,
        FailureType.TrafficRouteMissing,
      );
    }
    await beforeWrite;
    const updated = edit(route);
    // Writing an unchanged route would only churn its resourceVersion and wake its controllers.
    if (isDeepStrictEqual(updated, route)) return;
    try {
      // A replace carries the resourceVersion read, so a concurrent edit makes it fail (409) and re-read.
      await kube.custom.replaceNamespacedCustomObject({
        ...routePath(target, name),
        body: updated,
        fieldManager: FIELD_MANAGER,
      });
    } catch (error) {
      rethrowKubernetesError(error, { action: `${action} on ${described}` });
    }
  });
}

function watchRouteForDrift(
  kube: KubeClients,
  change: TrafficWeightChange,
  name: string,
  finished: AbortSignal,
): Promise<WeightDrift> {
  const { namespace } = change.rollout;
  const backends = withBaseline(change);
  return readThenWatch<HttpRoute, WeightDrift>(kube.config, {
    path: `/apis/${HTTP_ROUTE.group}/${HTTP_ROUTE.version}/namespaces/${encodeURIComponent(namespace)}/${HTTP_ROUTE.plural}`,
    selector: { fieldSelector: `metadata.name=${name}` },
    finished,
    read: async () => {
      // A missing route is the next weight write's to report.
      const route = await readRoute(kube, change, name);
      return route
        ? { outcome: weightDrift(route, backends), resourceVersion: route.metadata.resourceVersion }
        : {};
    },
    onEvent: ({ type, object }) => (type === 'DELETED' ? undefined : weightDrift(object, backends)),
  });
}

/** The change, its weights shared with the Rollout's baseline Service wherever a rule sends to it. */
function withBaseline<T extends RoutingTarget>(target: T): T & { baselineService: string } {
  return { ...target, baselineService: baselineServiceName(target.rollout) };
}

/**
 * Adds the baseline Service `<rollout>-baseline` as a backend of every rule of every route the target
 * names that splits between its stable and canary Services, weighted as the canary, the stable's
 * weight less as much (http-route-baseline.ts); idempotent. A missing route fails with type
 * `TrafficRouteMissing`, a route that cannot be split with `TrafficRouteMisconfigured`.
 */
export function addBaselineBackend(kube: KubeClients, target: RoutingTarget): Promise<void> {
  const baselineService = baselineServiceName(target.rollout);
  return forEachRoute(
    target,
    (name) =>
      editRoute(kube, target, name, {
        edit: (route) => {
          const problem = routeSplitProblem(route, target);
          if (problem) throw ApplicationFailure.nonRetryable(problem, FailureType.TrafficRouteMisconfigured);
          return withBaselineBackend(route, target, baselineService);
        },
        action: `adding the baseline backend ${baselineService}`,
      }),
    false,
  );
}

/**
 * Takes the baseline Service's backendRefs off every route the target names, their weight given back
 * to the stable's; idempotent, and a missing route has none to take.
 */
export function removeBaselineBackend(kube: KubeClients, target: RoutingTarget): Promise<void> {
  const baselineService = baselineServiceName(target.rollout);
  return forEachRoute(
    target,
    (name) =>
      editRoute(kube, target, name, {
        edit: (route) => withoutBaselineBackend(route, target, baselineService),
        action: `removing the baseline backend ${baselineService}`,
        missingIsDone: true,
      }),
    // Taking it away, every route that can lose it does.
    true,
  );
}

/** Runs `edit` on every route the target names; `everyRoute` as `forEachRoutingObject` has it. */
function forEachRoute(
  target: RoutingTarget,
  edit: (name: string) => Promise<void>,
  everyRoute: boolean,
): Promise<void> {
  const names = namedRoutes(target.trafficRouting).map((route) => route.name);
  return forEachRoutingObject(names, edit, everyRoute);
}

/** Fails with type `ManagedRouteInvalid` when a route's Gateway would answer mirrored requests with errors. */
async function refuseMirrorWhereNotMirrored(kube: KubeClients, target: RoutingTarget, name: string) {
  for (const { name: routeName } of namedRoutes(target.trafficRouting)) {
    const route = await readRoute(kube, target, routeName);
    const refusal =
      route && mirrorRefusal(route, await parentGateways(kube, route), `setMirrorRoute "${name}"`);
    if (refusal) throw ApplicationFailure.nonRetryable(refusal, 'ManagedRouteInvalid');
  }
}

export function gatewayApiRouter(kube: KubeClients): TrafficRouter {
  const removeManagedRoutes = (target: RoutingTarget, names?: readonly string[]) =>
    forEachRoute(
      target,
      (name) =>
        editRoute(kube, target, name, {
          edit: (route) => withoutManagedRoutes(route, names),
          action: names ? `removing managed routes ${names.join(', ')}` : 'removing the managed routes',
          missingIsDone: true,
        }),
      // Taking Siirto's rules away, every route that can lose them does.
      true,
    );
  return {
    field: 'gatewayAPI',
    handles: (trafficRouting) => trafficRouting.gatewayAPI !== undefined,
    async validate(target, mirrorSteps = []) {
      const names = namedRoutes(target.trafficRouting).map((route) => route.name);
      const routes = new Map<string, HttpRoute>();
      const mirrorProblems: string[] = [];
      await Promise.all(
        names.map(async (name) => {
          const route = await readRoute(kube, target, name);
          if (!route) return;
          routes.set(name, route);
          if (mirrorSteps.length === 0) return;
          const parents = await parentGateways(kube, route);
          for (const step of mirrorSteps) {
            const refusal = mirrorRefusal(route, parents, step);
            if (refusal) mirrorProblems.push(refusal);
          }
        }),
      );
      return [...httpRouteProblems(target, routes), ...mirrorProblems.sort()];
    },
    setWeights(change, checked) {
      const action =
        `setting weights ${change.stableService}=${change.weights.stable} ` +
        `${change.canaryService}=${change.weights.canary}`;
      return forEachRoute(
        change,
        (name) =>
          editRoute(kube, change, name, {
            edit: (route) => withBackendWeights(route, withBaseline(change)),
            action,
            ...(checked ? { beforeWrite: checked } : {}),
          }),
        // Back to stable, every route that can be moved is, whatever became of the others.
        change.weights.canary === 0,
      );
    },
    async readWeights(target): Promise<RoutedWeights[]> {
      return Promise.all(
        namedRoutes(target.trafficRouting).map(async ({ name }) => {
          const route = await readRoute(kube, target, name);
          const weights = route && routeWeights(route, withBaseline(target));
          return { object: `HTTPRoute ${target.rollout.namespace}/${name}`, ...(weights ? { weights } : {}) };
        }),
      );
    },
    watchForDrift(change, finished) {
      return Promise.race(
        namedRoutes(change.trafficRouting).map(({ name }) =>
          watchRouteForDrift(kube, change, name, finished),
        ),
      );
    },
    async setManagedRoute(target, managed) {
      // Checked again at the step: the route may have moved to such a Gateway since the bridge looked.
      if (managed.kind === 'mirror') await refuseMirrorWhereNotMirrored(kube, target, managed.route.name);
      return forEachRoute(
        target,
        (name) =>
          editRoute(kube, target, name, {
            edit: (route) => withManagedRoute(route, target, managed),
            action: `setting the managed route ${managed.route.name}`,
          }),
        false,
      );
    },
    removeManagedRoutes: (target, names) => removeManagedRoutes(target, names),
    async cleanUp(target) {
      await removeManagedRoutes(target);
      // A judge's baseline backend left by a run that never reached its end (terminated) goes too.
      await removeBaselineBackend(kube, target);
    },
  };
}
