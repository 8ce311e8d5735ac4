import type { KubeClients } from '../../kubernetes/client';
import { apiStatus } from '../../kubernetes/errors';
import { describeRoute, HTTP_ROUTE, type HttpRoute } from './http-route';

/**
 * Gateway controllers that accept an HTTPRoute rule with a `RequestMirror` filter but do not mirror:
 * Traefik (v3.6) answers every request such a rule matches with HTTP 500 instead of serving it.
 */
const WITHOUT_REQUEST_MIRROR = ['traefik.io/gateway-controller'];

/** A Gateway a route is attached to, with the controller that implements its GatewayClass. */
export interface ParentGateway {
  /** `siirto-gateway/local` */
  gateway: string;
  gatewayClass: string;
  controller: string;
}

interface ParentRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
}

/** The object, or undefined when it is missing or Siirto may not read it: the controller is unknown. */
async function readIfAllowed<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    const status = apiStatus(error);
    if (status === 404 || status === 403) return undefined;
    throw error;
  }
}

/** The Gateways the route's parentRefs name, with their controllers, as far as they can be read. */
export async function parentGateways(kube: KubeClients, route: HttpRoute): Promise<ParentGateway[]> {
  const refs = ((route.spec?.parentRefs as ParentRef[] | undefined) ?? []).filter(
    (ref) => (ref.group ?? HTTP_ROUTE.group) === HTTP_ROUTE.group && (ref.kind ?? 'Gateway') === 'Gateway',
  );
  const found = await Promise.all(
    refs.map(async (ref): Promise<ParentGateway | undefined> => {
      const namespace = ref.namespace ?? route.metadata.namespace;
      const gateway = (await readIfAllowed(() =>
        kube.custom.getNamespacedCustomObject({
          group: HTTP_ROUTE.group,
          version: HTTP_ROUTE.version,
          namespace,
          plural: 'gateways',
          name: ref.name,
        }),
      )) as { spec?: { gatewayClassName?: string } } | undefined;
      const gatewayClass = gateway?.spec?.gatewayClassName;
      if (!gatewayClass) return undefined;
      const definition = (await readIfAllowed(() =>
        kube.custom.getClusterCustomObject({
          group: HTTP_ROUTE.group,
          version: HTTP_ROUTE.version,
          plural: 'gatewayclasses',
          name: gatewayClass,
        }),
      )) as { spec?: { controllerName?: string } } | undefined;
      const controller = definition?.spec?.controllerName;
      return controller ? { gateway: `${namespace}/${ref.name}`, gatewayClass, controller } : undefined;
    }),
  );
  return found.filter((parent) => parent !== undefined);
}

/**
 * Why the route cannot carry a mirror rule, or undefined when nothing says so: a Gateway it is
 * attached to is implemented by a controller that does not mirror. `step` names the step, as
 * `spec.strategy.canary.steps[3].setMirrorRoute`.
 */
export function mirrorRefusal(route: HttpRoute, parents: ParentGateway[], step: string): string | undefined {
  const parent = parents.find((candidate) => WITHOUT_REQUEST_MIRROR.includes(candidate.controller));
  if (!parent) return undefined;
  return (
    `${step}: ${describeRoute(route)} is attached to Gateway ${parent.gateway} (GatewayClass ` +
    `${parent.gatewayClass}), whose controller ${parent.controller} has no RequestMirror and answers the ` +
    'requests a mirror rule matches with HTTP 500 instead of serving them; remove the setMirrorRoute step, ' +
    'or attach the route to a Gateway whose controller implements RequestMirror'
  );
}
