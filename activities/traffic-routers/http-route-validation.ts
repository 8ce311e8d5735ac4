import {
  describeRoute,
  HTTP_ROUTE,
  isManagedRule,
  namedRoutes,
  refersToService,
  splitsBetween,
  type HttpRoute,
  type SplitServices,
} from './http-route';
import type { RoutingTarget } from './traffic-router';

/**
 * Why the route's traffic cannot be split between the two Services, or undefined when it can. A rule
 * that sends to one of them but not the other cannot be split, nor can a route that sends to neither.
 * The rules Siirto manages itself are not the user's to fix, and play no part. The bridge asks this
 * before a rollout starts, the router before every weight change.
 */
export function routeSplitProblem(route: HttpRoute, services: SplitServices): string | undefined {
  const { stableService, canaryService } = services;
  const namespace = route.metadata.namespace;
  let splitRules = 0;
  for (const [index, rule] of (route.spec?.rules ?? []).entries()) {
    if (isManagedRule(rule)) continue;
    if (splitsBetween(rule, services, namespace)) {
      splitRules++;
      continue;
    }
    const refs = rule.backendRefs ?? [];
    const sendsToStable = refs.some((ref) => refersToService(ref, stableService, namespace));
    const sendsToCanary = refs.some((ref) => refersToService(ref, canaryService, namespace));
    if (sendsToStable || sendsToCanary) {
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
 * The problems with the HTTPRoutes a Rollout names, given those that exist by name: each one missing,
 * each Service a route has no backendRef for, and each route whose rules send to the two apart. One
 * line a problem, starting with the Rollout field that names the route.
 */
export function httpRouteProblems(target: RoutingTarget, routes: ReadonlyMap<string, HttpRoute>): string[] {
  const { namespace } = target.rollout;
  const roles = target.roles ?? { stable: 'stable', canary: 'canary' };
  const services = [
    { role: roles.stable, other: roles.canary, name: target.stableService },
    { role: roles.canary, other: roles.stable, name: target.canaryService },
  ];
  const problems: string[] = [];
  for (const { name, field } of namedRoutes(target.trafficRouting, target.field)) {
    const route = routes.get(name);
    if (!route) {
      problems.push(
        `${field}: HTTPRoute "${name}" not found in namespace ${namespace}; ` +
          `create it (${HTTP_ROUTE.group}/${HTTP_ROUTE.version}), or name an existing HTTPRoute`,
      );
      continue;
    }
    const refs = (route.spec?.rules ?? [])
      .filter((rule) => !isManagedRule(rule))
      .flatMap((rule) => rule.backendRefs ?? []);
    const missing = services.filter(
      (service) => !refs.some((ref) => refersToService(ref, service.name, route.metadata.namespace)),
    );
    for (const service of missing) {
      problems.push(
        `${field}: HTTPRoute "${name}" has no backendRef for the ${service.role} Service ` +
          `"${service.name}"; add one to the rule that carries the traffic, beside the ` +
          `${service.other} Service's backendRef`,
      );
    }
    // Both are there, but perhaps in different rules: the router would refuse the route mid-rollout.
    const splitProblem = missing.length === 0 ? routeSplitProblem(route, target) : undefined;
    if (splitProblem) problems.push(`${field}: ${splitProblem}`);
  }
  return problems;
}
