import { loadAllYaml } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { HttpRoute } from '../../activities/traffic-routers/http-route';
import { httpRouteProblems } from '../../activities/traffic-routers/http-route-validation';
import {
  checkRollout,
  lookUpClusterFacts,
  parseRollout,
  rolloutAnalyses,
  type ClusterFacts,
} from '../../k8s-bridge/rollout-validation';
import { trafficServices } from '../../k8s-bridge/blue-green-validation';
import type { Rollout } from '../../schemas/rollout';
import { blueGreenRolloutManifest } from '../harness/blue-green-fixtures';

const everythingExists: ClusterFacts = {
  existingServices: new Set(['checkout-active', 'checkout-preview']),
  routingProblems: [],
  analysisTemplates: new Map(),
  templateProblems: [],
};

/** The blue-green Rollout of the test harness with `blueGreen` fields over its own, parsed as the bridge does. */
function parsed(blueGreen: Record<string, unknown> = {}, withoutRoute = false): Rollout {
  const manifest = JSON.parse(
    blueGreenRolloutManifest({ namespace: 'shop', app: 'checkout', blueGreen, withoutRoute }),
  ) as unknown;
  const result = parseRollout(manifest);
  if (!result.rollout) throw new Error(`fixture does not parse: ${result.problems.join('; ')}`);
  return result.rollout;
}

const problemsOf = (rollout: Rollout, facts: ClusterFacts = everythingExists) => checkRollout(rollout, facts);

