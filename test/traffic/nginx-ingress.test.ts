import * as k8s from '@kubernetes/client-node';
import { canaryIngressName } from '../../activities/traffic-routers/nginx-ingress/canary-ingress';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import {
  annotateRollout,
  kubectlApply,
  routeHost,
  rolloutManifest,
  setImage,
} from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { writeFigures } from '../harness/figures';
import { waitFor } from '../harness/wait';
import { splitSettledAt, startTraffic, type Split, type Traffic } from './traffic';

/**
 * The NGINX Ingress router against the real apiserver and the stack's Traefik. No data plane here
 * honours ingress-nginx's canary annotations (Traefik v3.6's kubernetesIngressNGINX provider reads the
 * Ingresses of class nginx but not those), so the canary Ingresses are checked object by object against
 * ingress-nginx's documented semantics, and real traffic checks the stable Ingress's path through
 * Traefik, and what a canary Ingress does to it there.
 */

const app = 'nginx-shop';
const PREFIX = 'nginx.ingress.kubernetes.io';
const steps = [
  { setWeight: 20 },
  { pause: {} },
  { setHeaderRoute: { name: 'beta', match: [{ headerName: 'x-beta', headerValue: { exact: '1' } }] } },
  { setWeight: 60 },
  { pause: {} },
];

interface SeenCanary {
  type: string;
  weight?: string;
  header?: string;
  headerValue?: string;
  uid?: string;
}

