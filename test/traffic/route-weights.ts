/** What the weighted gateway reads from an HTTPRoute, and what it reports on `GET /gateway/weights`. */

export const HTTP_ROUTE = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' };

interface BackendReference {
  name?: string;
  /** Gateway API: absent means 1. */
  weight?: number;
}

export interface HttpRoute {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: { rules?: { backendRefs?: BackendReference[] }[] };
}

export interface GatewayWeights {
  /** `namespace/name` of the watched HTTPRoute. */
  route: string;
  /** False while the route does not exist: every request is then answered 503. */
  found: boolean;
  /** Service name → weight from the route's first rule, in the route's order. */
  weights: Record<string, number>;
  /** The route version these weights came from. */
  resourceVersion?: string;
  /** When the gateway started using them, in milliseconds since the epoch. */
  appliedAt: number;
}

/** The first rule's backendRefs as Service name → weight; a gateway splits only the first rule. */
export function weightsOfRoute(route: HttpRoute | undefined): Map<string, number> {
  const weights = new Map<string, number>();
  for (const reference of route?.spec?.rules?.[0]?.backendRefs ?? []) {
    if (reference.name) weights.set(reference.name, reference.weight ?? 1);
  }
  return weights;
}
