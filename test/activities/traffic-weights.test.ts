import { MockActivityEnvironment } from '@temporalio/testing';
import { createRolloutActivities } from '../../activities';
import type { RolloutRef } from '../../workflows/rollout-api';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { waitFor } from '../harness/wait';
import { activityKubeClients, failureOf } from './fixtures';

interface BackendRef {
  name: string;
  weight?: number;
  [field: string]: unknown;
}
interface Route {
  metadata: {
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    resourceVersion: string;
  };
  spec: { rules: { backendRefs?: BackendRef[]; [field: string]: unknown }[]; [field: string]: unknown };
}

/** A route as a platform team writes one: several rules, matches, filters, and a backend Siirto does not own. */
function shopRoute(namespace: string, name: string): string {
  return `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
  namespace: ${namespace}
  labels: { team: payments }
  annotations: { example.com/contact: payments-oncall }
spec:
  parentRefs: [{ name: public-gateway }]
  hostnames: [shop.example]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /admin } }]
      backendRefs: [{ name: admin, port: 8080 }]
    - matches: [{ headers: [{ name: x-beta, value: "1" }] }, { path: { type: PathPrefix, value: /beta } }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { add: [{ name: x-served-by, value: shop }] }
      backendRefs:
        - { name: shop-stable, port: 80, weight: 100 }
        - { name: shop-canary, port: 80, weight: 0 }
        - { name: shop-mirror, port: 80, weight: 5 }
    - backendRefs:
        - { name: shop-stable, port: 80 }
        - { name: shop-canary, port: 80, weight: 0, filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: x-canary, value: "true" }] } }] }
`;
}

