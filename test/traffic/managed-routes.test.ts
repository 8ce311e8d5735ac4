import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { applyManagedRouteStep, removeManagedRoutes } from '../../activities/managed-routes';
import { createTrafficRouters, type RoutingTarget } from '../../activities/traffic-routers';
import type { HttpRoute } from '../../activities/traffic-routers/http-route';
import { withManagedRoute } from '../../activities/traffic-routers/http-route-managed-rules';
import { makeKubeClients } from '../../kubernetes/client';
import { startLoad } from '../../stack/load-generator';
import { ROLLOUT_GROUP, ROLLOUT_PLURAL, ROLLOUT_VERSION } from '../../schemas/rollout';
import { promoteUpdate } from '../../workflows/rollout-api';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { patchRolloutSpec, routeHost, sampleContainer } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';
import { sampledShareTolerance, splitSettledAt, startTraffic, type Split, type Traffic } from './traffic';

const app = 'storefront';
/**
 * As in traffic.test.ts: Traefik's weighted round robin blurs a window only at its edges, for a stream
 * that has its rule's round robin to itself.
 */
const SHARE_TOLERANCE = 0.03;
const WINDOW = 200;

interface Condition {
  type: string;
  status: string;
}

type RouteWithStatus = HttpRoute & {
  status?: { parents?: { controllerName: string; conditions: Condition[] }[] };
};

