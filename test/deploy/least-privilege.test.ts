import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PROMOTE_ANNOTATION } from '../../kubernetes/labels';
import { run } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { observer } from '../harness/observe';
import {
  annotateRollout,
  kubectlApply,
  rolloutManifest,
  serviceManifest,
  servicesAndRoute,
  setImage,
} from '../harness/rollout-fixtures';
import { SiirtoProcess, siirtoBridge, siirtoWorker } from '../harness/siirto-processes';
import { waitFor } from '../harness/wait';
import { canI as canIAs } from './can-i';
import { kustomizeIntoNamespace } from './kustomize-into-namespace';
import { serviceAccountKubeconfig } from './service-account-kubeconfig';

const app = 'checkout';

describe('Siirto running as its deploy/ service accounts', () => {
  const scope = isolate('deploy-rbac');
  const { namespace } = scope;
  // Another team's namespace, with an HTTPRoute a Rollout here must not be able to reach.
  const { namespace: otherNamespace } = isolate('deploy-rbac-other');
  const see = observer(namespace);
  const seeOther = observer(otherNamespace);
  const { custom } = kubeClients();
  // ClusterRoles are cluster-wide: a suffix of this run's own keeps them apart from siirto-system's.
  const nameSuffix = `-${randomBytes(3).toString('hex')}`;
  const bridgeAccount = `siirto-bridge${nameSuffix}`;
  const workerAccount = `siirto-worker${nameSuffix}`;
  const kubeconfigDirectory = mkdtempSync(path.join(tmpdir(), 'siirto-accounts-'));
  let rbac = '';
  let worker: SiirtoProcess;
  let bridge: SiirtoProcess;

  beforeAll(async () => {
    rbac = await kustomizeIntoNamespace('deploy/base/rbac', { namespace, nameSuffix });
    await kubectlApply(rbac);
    // The API server's authorizer learns of new bindings from a watch: wait until it applies them.
    await waitFor('the new ClusterRoleBindings to take effect', async () => {
      const answers = await Promise.all([
        canI(bridgeAccount, 'watch', 'rollouts.siirto.dev'),
        canI(workerAccount, 'update', 'httproutes.gateway.networking.k8s.io'),
      ]);
      return answers.every((answer) => answer === 'yes');
    });
    await kubectlApply(servicesAndRoute(namespace, app));
    const [bridgeKubeconfig, workerKubeconfig] = await Promise.all([
      serviceAccountKubeconfig(namespace, bridgeAccount, kubeconfigDirectory),
      serviceAccountKubeconfig(namespace, workerAccount, kubeconfigDirectory),
    ]);
    worker = siirtoWorker(scope, 'worker-as-service-account', { KUBECONFIG: workerKubeconfig });
    bridge = siirtoBridge(scope, 'bridge-as-service-account', { KUBECONFIG: bridgeKubeconfig });
    await Promise.all([worker.start(), bridge.start()]);
  });

  afterAll(async () => {
    await Promise.all([worker?.stop(), bridge?.stop()]);
    if (rbac) await run('kubectl', ['delete', '--ignore-not-found', '--wait=false', '-f', '-'], rbac);
    rmSync(kubeconfigDirectory, { recursive: true, force: true });
  });

  const canI = (account: string, verb: string, resource: string, inNamespace = namespace) =>
    canIAs(namespace, account, verb, resource, inNamespace);

  it('grants each account only what its code calls: no Secrets, no deleting Rollouts or routes', async () => {
    const checks: [string, string, string][] = [
      [workerAccount, 'update', 'httproutes.gateway.networking.k8s.io'],
      [workerAccount, 'delete', 'replicasets.apps'],
      [workerAccount, 'patch', 'services'],
      [workerAccount, 'get', 'secrets'],
      [workerAccount, 'list', 'secrets'],
      [workerAccount, 'delete', 'services'],
      [workerAccount, 'create', 'services'],
      [workerAccount, 'delete', 'httproutes.gateway.networking.k8s.io'],
      [workerAccount, 'patch', 'rollouts.siirto.dev'],
      [workerAccount, 'delete', 'rollouts.siirto.dev'],
      [workerAccount, 'create', 'pods'],
      [workerAccount, 'patch', 'pods'],
      [workerAccount, 'delete', 'pods'],
      [workerAccount, 'watch', 'endpointslices.discovery.k8s.io'],
      [workerAccount, 'update', 'endpointslices.discovery.k8s.io'],
      [workerAccount, 'patch', 'deployments.apps'],
      [bridgeAccount, 'watch', 'rollouts.siirto.dev'],
      [bridgeAccount, 'patch', 'rollouts.siirto.dev'],
      [bridgeAccount, 'get', 'secrets'],
      [bridgeAccount, 'patch', 'services'],
      [bridgeAccount, 'update', 'httproutes.gateway.networking.k8s.io'],
      [bridgeAccount, 'create', 'replicasets.apps'],
      [bridgeAccount, 'patch', 'replicasets.apps'],
      [bridgeAccount, 'delete', 'replicasets.apps'],
      [bridgeAccount, 'delete', 'rollouts.siirto.dev'],
      [workerAccount, 'create', 'ingresses.networking.k8s.io'],
      [workerAccount, 'delete', 'ingresses.networking.k8s.io'],
      [workerAccount, 'patch', 'ingresses.networking.k8s.io'],
      [bridgeAccount, 'get', 'ingresses.networking.k8s.io'],
      [bridgeAccount, 'update', 'ingresses.networking.k8s.io'],
    ];
    const answers = Object.fromEntries(
      await Promise.all(
        checks.map(async ([account, verb, resource]) => [
          `${account.replace(nameSuffix, '')} ${verb} ${resource}`,
          await canI(account, verb, resource),
        ]),
      ),
    );
    expect(answers).toEqual({
      'siirto-worker update httproutes.gateway.networking.k8s.io': 'yes',
      'siirto-worker delete replicasets.apps': 'yes',
      'siirto-worker patch services': 'yes',
      'siirto-worker get secrets': 'no',
      'siirto-worker list secrets': 'no',
      // A judge's baseline Service, created and deleted by the worker.
      'siirto-worker delete services': 'yes',
      'siirto-worker create services': 'yes',
      'siirto-worker delete httproutes.gateway.networking.k8s.io': 'no',
      'siirto-worker patch rollouts.siirto.dev': 'no',
      'siirto-worker delete rollouts.siirto.dev': 'no',
      'siirto-worker create pods': 'no',
      'siirto-worker patch pods': 'yes',
      'siirto-worker delete pods': 'no',
      'siirto-worker watch endpointslices.discovery.k8s.io': 'yes',
      'siirto-worker update endpointslices.discovery.k8s.io': 'no',
      'siirto-worker patch deployments.apps': 'no',
      'siirto-bridge watch rollouts.siirto.dev': 'yes',
      'siirto-bridge patch rollouts.siirto.dev': 'yes',
      'siirto-bridge get secrets': 'no',
      'siirto-bridge patch services': 'no',
      'siirto-bridge update httproutes.gateway.networking.k8s.io': 'no',
      'siirto-bridge create replicasets.apps': 'no',
      'siirto-bridge patch replicasets.apps': 'yes',
      'siirto-bridge delete replicasets.apps': 'no',
      'siirto-bridge delete rollouts.siirto.dev': 'no',
      'siirto-worker create ingresses.networking.k8s.io': 'yes',
      'siirto-worker delete ingresses.networking.k8s.io': 'yes',
      'siirto-worker patch ingresses.networking.k8s.io': 'no',
      'siirto-bridge get ingresses.networking.k8s.io': 'yes',
      'siirto-bridge update ingresses.networking.k8s.io': 'no',
    });
  });

  it('is enough for a whole canary: first revision Healthy, then 50% → pause → promoted to Healthy', async () => {
    await kubectlApply(
      rolloutManifest({
        namespace,
        app,
        steps: [{ setWeight: 50 }, { pause: {} }],
        image: `registry.example/${app}:1`,
      }),
    );
    const first = await waitFor('r1 to become Healthy', async () => {
      const current = await see.rolloutStatus(app);
      return current.phase === 'Healthy' && current.revision === 1 && current;
    });
    expect(await see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    expect(await see.readyPods(first.stableTemplateHash!)).toBe(3);

    await setImage(namespace, app, `registry.example/${app}:2`);
    const paused = await waitFor('r2 to wait for promotion at 50%', async () => {
      const current = await see.rolloutStatus(app);
      return (
        current.revision === 2 && current.phase === 'Paused' && current.currentStepIndex === 1 && current
      );
    });
    expect(await see.routeWeights(app)).toEqual({ [`${app}-stable`]: 50, [`${app}-canary`]: 50 });
    expect(await see.readyPods(paused.currentTemplateHash!)).toBe(2);

    // Through the bridge, so that removing the annotation is done with the bridge's own rights too.
    await annotateRollout(namespace, app, `${PROMOTE_ANNOTATION}=true`);
    const healthy = await waitFor('r2 to become Healthy', async () => {
      const current = await see.rolloutStatus(app);
      return current.revision === 2 && current.phase === 'Healthy' && current;
    });
    expect(healthy.stableTemplateHash).toBe(paused.currentTemplateHash);
    expect(await see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    expect(await see.readyPods(healthy.stableTemplateHash!)).toBe(3);
    await waitFor('the old stable ReplicaSet to scale to 0 and be kept or pruned', async () => {
      const old = (await see.replicaSets(app)).find(
        (replicaSet) => replicaSet.hash === first.stableTemplateHash,
      );
      return old === undefined || old.replicas === 0;
    });
    await waitFor('the bridge to remove the delivered promote annotation', async () => {
      const rollout = (await custom.getNamespacedCustomObject({
        group: 'siirto.dev',
        version: 'v1alpha1',
        namespace,
        plural: 'rollouts',
        name: app,
      })) as { metadata: { annotations?: Record<string, string> } };
      return !(PROMOTE_ANNOTATION in (rollout.metadata.annotations ?? {}));
    });
    // A refused call the processes retry past would not fail a step, but it would show in their logs.
    for (const process of [worker, bridge]) expect(process.logText()).not.toMatch(/forbidden/i);
  });

  it('is enough for an nginx canary: the canary Ingress made at 50% beside the stable Ingress, then deleted on promotion', async () => {
    const shop = 'ingress-shop';
    const canaryIngress = `${shop}-web-canary`;
    const service = (name: string) => serviceManifest(namespace, name, shop);
    await kubectlApply(
      [
        service(`${shop}-stable`),
        service(`${shop}-canary`),
        JSON.stringify({
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name: 'web', namespace },
          spec: {
            ingressClassName: 'nginx',
            rules: [
              {
                host: `${shop}.${namespace}.nginx.example`,
                http: {
                  paths: [
                    {
                      path: '/',
                      pathType: 'Prefix',
                      backend: { service: { name: `${shop}-stable`, port: { number: 80 } } },
                    },
                  ],
                },
              },
            ],
          },
        }),
        rolloutManifest({
          namespace,
          app: shop,
          steps: [{ setWeight: 50 }, { pause: {} }],
          canary: { trafficRouting: { nginx: { stableIngress: 'web' } } },
        }),
      ].join('\n---\n'),
    );
    await waitFor('the nginx Rollout r1 to become Healthy', async () => {
      const current = await see.rolloutStatus(shop);
      return current.phase === 'Healthy' && current.revision === 1;
    });
    await setImage(namespace, shop, `registry.example/${shop}:2`);
    await waitFor('the nginx Rollout r2 to pause at 50%', async () => {
      const current = await see.rolloutStatus(shop);
      return current.revision === 2 && current.phase === 'Paused' && current.currentStepIndex === 1;
    });
    const { networking } = kubeClients();
    const canary = await networking.readNamespacedIngress({ name: canaryIngress, namespace });
    expect(canary.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight']).toBe('50');
    await annotateRollout(namespace, shop, `${PROMOTE_ANNOTATION}=true`);
    await waitFor('the nginx Rollout r2 to become Healthy', async () => {
      const current = await see.rolloutStatus(shop);
      return current.revision === 2 && current.phase === 'Healthy';
    });
    const left = await networking.listNamespacedIngress({ namespace });
    expect(left.items.map((ingress) => ingress.metadata?.name)).toEqual(['web']);
    for (const process of [worker, bridge]) expect(process.logText()).not.toMatch(/forbidden/i);
  });

  it('cannot reach an HTTPRoute in another namespace: a Rollout naming one goes Invalid and the route is untouched', async () => {
    // The worker may update HTTPRoutes anywhere (a cluster-wide ClusterRoleBinding, as designed):
    // what keeps a Rollout inside its namespace is that it can only name routes, never namespaces.
    expect(await canI(workerAccount, 'update', 'httproutes.gateway.networking.k8s.io', otherNamespace)).toBe(
      'yes',
    );

    const ledger = 'ledger';
    await kubectlApply(servicesAndRoute(otherNamespace, ledger));
    // The Services exist here too, so the only thing missing is the route in the Rollout's namespace.
    await kubectlApply(
      servicesAndRoute(namespace, ledger)
        .split('\n---\n')
        .filter((object) => !object.includes('kind: HTTPRoute'))
        .join('\n---\n'),
    );
    const readRoute = async () =>
      (await custom.getNamespacedCustomObject({
        group: 'gateway.networking.k8s.io',
        version: 'v1',
        namespace: otherNamespace,
        plural: 'httproutes',
        name: ledger,
      })) as { metadata: { resourceVersion: string } };
    const before = await readRoute();

    await kubectlApply(
      rolloutManifest({ namespace, app: ledger, steps: [{ setWeight: 50 }, { pause: {} }] }),
    );
    const invalid = await waitFor(
      'the Rollout naming a route of another namespace to go Invalid',
      async () => {
        const current = await see.rolloutStatus(ledger);
        return current.phase === 'Invalid' && current;
      },
    );
    expect(invalid.message).toContain(`HTTPRoute "${ledger}" not found in namespace ${namespace}`);
    expect(await seeOther.routeWeights(ledger)).toEqual({
      [`${ledger}-stable`]: 100,
      [`${ledger}-canary`]: 0,
    });
    expect((await readRoute()).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(await see.replicaSets(ledger)).toEqual([]);
  });
});

describe('Siirto confined to one namespace with deploy/components/one-namespace', () => {
  const scope = isolate('deploy-one-namespace');
  const { namespace } = scope;
  const { namespace: otherNamespace } = isolate('deploy-one-namespace-other');
  const nameSuffix = `-${randomBytes(3).toString('hex')}`;
  const worker = `system:serviceaccount:${namespace}:siirto-worker${nameSuffix}`;
  const bridge = `system:serviceaccount:${namespace}:siirto-bridge${nameSuffix}`;
  let rbac = '';

  const canI = async (user: string, verb: string, resource: string, inNamespace?: string) =>
    (
      await run('kubectl', [
        'auth',
        'can-i',
        verb,
        resource,
        ...(inNamespace ? ['-n', inNamespace] : []),
        `--as=${user}`,
      ])
    ).stdout.trim();

  beforeAll(async () => {
    rbac = await kustomizeIntoNamespace('deploy/base/rbac', {
      namespace,
      nameSuffix,
      components: ['deploy/components/one-namespace'],
    });
    await kubectlApply(rbac);
    await waitFor('the RoleBindings to take effect', async () => {
      return (await canI(worker, 'update', 'httproutes.gateway.networking.k8s.io', namespace)) === 'yes';
    });
    await kubectlApply(servicesAndRoute(otherNamespace, app));
  });

  afterAll(async () => {
    if (rbac) await run('kubectl', ['delete', '--ignore-not-found', '--wait=false', '-f', '-'], rbac);
  });

  it("grants the roles in the Rollouts' namespace and nothing in any other", async () => {
    const checks: [string, string, string, string | undefined][] = [
      [worker, 'update', 'httproutes.gateway.networking.k8s.io', namespace],
      [worker, 'update', 'httproutes.gateway.networking.k8s.io', otherNamespace],
      [worker, 'create', 'replicasets.apps', otherNamespace],
      [worker, 'patch', 'services', otherNamespace],
      [worker, 'get', 'clusteranalysistemplates.siirto.dev', undefined],
      [bridge, 'watch', 'rollouts.siirto.dev', namespace],
      [bridge, 'watch', 'rollouts.siirto.dev', otherNamespace],
    ];
    const answers = await Promise.all(
      checks.map(([user, verb, resource, where]) => canI(user, verb, resource, where)),
    );
    expect(answers).toEqual(['yes', 'no', 'no', 'no', 'yes', 'yes', 'no']);
  });

  it("refuses the worker's write to another namespace's HTTPRoute at the apiserver", async () => {
    const attempt = await run('kubectl', [
      'patch',
      'httproute',
      app,
      '-n',
      otherNamespace,
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/spec/rules/0/backendRefs/1/weight","value":50}]',
      `--as=${worker}`,
    ]);
    expect(attempt.code).not.toBe(0);
    expect(attempt.stderr).toMatch(/forbidden/i);
    expect(await observer(otherNamespace).routeWeights(app)).toEqual({
      [`${app}-stable`]: 100,
      [`${app}-canary`]: 0,
    });
  });
});
