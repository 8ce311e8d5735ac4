import { podMetadata, routeHost, sampleContainer } from './rollout-fixtures';

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

/**
 * The Services and the HTTPRoute of a blue-green app: the route sends everything to the active
 * Service, and has the preview Service beside it at weight 0 for Siirto to move the weights to.
 */
export function blueGreenServicesAndRoute(namespace: string, app: string): string {
  const service = (name: string) => `
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  selector: { app: ${app} }
  ports: [{ port: 80, targetPort: 8080 }]
`;
  return [
    service(activeService(app)),
    service(previewService(app)),
    `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${app}, namespace: ${namespace} }
spec:
  parentRefs: [{ name: local, namespace: siirto-gateway }]
  hostnames: [${routeHost(namespace, app)}]
  rules:
    - backendRefs:
        - { name: ${activeService(app)}, port: 80, weight: 100 }
        - { name: ${previewService(app)}, port: 80, weight: 0 }
`,
  ].join('\n---\n');
}

export function blueGreenRolloutManifest(fixture: BlueGreenAppFixture): string {
  const { namespace, app } = fixture;
  return JSON.stringify({
    apiVersion: 'siirto.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: app, namespace },
    spec: {
      replicas: fixture.replicas ?? 3,
      selector: { matchLabels: { app } },
      progressDeadlineSeconds: fixture.progressDeadlineSeconds ?? 60,
      template: {
        metadata: podMetadata(app),
        spec: { containers: [sampleContainer(fixture.image ?? `registry.example/${app}:1`)] },
      },
      strategy: {
        blueGreen: {
          activeService: activeService(app),
          previewService: previewService(app),
          ...(fixture.withoutRoute ? {} : { trafficRouting: { gatewayAPI: { httpRoute: app } } }),
          scaleDownDelaySeconds: 2,
          abortScaleDownDelaySeconds: 2,
          ...fixture.blueGreen,
        },
      },
    },
  });
}