describe('the NGINX Ingress router keeps a canary Ingress beside the stable one, and Gateway API moves with it', () => {
  const scope = isolate('nginx-ingress');
  const { namespace } = scope;
  const ingressHost = `${app}.${namespace}.nginx.example`;
  const scenario = rolloutScenario(scope, app, {
    canary: { trafficRouting: { gatewayAPI: { httpRoute: app }, nginx: { stableIngress: 'web' } } },
  });
  const { networking, config } = kubeClients();
  const canaryName = canaryIngressName(app, 'web');
  const figures: Record<string, unknown> = {};
  const seen: SeenCanary[] = [];
  let stopWatch: AbortController | undefined;
  let viaIngress: Traffic;
  let viaRoute: Traffic;

  const stableIngress = (extraPaths = '') => `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web, namespace: ${namespace} }
spec:
  ingressClassName: nginx
  rules:
    - host: ${ingressHost}
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: ${app}-stable, port: { number: 80 } } } }
          - { path: /other, pathType: Prefix, backend: { service: { name: elsewhere, port: { number: 80 } } } }
${extraPaths}`;

  const readCanary = () =>
    networking.readNamespacedIngress({ name: canaryName, namespace }).catch((error: unknown) => {
      if (error instanceof k8s.ApiException && error.code === 404) return undefined;
      throw error;
    });
  const annotationsOf = async () => (await readCanary())?.metadata?.annotations;
  const routeWeights = () => scenario.see.routeWeights(app);
  /** What the watch saw since `from`, without repeats of the same weight and header. */
  const seenSince = (from: number) =>
    seen.slice(from).filter((event, index, all) => {
      const previous = all[index - 1];
      return !previous || JSON.stringify(previous) !== JSON.stringify(event);
    });

  /**
   * Where this test's part of the watch's record begins: once its last event shows the canary Ingress
   * as a read returns it now (or gone). An event of the test before, delivered late, then never counts
   * as this test's.
   */
  async function watchCaughtUp(): Promise<number> {
    await waitFor(
      'the watch to have seen the canary Ingress as the apiserver has it now',
      async () => {
        const canary = await readCanary();
        const last = seen.at(-1);
        if (!canary) return last === undefined || last.type === 'DELETED';
        const annotations = canary.metadata?.annotations ?? {};
        return (
          last?.type === 'present' &&
          last.uid === canary.metadata?.uid &&
          last.weight === annotations[`${PREFIX}/canary-weight`] &&
          last.header === annotations[`${PREFIX}/canary-by-header`]
        );
      },
      { intervalMs: 50 },
    );
    return seen.length;
  }

  async function pausedAt(revision: number, stepIndex: number) {
    await scenario.waitForStatus(
      `r${revision} paused at step ${stepIndex}`,
      (status) =>
        status.revision === revision && status.phase === 'Paused' && status.currentStepIndex === stepIndex,
    );
  }

  async function canaryGone() {
    await waitFor('the canary Ingress to be deleted', async () => (await readCanary()) === undefined);
  }

  /** Windows of the Ingress host's traffic, as Traefik serves it with a canary Ingress beside the stable one. */
  async function ingressWindows(count: number): Promise<Split[]> {
    const windows: Split[] = [];
    for (let i = 0; i < count; i++) windows.push(await viaIngress.measureSplit(100));
    return windows;
  }

  beforeAll(async () => {
    await kubectlApply(stableIngress());
    stopWatch = await new k8s.Watch(config).watch(
      `/apis/networking.k8s.io/v1/namespaces/${namespace}/ingresses`,
      { labelSelector: `siirto.dev/rollout=${app}` },
      (type, ingress: k8s.V1Ingress) => {
        const annotations = ingress.metadata?.annotations ?? {};
        seen.push({
          type: type === 'DELETED' ? 'DELETED' : 'present',
          weight: annotations[`${PREFIX}/canary-weight`],
          header: annotations[`${PREFIX}/canary-by-header`],
          headerValue: annotations[`${PREFIX}/canary-by-header-value`],
          uid: ingress.metadata?.uid,
        });
      },
      () => undefined,
    );
    await scenario.firstRevisionHealthy(steps);
    viaIngress = startTraffic({ host: ingressHost, ratePerSecond: 40 });
    viaRoute = startTraffic({ host: routeHost(namespace, app), ratePerSecond: 40 });
  });

  afterAll(async () => {
    stopWatch?.abort();
    await Promise.all([viaIngress?.stop(), viaRoute?.stop()]);
    writeFigures('nginx-ingress', figures);
  });

  it('has no canary Ingress while the first revision is stable, and Traefik serves the stable Ingress from it', async () => {
    expect(await readCanary()).toBeUndefined();
    const split = await splitSettledAt(viaIngress, { '1': 1 }, { tolerance: 0, window: 100 });
    figures.stableIngressBeforeRollout = split.shares;
  });

  it('creates the canary Ingress at weight 20 as ingress-nginx reads it: a copy of the stable paths to the canary Service, owned by the Rollout, and the route at 80/20', async () => {
    const from = await watchCaughtUp();
    await setImage(namespace, app, `registry.example/${app}:2`);
    await pausedAt(2, 1);
    const canary = await readCanary();
    const rollout = await readRolloutUid();
    expect(canary?.metadata?.annotations).toEqual({
      [`${PREFIX}/canary`]: 'true',
      [`${PREFIX}/canary-weight`]: '20',
    });
    expect(canary?.metadata?.labels).toEqual({
      'app.kubernetes.io/managed-by': 'siirto',
      'siirto.dev/role': 'canary-ingress',
      'siirto.dev/rollout': app,
      'siirto.dev/stable-ingress': 'web',
    });
    expect(canary?.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Rollout', name: app, uid: rollout, controller: true }),
    ]);
    // The path to another Service stays out: ingress-nginx pairs a canary with the main Ingress by host and path.
    expect(JSON.parse(JSON.stringify(canary?.spec))).toEqual({
      ingressClassName: 'nginx',
      rules: [
        {
          host: ingressHost,
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Prefix',
                backend: { service: { name: `${app}-canary`, port: { number: 80 } } },
              },
            ],
          },
        },
      ],
    });
    // Both routers at the same weight.
    expect(await routeWeights()).toEqual({ [`${app}-stable`]: 80, [`${app}-canary`]: 20 });
    const split = await splitSettledAt(
      viaRoute,
      { '1': 0.8, '2': 0.2 },
      { tolerance: 0.03, window: 200, settleWindow: 40 },
    );
    figures.gatewayRouteAt20 = split.shares;
    expect(seenSince(from).map(({ type, weight }) => `${type} ${weight}`)).toEqual(['present 20']);
  });

  it('does not split the Ingress host by canary-weight through Traefik v3.6: the canary Ingress is served as an ordinary Ingress, and one of the two takes every request', async () => {
    const windows = await ingressWindows(5);
    figures.ingressHostWindowsAt20 = windows.map((window) => window.shares);
    for (const window of windows) expect(window.failures).toBe(0);
    // A window of 100 requests all on one revision: at 80/20 by weight that has a chance below 1e-9.
    // Windows split by a configuration reload inside them (Traefik then swaps the winner) may be mixed.
    const wholeWindows = windows.filter((window) =>
      Object.values(window.shares).some((share) => share === 1),
    );
    expect(wholeWindows.length).toBeGreaterThanOrEqual(1);
  });

  it('copies an edit of the stable Ingress (a new host and path) to the canary Ingress, leaving the stable Ingress as the user wrote it', async () => {
    const extra = `    - host: api.${ingressHost}
      http:
        paths:
          - { path: /v2, pathType: Exact, backend: { service: { name: ${app}-stable, port: { number: 80 } } } }
`;
    const editedAt = Date.now();
    await kubectlApply(stableIngress(extra));
    const rules = await waitFor(
      'the canary Ingress to copy the new host and path',
      async () => {
        const canary = await readCanary();
        const copied = canary?.spec?.rules ?? [];
        return copied.length === 2 && JSON.parse(JSON.stringify(copied));
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    figures.copyFollowedEditMs = Date.now() - editedAt;
    expect(rules[1]).toEqual({
      host: `api.${ingressHost}`,
      http: {
        paths: [
          {
            path: '/v2',
            pathType: 'Exact',
            backend: { service: { name: `${app}-canary`, port: { number: 80 } } },
          },
        ],
      },
    });
    expect((await annotationsOf())?.[`${PREFIX}/canary-weight`]).toBe('20');
    const stable = await networking.readNamespacedIngress({ name: 'web', namespace });
    const writers = (stable.metadata?.managedFields ?? []).map((entry) => entry.manager);
    expect(writers).not.toContain('siirto');
  });

  it('sets back a canary-weight someone else changed, and creates the canary Ingress again when someone deletes it', async () => {
    const weightOf = async () => (await annotationsOf())?.[`${PREFIX}/canary-weight`];
    const changedAt = Date.now();
    await runOrThrow('kubectl', [
      'annotate',
      'ingress',
      canaryName,
      '-n',
      namespace,
      '--overwrite',
      `${PREFIX}/canary-weight=90`,
    ]);
    await waitFor('canary-weight back at 20', async () => (await weightOf()) === '20', { intervalMs: 50 });
    figures.weightSetBackMs = Date.now() - changedAt;
    const deleted = (await readCanary())?.metadata?.uid;
    await networking.deleteNamespacedIngress({ name: canaryName, namespace });
    await waitFor(
      'a new canary Ingress at 20',
      async () => {
        const canary = await readCanary();
        return (
          canary?.metadata?.uid !== deleted &&
          canary?.metadata?.annotations?.[`${PREFIX}/canary-weight`] === '20'
        );
      },
      { intervalMs: 50 },
    );
  });

  it('adds the header route as canary-by-header with its value, keeps it through weight 60, then on promotion sets weight 0 and deletes the canary Ingress', async () => {
    const from = await watchCaughtUp();
    await annotateRollout(namespace, app, 'siirto.dev/promote=true');
    await pausedAt(2, 4);
    expect(await annotationsOf()).toEqual({
      [`${PREFIX}/canary`]: 'true',
      [`${PREFIX}/canary-weight`]: '60',
      [`${PREFIX}/canary-by-header`]: 'x-beta',
      [`${PREFIX}/canary-by-header-value`]: '1',
      'siirto.dev/header-route': JSON.stringify({ name: 'beta', header: 'x-beta', value: '1' }),
    });
    expect(await routeWeights()).toEqual({ [`${app}-stable`]: 40, [`${app}-canary`]: 60 });

    await annotateRollout(namespace, app, 'siirto.dev/promote=true');
    await scenario.waitForStatus('r2 to become Healthy', (s) => s.revision === 2 && s.phase === 'Healthy');
    await canaryGone();
    expect(await routeWeights()).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    expect(
      seenSince(from).map(({ type, weight, header }) => `${type} ${weight}${header ? ` ${header}` : ''}`),
    ).toEqual(['present 20 x-beta', 'present 60 x-beta', 'present 0 x-beta', 'DELETED 0 x-beta']);
    const split = await splitSettledAt(viaIngress, { '2': 1 }, { tolerance: 0, window: 100 });
    figures.stableIngressAfterPromotion = split.shares;
  });

  it('on an abort sets the canary Ingress to weight 0, then deletes it, and the Ingress host is all stable again', async () => {
    const from = await watchCaughtUp();
    await setImage(namespace, app, `registry.example/${app}:3`);
    await pausedAt(3, 1);
    await annotateRollout(namespace, app, 'siirto.dev/abort=nginx test');
    await scenario.waitForStatus('r3 to become Degraded', (s) => s.revision === 3 && s.phase === 'Degraded');
    await canaryGone();
    expect(seenSince(from).map(({ type, weight }) => `${type} ${weight}`)).toEqual([
      'present 20',
      'present 0',
      'DELETED 0',
    ]);
    expect(await routeWeights()).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    await splitSettledAt(viaIngress, { '2': 1 }, { tolerance: 0, window: 100 });
  });

  it("when a newer revision supersedes the canary, the old canary Ingress goes to weight 0 and is deleted before the new revision's is created", async () => {
    const from = await watchCaughtUp();
    await setImage(namespace, app, `registry.example/${app}:4`);
    await pausedAt(4, 1);
    const superseded = (await readCanary())?.metadata?.uid;
    await setImage(namespace, app, `registry.example/${app}:5`);
    await pausedAt(5, 1);
    const events = seenSince(from);
    expect(events.map(({ type, weight }) => `${type} ${weight}`)).toEqual([
      'present 20',
      'present 0',
      'DELETED 0',
      'present 20',
    ]);
    expect(events[0]?.uid).toBe(superseded);
    expect(events[3]?.uid).not.toBe(superseded);
    expect(await routeWeights()).toEqual({ [`${app}-stable`]: 80, [`${app}-canary`]: 20 });
    expect(viaRoute.responses().gatewayErrors + viaIngress.responses().gatewayErrors).toBe(0);
  });

  async function readRolloutUid(): Promise<string | undefined> {
    const { custom } = kubeClients();
    const rollout = (await custom.getNamespacedCustomObject({
      group: 'siirto.dev',
      version: 'v1alpha1',
      namespace,
      plural: 'rollouts',
      name: app,
    })) as { metadata: { uid?: string } };
    return rollout.metadata.uid;
  }

  it('makes a Rollout Invalid that names a missing Ingress, one not sending to its stable Service, a mirror step, a second header, and an annotation Siirto sets', async () => {
    await kubectlApply(`
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: elsewhere, namespace: ${namespace} }
spec:
  ingressClassName: nginx
  rules: [{ host: elsewhere.${ingressHost}, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: elsewhere, port: { number: 80 } } } }] } }]
`);
    await kubectlApply(
      rolloutManifest({
        namespace,
        app: 'broken',
        steps: [
          { setWeight: 10 },
          {
            setHeaderRoute: {
              name: 'two',
              match: [
                { headerName: 'a', headerValue: { exact: '1' } },
                { headerName: 'b', headerValue: { exact: '1' } },
              ],
            },
          },
          { setMirrorRoute: { name: 'shadow', match: [{ path: { prefix: '/' } }] } },
        ],
        canary: {
          stableService: `${app}-stable`,
          canaryService: 'broken-canary',
          trafficRouting: {
            nginx: {
              stableIngresses: ['missing', 'elsewhere'],
              additionalIngressAnnotations: { 'canary-weight': '5' },
            },
          },
        },
      }),
    );
    const status = await waitFor('the broken Rollout to be Invalid', async () => {
      const seenStatus = await scenario.see.rolloutStatus('broken');
      return seenStatus.phase === 'Invalid' && seenStatus;
    });
    figures.invalidMessage = status.message;
    const field = 'spec.strategy.canary';
    for (const part of [
      `${field}.trafficRouting.nginx.stableIngresses[0]: Ingress "missing" not found in namespace ${namespace}`,
      `${field}.trafficRouting.nginx.stableIngresses[1]: Ingress ${namespace}/elsewhere has no path (and no defaultBackend) sending to the stable Service "${app}-stable"`,
      `${field}.canaryService: Service "broken-canary" not found in namespace ${namespace}`,
      `${field}.steps[2].setMirrorRoute: ingress-nginx's canary annotations cannot copy requests to the canary`,
      `${field}.steps[1].setHeaderRoute.match: a canary Ingress matches one header (canary-by-header), not 2`,
      `${field}.trafficRouting.nginx.additionalIngressAnnotations["canary-weight"]: Siirto sets ${PREFIX}/canary-weight itself`,
    ]) {
      expect(status.message).toContain(part);
    }
    const none = await networking.listNamespacedIngress({
      namespace,
      labelSelector: 'siirto.dev/rollout=broken',
    });
    expect(none.items).toEqual([]);
  });
});