describe('blue-green Rollout validation', () => {
  it('accepts a blue-green Rollout whose Services and route are in order', () => {
    expect(problemsOf(parsed())).toEqual([]);
  });

  it('accepts one with an active Service alone, switched by its selector', () => {
    const rollout = parsed({ previewService: undefined }, true);
    expect(problemsOf(rollout)).toEqual([]);
  });

  it('names each missing Service with its field', () => {
    expect(problemsOf(parsed(), { ...everythingExists, existingServices: new Set() })).toEqual([
      'spec.strategy.blueGreen.activeService: Service "checkout-active" not found in namespace shop; create it, or name an existing Service',
      'spec.strategy.blueGreen.previewService: Service "checkout-preview" not found in namespace shop; create it, or name an existing Service',
    ]);
  });

  it('refuses one Service as both active and preview', () => {
    expect(problemsOf(parsed({ previewService: 'checkout-active' }), everythingExists)).toContain(
      'spec.strategy.blueGreen.previewService: "checkout-active" is also the activeService; give the new revision ' +
        'a Service of its own, or leave previewService out',
    );
  });

  it('refuses a route without a preview Service to move the weights to', () => {
    expect(problemsOf(parsed({ previewService: undefined }))).toEqual([
      expect.stringMatching(
        /^spec\.strategy\.blueGreen\.trafficRouting: a route switches between the active and the preview Service/,
      ),
    ]);
  });

  it('refuses autoPromotionSeconds with autoPromotionEnabled false, which contradict each other', () => {
    expect(problemsOf(parsed({ autoPromotionEnabled: false, autoPromotionSeconds: 60 }))).toEqual([
      'spec.strategy.blueGreen.autoPromotionSeconds: 60 promotes on its own, but autoPromotionEnabled is false, ' +
        'which waits for a promote; remove one of the two',
    ]);
  });

  it("has its route checked by the traffic router, in the blue-green fields' and Services' names", () => {
    const services = trafficServices(parsed())!;
    const target = {
      rollout: { namespace: 'shop', name: 'checkout', uid: 'uid-1' },
      trafficRouting: services.trafficRouting!,
      stableService: services.stableService!,
      canaryService: services.canaryService!,
      field: services.field,
      roles: services.roles,
    };
    const route = (rules: NonNullable<HttpRoute['spec']>['rules']): HttpRoute => ({
      metadata: { name: 'checkout', namespace: 'shop' },
      spec: { rules },
    });
    expect(httpRouteProblems(target, new Map())).toEqual([
      expect.stringMatching(
        /^spec\.strategy\.blueGreen\.trafficRouting\.gatewayAPI\.httpRoute: HTTPRoute "checkout" not found in namespace shop/,
      ),
    ]);
    const onlyActive = route([{ backendRefs: [{ name: 'checkout-active', port: 80 }] }]);
    expect(httpRouteProblems(target, new Map([['checkout', onlyActive]]))).toEqual([
      expect.stringMatching(
        /has no backendRef for the preview Service "checkout-preview"; add one .* beside the active Service's backendRef/,
      ),
    ]);
    const apart = route([
      { backendRefs: [{ name: 'checkout-active', port: 80 }] },
      { backendRefs: [{ name: 'checkout-preview', port: 80 }] },
    ]);
    expect(httpRouteProblems(target, new Map([['checkout', apart]]))).toEqual([
      expect.stringMatching(
        /^spec\.strategy\.blueGreen\.trafficRouting\.gatewayAPI\.httpRoute: spec\.rules\[0\] of HTTPRoute shop\/checkout/,
      ),
    ]);
    expect(
      problemsOf(parsed(), { ...everythingExists, routingProblems: ['a problem the router found'] }),
    ).toEqual(['a problem the router found']);
  });

  it('checks the pre- and post-promotion analyses as the worker will resolve them', () => {
    const rollout = parsed({
      prePromotionAnalysis: { builtIn: { errorRate: { max: 0.05 }, window: 'a minute' } },
      postPromotionAnalysis: { builtIn: { errorRate: { max: 0.05 } } },
    });
    expect(rolloutAnalyses(rollout).map(({ field }) => field)).toEqual([
      'spec.strategy.blueGreen.prePromotionAnalysis',
      'spec.strategy.blueGreen.postPromotionAnalysis',
    ]);
    expect(problemsOf(rollout)).toEqual([
      'spec.strategy.blueGreen.prePromotionAnalysis.builtIn.window is "a minute", not a duration of at least 1s: write it like 30s, 1m or 5m',
    ]);
  });

  it('accepts the example in examples/blue-green with its own Services and route', () => {
    const read = (file: string) =>
      loadAllYaml(readFileSync(path.join(__dirname, '../../examples/blue-green', file), 'utf8')) as {
        kind: string;
        metadata: { name: string };
        spec?: { rules?: unknown[] };
      }[];
    const app = read('app.yaml');
    const [manifest] = read('rollout.yaml');
    const result = parseRollout(manifest);
    expect(result.problems).toEqual([]);
    const route = app.find((object) => object.kind === 'HTTPRoute') as unknown as HttpRoute;
    const services = trafficServices(result.rollout!)!;
    const routeProblems = httpRouteProblems(
      {
        rollout: { namespace: 'store', name: 'checkout', uid: 'uid-1' },
        trafficRouting: services.trafficRouting!,
        stableService: services.stableService!,
        canaryService: services.canaryService!,
        field: services.field,
        roles: services.roles,
      },
      new Map([[route.metadata.name, route]]),
    );
    expect(routeProblems).toEqual([]);
    const facts: ClusterFacts = {
      ...everythingExists,
      existingServices: new Set(
        app.filter((object) => object.kind === 'Service').map((s) => s.metadata.name),
      ),
    };
    expect(problemsOf(result.rollout!, facts)).toEqual([]);
  });

  it('looks up the active and preview Services and the route between them', async () => {
    const asked: string[] = [];
    const clients = {
      core: {
        readNamespacedService: ({ name }: { name: string }) => {
          asked.push(`Service ${name}`);
          return Promise.resolve({});
        },
      },
      custom: {
        getNamespacedCustomObject: ({ name }: { name: string }) => {
          asked.push(`HTTPRoute ${name}`);
          return Promise.resolve({
            metadata: { name, namespace: 'shop' },
            spec: { rules: [{ backendRefs: [{ name: 'checkout-active' }, { name: 'checkout-preview' }] }] },
          });
        },
      },
    } as unknown as Parameters<typeof lookUpClusterFacts>[0];
    const facts = await lookUpClusterFacts(clients, parsed());
    expect(asked.sort()).toEqual([
      'HTTPRoute checkout',
      'Service checkout-active',
      'Service checkout-preview',
    ]);
    expect(problemsOf(parsed(), facts)).toEqual([]);
  });
});