describe('setting traffic weights on Gateway API HTTPRoutes', () => {
  const scope = isolate('activity-traffic');
  // Run as the worker runs it, in an activity's context.
  const environment = new MockActivityEnvironment();
  const { setTrafficWeights } = createRolloutActivities(activityKubeClients());
  const activities = {
    setTrafficWeights: (input: Parameters<typeof setTrafficWeights>[0]) =>
      environment.run(setTrafficWeights, input),
  };
  const { apps, custom } = kubeClients();
  // The activity needs no Rollout object: only the ref for messages, and the routing it is given.
  const rollout = (): RolloutRef => ({ namespace: scope.namespace, name: 'shop', uid: 'uid-of-shop' });
  const routePath = (name: string) => ({
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    plural: 'httproutes',
    namespace: scope.namespace,
    name,
  });
  const readRoute = async (name: string) =>
    (await custom.getNamespacedCustomObject(routePath(name))) as Route;
  const weightsOf = (route: Route) =>
    route.spec.rules.map((rule) => rule.backendRefs?.map((ref) => `${ref.name}=${ref.weight}`));

  it('sets exactly the stable and canary weights and keeps every other rule, match, filter and backend', async () => {
    await runOrThrow('kubectl', ['apply', '-f', '-'], shopRoute(scope.namespace, 'shop'));
    const before = await readRoute('shop');

    await activities.setTrafficWeights({
      rollout: rollout(),
      trafficRouting: { gatewayAPI: { httpRoute: 'shop' } },
      stableService: 'shop-stable',
      canaryService: 'shop-canary',
      weights: { stable: 80, canary: 20 },
    });

    const after = await readRoute('shop');
    expect(weightsOf(after)).toEqual([
      ['admin=1'],
      ['shop-stable=80', 'shop-canary=20', 'shop-mirror=5'],
      ['shop-stable=80', 'shop-canary=20'],
    ]);
    // Everything but those four weights is as it was.
    const expected = structuredClone(before);
    for (const rule of expected.spec.rules.slice(1)) {
      for (const ref of rule.backendRefs ?? []) {
        if (ref.name === 'shop-stable') ref.weight = 80;
        if (ref.name === 'shop-canary') ref.weight = 20;
      }
    }
    expect(after.spec).toEqual(expected.spec);
    expect(after.metadata.annotations).toEqual(before.metadata.annotations);
    expect(after.metadata.labels).toEqual({ team: 'payments' });
  });

  it('leaves a route whose weights already match untouched, with the same resourceVersion', async () => {
    await runOrThrow('kubectl', ['apply', '-f', '-'], shopRoute(scope.namespace, 'steady'));
    const change = {
      rollout: rollout(),
      trafficRouting: { gatewayAPI: { httpRoutes: [{ name: 'steady' }] } },
      stableService: 'shop-stable',
      canaryService: 'shop-canary',
      weights: { stable: 50, canary: 50 },
    };
    await activities.setTrafficWeights(change);
    const first = await readRoute('steady');

    await activities.setTrafficWeights(change);

    expect((await readRoute('steady')).metadata.resourceVersion).toBe(first.metadata.resourceVersion);
  });

  it('sets every route the Rollout names to the same weights', async () => {
    await runOrThrow('kubectl', ['apply', '-f', '-'], shopRoute(scope.namespace, 'public'));
    await runOrThrow('kubectl', ['apply', '-f', '-'], shopRoute(scope.namespace, 'internal'));

    await activities.setTrafficWeights({
      rollout: rollout(),
      trafficRouting: { gatewayAPI: { httpRoutes: [{ name: 'public' }, { name: 'internal' }] } },
      stableService: 'shop-stable',
      canaryService: 'shop-canary',
      weights: { stable: 0, canary: 100 },
    });

    for (const name of ['public', 'internal']) {
      expect(weightsOf(await readRoute(name))[2]).toEqual(['shop-stable=0', 'shop-canary=100']);
    }
  });

  it('does not lose edits others make to the route at the same time', async () => {
    await runOrThrow('kubectl', ['apply', '-f', '-'], shopRoute(scope.namespace, 'busy'));
    const annotate = (index: number) =>
      runOrThrow('kubectl', [
        'annotate',
        'httproute',
        'busy',
        '-n',
        scope.namespace,
        `example.com/edit-${index}=done`,
      ]);

    // The rollout sets weights one step after another while people edit the route; four edits can
    // beat a write at most four times, within its retries.
    const steps = async () => {
      for (const canary of [10, 20, 30, 40]) {
        await activities.setTrafficWeights({
          rollout: rollout(),
          trafficRouting: { gatewayAPI: { httpRoute: 'busy' } },
          stableService: 'shop-stable',
          canaryService: 'shop-canary',
          weights: { stable: 100 - canary, canary },
        });
      }
    };
    await Promise.all([steps(), ...[1, 2, 3, 4].map(annotate)]);

    const route = await readRoute('busy');
    for (const index of [1, 2, 3, 4])
      expect(route.metadata.annotations?.[`example.com/edit-${index}`]).toBe('done');
    expect(weightsOf(route)[1]).toEqual(['shop-stable=60', 'shop-canary=40', 'shop-mirror=5']);
  });

  it('moves the weights only once the canary has the pods available that they ask for', async () => {
    await runOrThrow('kubectl', ['apply', '-f', '-'], shopRoute(scope.namespace, 'guarded'));
    const before = await readRoute('guarded');
    const change = {
      rollout: rollout(),
      trafficRouting: { gatewayAPI: { httpRoute: 'guarded' } },
      stableService: 'shop-stable',
      canaryService: 'shop-canary',
      weights: { stable: 70, canary: 30 },
      availableCanary: { templateHash: 'c4n4ry', replicas: 1 },
    };

    const refused = await failureOf(activities.setTrafficWeights(change));
    expect(refused.type).toBe('CanaryNotAvailable');
    expect(refused.nonRetryable).toBe(true);
    expect(refused.message).toBe(
      `ReplicaSet ${scope.namespace}/shop-c4n4ry has 0 of the 1 available pods weight 30% needs; ` +
        'the weights stay as they are until it has them',
    );
    expect((await readRoute('guarded')).metadata.resourceVersion).toBe(before.metadata.resourceVersion);

    const labels = { app: 'shop', 'pod-template-hash': 'c4n4ry' };
    await apps.createNamespacedReplicaSet({
      namespace: scope.namespace,
      body: {
        metadata: { name: 'shop-c4n4ry', labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'app', image: 'registry.example/shop:2' }] },
          },
        },
      },
    });
    await waitFor('the canary pod to be available', async () => {
      const replicaSet = await apps.readNamespacedReplicaSet({
        namespace: scope.namespace,
        name: 'shop-c4n4ry',
      });
      return replicaSet.status?.availableReplicas === 1;
    });
    await activities.setTrafficWeights(change);
    expect(weightsOf(await readRoute('guarded'))[2]).toEqual(['shop-stable=70', 'shop-canary=30']);
  });

  it('fails non-retryably, naming the route and the fix, when the route does not exist', async () => {
    const failure = await failureOf(
      activities.setTrafficWeights({
        rollout: rollout(),
        trafficRouting: { gatewayAPI: { httpRoute: 'no-such-route' } },
        stableService: 'shop-stable',
        canaryService: 'shop-canary',
        weights: { stable: 90, canary: 10 },
      }),
    );

    expect(failure.type).toBe('TrafficRouteMissing');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(`HTTPRoute ${scope.namespace}/no-such-route`);
    expect(failure.message).toContain(`Rollout ${scope.namespace}/shop`);
    expect(failure.message).toContain('create it with backendRefs to Services shop-stable and shop-canary');
  });

  it('fails non-retryably, naming the rule and the Service, when a rule lacks the canary backendRef', async () => {
    await runOrThrow(
      'kubectl',
      ['apply', '-f', '-'],
      `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: stable-only, namespace: ${scope.namespace} }
spec:
  rules:
    - backendRefs: [{ name: shop-stable, port: 80 }]
`,
    );
    const before = await readRoute('stable-only');

    const failure = await failureOf(
      activities.setTrafficWeights({
        rollout: rollout(),
        trafficRouting: { gatewayAPI: { httpRoute: 'stable-only' } },
        stableService: 'shop-stable',
        canaryService: 'shop-canary',
        weights: { stable: 90, canary: 10 },
      }),
    );

    expect(failure.type).toBe('TrafficRouteMisconfigured');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(`spec.rules[0] of HTTPRoute ${scope.namespace}/stable-only`);
    expect(failure.message).toContain('no backendRef to Service shop-canary');
    expect(failure.message).toContain('add {name: shop-canary, port: <its port>, weight: 0}');
    expect((await readRoute('stable-only')).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });
});
