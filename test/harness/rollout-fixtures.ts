import { runOrThrow } from './commands';

/** A sample app as a platform team would set it up: two Services and an HTTPRoute splitting between them. */
export interface AppFixture {
  namespace: string;
  app: string;
  replicas?: number;
  steps: unknown[];
  image?: string;
  scaleDownDelaySeconds?: number;
  abortScaleDownDelaySeconds?: number;
  progressDeadlineSeconds?: number;
  /** More fields of the canary strategy, such as a background analysis. */
  canary?: Record<string, unknown>;
}

/** The hostname an app's HTTPRoute answers for at the stack's gateway: each test's route its own. */
export function routeHost(namespace: string, app: string): string {
  return `${app}.${namespace}.example`;
}

/**
 * Labels and annotations of every pod template the tests roll out: Prometheus scrapes the pods it
 * discovers by the annotations, on the port the Services send to.
 */
export function podMetadata(app: string) {
  return {
    labels: { app },
    annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080' },
  };
}

/** A pod template of the sample app, scraped by Prometheus, answering each request after `latencyMilliseconds`. */
export function latencyTemplate(app: string, image: string, latencyMilliseconds: number) {
  return {
    metadata: podMetadata(app),
    spec: { containers: [sampleContainer(image, { SAMPLE_APP_LATENCY_MILLISECONDS: latencyMilliseconds })] },
  };
}

/** A container of the sample app the stack's pod server runs, as a pod template lists it. */
export function sampleContainer(image: string, env: Record<string, string | number> = {}) {
  return {
    name: 'app',
    image,
    ports: [{ name: 'http', containerPort: 8080 }],
    ...(Object.keys(env).length > 0
      ? { env: Object.entries(env).map(([name, value]) => ({ name, value: String(value) })) }
      : {}),
  };
}

/** A Service selecting the app's pods, on the port the sample app serves; Siirto narrows its selector. */
export function serviceManifest(namespace: string, name: string, app: string): string {
  return `
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  selector: { app: ${app} }
  ports: [{ port: 80, targetPort: 8080 }]
`;
}

/** A Service selecting every pod of the app, whatever its revision: a canary without a router's traffic. */
export function appService(namespace: string, app: string, name = app): string {
  return serviceManifest(namespace, name, app);
}

export function servicesAndRoute(namespace: string, app: string): string {
  const service = (name: string) => serviceManifest(namespace, name, app);
  return [service(`${app}-stable`), service(`${app}-canary`), httpRoute(namespace, app)].join('\n---\n');
}

/**
 * The app's HTTPRoute, splitting between its two Services, attached to the stack's gateway (Traefik)
 * or to the Gateway `parentRef` names.
 */
export function httpRoute(
  namespace: string,
  app: string,
  parentRef: { name: string; namespace?: string } = { name: 'local', namespace: 'siirto-gateway' },
): string {
  return `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${app}, namespace: ${namespace} }
spec:
  parentRefs: [${JSON.stringify(parentRef)}]
  hostnames: [${routeHost(namespace, app)}]
  rules:
    - backendRefs:
        - { name: ${app}-stable, port: 80, weight: 100 }
        - { name: ${app}-canary, port: 80, weight: 0 }
`;
}

/** An AnalysisTemplate in the namespace, as a platform team would write it, for kubectlApply. */
export function analysisTemplateManifest(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): string {
  return JSON.stringify({
    apiVersion: 'siirto.dev/v1alpha1',
    kind: 'AnalysisTemplate',
    metadata: { name, namespace },
    spec,
  });
}

export function rolloutManifest(fixture: AppFixture): string {
  const { app } = fixture;
  return rolloutManifestWith(fixture, {
    canary: {
      stableService: `${app}-stable`,
      canaryService: `${app}-canary`,
      trafficRouting: { gatewayAPI: { httpRoute: app } },
      scaleDownDelaySeconds: fixture.scaleDownDelaySeconds ?? 1,
      abortScaleDownDelaySeconds: fixture.abortScaleDownDelaySeconds ?? 1,
      steps: fixture.steps,
      ...fixture.canary,
    },
  });
}

/** The sample app's Rollout, with `strategy` as its spec.strategy. */
export function rolloutManifestWith(
  fixture: Pick<AppFixture, 'namespace' | 'app' | 'replicas' | 'image' | 'progressDeadlineSeconds'>,
  strategy: Record<string, unknown>,
): string {
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
      strategy,
    },
  });
}

export async function kubectlApply(manifest: string): Promise<string> {
  return runOrThrow('kubectl', ['apply', '-f', '-'], manifest);
}

/** Annotates the Rollout as a user with only kubectl drives it: `siirto.dev/promote=true` and the like. */
export async function annotateRollout(namespace: string, app: string, annotation: string): Promise<void> {
  await runOrThrow('kubectl', ['annotate', 'rollouts.siirto.dev', app, '-n', namespace, annotation]);
}

/**
 * Merge-patches the Rollout's spec as a user would with `kubectl patch --type merge`, in the stack's
 * cluster or the one `kubeconfig` names.
 */
export async function patchRolloutSpec(
  namespace: string,
  app: string,
  spec: unknown,
  kubeconfig?: string,
): Promise<void> {
  await runOrThrow('kubectl', [
    ...(kubeconfig ? ['--kubeconfig', kubeconfig] : []),
    'patch',
    'rollouts.siirto.dev',
    app,
    '-n',
    namespace,
    '--type',
    'merge',
    '-p',
    JSON.stringify({ spec }),
  ]);
}

/** Sets a new image, as `kubectl set image` would on a Deployment: a new pod template, a new revision. */
export async function setImage(
  namespace: string,
  app: string,
  image: string,
  kubeconfig?: string,
): Promise<void> {
  const spec = { template: { spec: { containers: [sampleContainer(image)] } } };
  await patchRolloutSpec(namespace, app, spec, kubeconfig);
}

/**
 * Argo Rollouts' getting-started Rollout with only its apiVersion changed: a canary without
 * trafficRouting or Services of its own. `canary` adds or replaces fields of its strategy.
 */
export function argoGettingStartedRollout(
  namespace: string,
  app: string,
  canary: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: 'siirto.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: app, namespace },
    spec: {
      replicas: 5,
      revisionHistoryLimit: 2,
      selector: { matchLabels: { app } },
      template: {
        metadata: podMetadata(app),
        spec: { containers: [sampleContainer(`registry.example/${app}:1`)] },
      },
      strategy: {
        canary: {
          steps: [
            { setWeight: 20 },
            { pause: {} },
            { setWeight: 40 },
            { pause: { duration: '10s' } },
            { setWeight: 60 },
            { pause: { duration: '10s' } },
            { setWeight: 80 },
            { pause: { duration: '10s' } },
          ],
          ...canary,
        },
      },
    },
  };
}
