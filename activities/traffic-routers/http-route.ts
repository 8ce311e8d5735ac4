import type { TrafficRouting } from '../../schemas/rollout';

/** Where the custom objects API finds HTTPRoutes. */
export const HTTP_ROUTE = {
  group: 'gateway.networking.k8s.io',
  version: 'v1',
  plural: 'httproutes',
} as const;

/** The parts of an HTTPRoute Siirto reads; everything else passes through untouched. */
export interface HttpRouteBackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  [field: string]: unknown;
}

export interface HttpHeaderMatch {
  type?: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}

export interface HttpRouteMatch {
  path?: { type?: string; value?: string };
  headers?: HttpHeaderMatch[];
  method?: string;
  [field: string]: unknown;
}

export interface HttpRouteRule {
  /** Gateway API v1.4 and later; the rules Siirto adds are named `siirto.<managed route>`. */
  name?: string;
  matches?: HttpRouteMatch[];
  filters?: Record<string, unknown>[];
  backendRefs?: HttpRouteBackendRef[];
  [field: string]: unknown;
}

export interface HttpRoute {
  metadata: { name: string; namespace: string; resourceVersion?: string; [field: string]: unknown };
  spec?: { rules?: HttpRouteRule[]; [field: string]: unknown };
  [field: string]: unknown;
}

/** The two Services a route's traffic is split between. */
export interface SplitServices {
  stableService: string;
  canaryService: string;
}

export function describeRoute(route: HttpRoute): string {
  return `HTTPRoute ${route.metadata.namespace}/${route.metadata.name}`;
}

/** True when the backendRef sends to this core Service in the route's own namespace. */
export function refersToService(ref: HttpRouteBackendRef, service: string, routeNamespace: string): boolean {
  return (
    ref.name === service &&
    (ref.kind ?? 'Service') === 'Service' &&
    (ref.group ?? '') === '' &&
    (ref.namespace ?? routeNamespace) === routeNamespace
  );
}

/**
 * The prefix of the names of the rules Siirto adds: a rule named so is Siirto's to change and remove,
 * and no other rule is. A managed route's own name is a DNS label, so `siirto.<name>` and
 * `siirto.<name>.<n>` can belong to no other managed route.
 */
export const MANAGED_RULE_PREFIX = 'siirto.';

export function isManagedRule(rule: HttpRouteRule): boolean {
  return rule.name?.startsWith(MANAGED_RULE_PREFIX) ?? false;
}

/** Whether the rule sends to both Services, so its traffic can be split between them. */
export function splitsBetween(rule: HttpRouteRule, services: SplitServices, routeNamespace: string): boolean {
  const refs = rule.backendRefs ?? [];
  return (
    refs.some((ref) => refersToService(ref, services.stableService, routeNamespace)) &&
    refs.some((ref) => refersToService(ref, services.canaryService, routeNamespace))
  );
}

/** The HTTPRoutes a Rollout routes through, each with the path of the field that names it. */
export function namedRoutes(
  trafficRouting: TrafficRouting,
  strategyField = 'spec.strategy.canary',
): { name: string; field: string }[] {
  const gatewayApi = trafficRouting.gatewayAPI;
  const base = `${strategyField}.trafficRouting.gatewayAPI`;
  if (!gatewayApi) return [];
  if (gatewayApi.httpRoute) return [{ name: gatewayApi.httpRoute, field: `${base}.httpRoute` }];
  return (gatewayApi.httpRoutes ?? []).map((route, index) => ({
    name: route.name,
    field: `${base}.httpRoutes[${index}].name`,
  }));
}
