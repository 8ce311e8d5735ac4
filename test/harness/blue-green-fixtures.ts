import { rolloutManifestWith, routeHost, serviceManifest } from './rollout-fixtures';

/** A blue-green app as a platform team would set it up: active and preview Services, a route to both. */
export interface BlueGreenAppFixture {
  namespace: string;
  app: string;
  replicas?: number;
  image?: string;
  progressDeadlineSeconds?: number;
  /** Fields of spec.strategy.blueGreen beyond the Services and the route, which are always set. */
  blueGreen?: Record<string, unknown>;
  /** Leave the route out: the active Service's selector alone switches the traffic. */
  withoutRoute?: boolean;
}

export const activeService = (app: string) => `${app}-active`;
export const previewService = (app: string) => `${app}-preview`;

/** The hostname at the gateway that reaches the preview Service, for people and tests to try it. */
export function previewHost(namespace: string, app: string): string {
  return `preview.${routeHost(namespace, app)}`;
}

/**
 * The Services and HTTPRoutes of a blue-green app. The app's route sends everything to the active
 * Service, with the preview Service beside it at weight 0 for Siirto to move the weights to (or,
 * `withoutRoute`, to the active Service alone, which Siirto does not touch); a second route, Siirto's
 * to leave alone, sends the preview hostname to the preview Service.
 */
export function blueGreenServicesAndRoute(namespace: string, app: string, withoutRoute = false): string {
  const service = (name: string) => serviceManifest(namespace, name, app);
  const route = (name: string, host: string, backends: string[]) => `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  parentRefs: [{ name: local, namespace: siirto-gateway }]
  hostnames: [${host}]
  rules:
    - backendRefs:
${backends.map((backend) => `        - ${backend}`).join('\n')}
`;
  return [
    service(activeService(app)),
    service(previewService(app)),
    route(app, routeHost(namespace, app), [
      `{ name: ${activeService(app)}, port: 80, weight: 100 }`,
      ...(withoutRoute ? [] : [`{ name: ${previewService(app)}, port: 80, weight: 0 }`]),
    ]),
    route(`${app}-preview`, previewHost(namespace, app), [`{ name: ${previewService(app)}, port: 80 }`]),
  ].join('\n---\n');
}

export function blueGreenRolloutManifest(fixture: BlueGreenAppFixture): string {
  const { app } = fixture;
  return rolloutManifestWith(fixture, {
    blueGreen: {
      activeService: activeService(app),
      previewService: previewService(app),
      ...(fixture.withoutRoute ? {} : { trafficRouting: { gatewayAPI: { httpRoute: app } } }),
      scaleDownDelaySeconds: 2,
      abortScaleDownDelaySeconds: 2,
      ...fixture.blueGreen,
    },
  });
}