describe('managed header and mirror routes on a real HTTPRoute, through Traefik', () => {
  const scope = isolate('managed-routes');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);
  const { custom } = kubeClients();
  const routers = createTrafficRouters(makeKubeClients(kubeClients().config));
  const host = routeHost(namespace, app);
  const figures: Record<string, unknown> = {};
  const beta = { 'X-Canary': 'beta-tester' };
  let target: RoutingTarget;
  let plain: Traffic;
  let withHeader: Traffic;

  const readRoute = async () =>
    (await custom.getNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace,
      plural: 'httproutes',
      name: app,
    })) as RouteWithStatus;

  const rulesOf = async () => (await readRoute()).spec?.rules ?? [];

  async function splitAt(
    traffic: Traffic,
    expected: Record<string, number>,
    label: string,
    tolerance = SHARE_TOLERANCE,
  ): Promise<Split> {
    const split = await splitSettledAt(traffic, expected, { tolerance, window: WINDOW, settleWindow: 40 });
    figures[label] = split.shares;
    return split;
  }

  /** The header's requests while no rule of their own takes them: they share the round robin with the rest. */
  const headerSplitOnSharedRule = (expected: Record<string, number>, label: string) =>
    splitAt(withHeader, expected, label, sampledShareTolerance(expected, WINDOW));

  /** How long until every answer of a 20-request window came from `version`, after `since`. */
  async function msUntilAllFrom(traffic: Traffic, version: string, since: number): Promise<number> {
    await waitFor(`every answer to come from version ${version}`, async () => {
      const split = await traffic.measureSplit(20);
      return split.shares[version] === 1 && split.failures === 0;
    });
    return Date.now() - since;
  }

  const pausedAt = (step: number) =>
    scenario.waitForStatus(
      `r2 paused at step ${step}`,
      (status) => status.revision === 2 && status.phase === 'Paused' && status.currentStepIndex === step - 1,
    );

  const promote = async () => {
    const status = await scenario.see.rolloutStatus(app);
    await scenario.client.workflow
      .getHandle(status.workflowId ?? '')
      .executeUpdate(promoteUpdate, { args: [{ by: 'managed routes test' }] });
  };

  const headerStep = {
    setHeaderRoute: {
      name: 'beta',
      match: [{ headerName: 'X-Canary', headerValue: { exact: 'beta-tester' } }],
    },
  };

  beforeAll(async () => {
    await scenario.firstRevisionHealthy([]);
    const path = { group: ROLLOUT_GROUP, version: ROLLOUT_VERSION, plural: ROLLOUT_PLURAL };
    const rollout = (await custom.getNamespacedCustomObject({ ...path, namespace, name: app })) as {
      metadata: { uid: string };
    };
    target = {
      rollout: { namespace, name: app, uid: rollout.metadata.uid },
      trafficRouting: { gatewayAPI: { httpRoute: app } },
      stableService: `${app}-stable`,
      canaryService: `${app}-canary`,
    };
    await patchRolloutSpec(namespace, app, {
      template: { spec: { containers: [sampleContainer(`registry.example/${app}:2`)] } },
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: {} }] } },
    });
    await pausedAt(2);
    // Rates whose requests interleave unevenly (13 in every 200 ms), so neither load can fall in step
    // with the gateway's weighted round robin and take only one backend's turns.
    plain = startTraffic({ host, ratePerSecond: 40 });
    withHeader = startTraffic({ host, headers: beta, ratePerSecond: 25 });
  });

  afterAll(async () => {
    await Promise.all([plain?.stop(), withHeader?.stop()]);
    const directory = path.join(stack.projectDir, 'test-artifacts');
    mkdirSync(directory, { recursive: true });
    writeFileSync(
      path.join(directory, 'managed-routes-figures.json'),
      `${JSON.stringify(figures, null, 2)}\n`,
    );
  });

  it('sends requests with the header to the canary pods, and the rest by the weights, until it is removed', async () => {
    await headerSplitOnSharedRule({ '1': 0.8, '2': 0.2 }, 'headerRequestsBeforeRoute');
    const userRules = await rulesOf();

    const writtenAt = Date.now();
    await applyManagedRouteStep(routers, { ...target, step: headerStep });
    figures.headerRouteWriteMs = Date.now() - writtenAt;
    figures.headerRouteFollowedMs = await msUntilAllFrom(withHeader, '2', writtenAt);
    await splitAt(withHeader, { '2': 1 }, 'headerRequestsWithRoute');
    await splitAt(plain, { '1': 0.8, '2': 0.2 }, 'otherRequestsWithRoute');

    const rules = await rulesOf();
    expect(rules.map((rule) => rule.name)).toEqual(['siirto.beta', undefined]);
    // The header route's own weight is no weight of the split.
    const serving = routers.filter((router) => router.handles(target.trafficRouting));
    expect(await Promise.all(serving.map((router) => router.readWeights(target)))).toEqual([
      [{ object: `HTTPRoute ${namespace}/${app}`, weights: { stable: 80, canary: 20 } }],
    ]);
    expect(rules[0]?.backendRefs).toEqual([expect.objectContaining({ name: `${app}-canary`, weight: 1 })]);
    // Applying the step again changes nothing. The generation, not the resourceVersion: Traefik writes
    // the route's status whenever it takes up a change, at a moment of its own.
    const version = (await readRoute()).metadata.generation;
    await applyManagedRouteStep(routers, { ...target, step: headerStep });
    expect((await readRoute()).metadata.generation).toBe(version);

    // The rollout's own weight change leaves the header route as it is.
    await promote();
    await pausedAt(4);
    await splitAt(plain, { '1': 0.5, '2': 0.5 }, 'otherRequestsAt50');
    await splitAt(withHeader, { '2': 1 }, 'headerRequestsAt50');

    const removedAt = Date.now();
    await applyManagedRouteStep(routers, { ...target, step: { setHeaderRoute: { name: 'beta' } } });
    figures.headerRouteRemovalWriteMs = Date.now() - removedAt;
    await headerSplitOnSharedRule({ '1': 0.5, '2': 0.5 }, 'headerRequestsAfterRemoval');
    figures.headerRouteRemovalFollowedMs = Date.now() - removedAt;
    // Every rule as the user wrote it, the weights Siirto set since apart.
    const weightless = (rules: unknown) =>
      JSON.parse(JSON.stringify(rules).replace(/"weight":\d+/g, '"weight":0')) as unknown;
    expect(weightless(await rulesOf())).toEqual(weightless(userRules));
    expect(plain.responses().gatewayErrors + withHeader.responses().gatewayErrors).toBe(0);
  });

  it("refuses a mirror rule on Traefik's route, which Traefik would answer with errors, and takes every managed rule away at clean-up", async () => {
    const userRules = await rulesOf();
    await applyManagedRouteStep(routers, { ...target, step: headerStep });
    const shadow = { name: 'shadow', percentage: 25, match: [{ path: { prefix: '/orders' } }] };
    const before = (await readRoute()).metadata.generation;
    await expect(
      applyManagedRouteStep(routers, { ...target, step: { setMirrorRoute: shadow } }),
    ).rejects.toMatchObject({
      type: 'ManagedRouteInvalid',
      message: expect.stringContaining(
        `setMirrorRoute "shadow": HTTPRoute ${namespace}/${app} is attached to Gateway siirto-gateway/local`,
      ),
    });
    expect((await readRoute()).metadata.generation).toBe(before);
    // Why: the same rule written past the refusal, as the router would write it elsewhere.
    const route = await readRoute();
    await custom.replaceNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace,
      plural: 'httproutes',
      name: app,
      body: withManagedRoute(route, target, { kind: 'mirror', route: shadow }),
    });
    const rules = await rulesOf();
    expect(rules.map((rule) => rule.name)).toEqual(['siirto.beta', 'siirto.shadow', undefined]);
    const mirror = rules[1];
    expect(mirror?.matches).toEqual([
      expect.objectContaining({ path: { type: 'PathPrefix', value: '/orders' } }),
    ]);
    expect(mirror?.filters).toEqual([
      {
        type: 'RequestMirror',
        requestMirror: {
          backendRef: { group: '', kind: 'Service', name: `${app}-canary`, port: 80 },
          percent: 25,
        },
      },
    ]);
    expect(mirror?.backendRefs).toEqual(userRules[0]?.backendRefs);
    const generation = (await readRoute()).metadata.generation;
    const parent = await waitFor('Traefik to have seen the route with its mirror rule', async () => {
      const route = await readRoute();
      const status = route.status?.parents?.find(
        (candidate) => candidate.controllerName === 'traefik.io/gateway-controller',
      );
      const accepted = status?.conditions.find((condition) => condition.type === 'Accepted') as
        (Condition & { observedGeneration?: number }) | undefined;
      return accepted?.observedGeneration === generation && status;
    });
    figures.mirrorRouteConditions = parent.conditions;
    expect(parent.conditions).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'Accepted', status: 'True' })]),
    );
    // Traefik has no RequestMirror: what it answers for the requests the mirror rule matches.
    const mirrored = startLoad({ url: `${stack.gatewayUrl}/orders`, host, ratePerSecond: 20 });
    await waitFor(
      '20 answers to requests the mirror rule matches',
      () => mirrored.responses().answered >= 20,
    );
    await mirrored.stop();
    figures.mirrorRuleAnswersAtTraefik = mirrored.responses().byStatus;
    // (the first few may come before Traefik has taken up the rule)
    expect(mirrored.responses().byStatus['500'] ?? 0).toBeGreaterThan(0);
    await splitAt(plain, { '1': 0.5, '2': 0.5 }, 'otherRequestsWithMirrorRoute');

    await removeManagedRoutes(routers, target);
    expect(await rulesOf()).toEqual(userRules);
    // Idempotent: clean-up of a route without managed rules writes nothing.
    const version = (await readRoute()).metadata.generation;
    await removeManagedRoutes(routers, target);
    expect((await readRoute()).metadata.generation).toBe(version);
    await headerSplitOnSharedRule({ '1': 0.5, '2': 0.5 }, 'headerRequestsAfterCleanUp');
  });
});
