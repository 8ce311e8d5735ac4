import type { HttpRoute } from '../../activities/traffic-routers/http-route';
import { httpRouteProblems } from '../../activities/traffic-routers/http-route-validation';
import type { RoutingTarget } from '../../activities/traffic-routers/traffic-router';

const target: RoutingTarget = {
  rollout: { namespace: 'shop', name: 'checkout', uid: 'uid-1' },
  trafficRouting: { gatewayAPI: { httpRoute: 'checkout' } },
  stableService: 'checkout-stable',
  canaryService: 'checkout-canary',
};

function route(rules: NonNullable<HttpRoute['spec']>['rules'], name = 'checkout'): HttpRoute {
  return { metadata: { name, namespace: 'shop' }, spec: { rules } };
}

const splitRule = {
  backendRefs: [
    { name: 'checkout-stable', port: 80, weight: 100 },
    { name: 'checkout-canary', port: 80, weight: 0 },
  ],
};

const problemsOf = (routes: HttpRoute[], routing = target) =>
  httpRouteProblems(routing, new Map(routes.map((each) => [each.metadata.name, each])));

describe('Gateway API router: checking the HTTPRoutes a Rollout names', () => {
  it('finds nothing wrong with a route that has a rule sending to both Services', () => {
    expect(problemsOf([route([splitRule])])).toEqual([]);
  });

  it('names a missing HTTPRoute, the field naming it and how to fix it', () => {
    expect(problemsOf([])).toEqual([
      'spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute: HTTPRoute "checkout" not found in namespace shop; ' +
        'create it (gateway.networking.k8s.io/v1), or name an existing HTTPRoute',
    ]);
  });

  it('names the Service a route has no backendRef for', () => {
    expect(problemsOf([route([{ backendRefs: [{ name: 'checkout-stable', port: 80 }] }])])).toEqual([
      'spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute: HTTPRoute "checkout" has no backendRef for the ' +
        'canary Service "checkout-canary"; add one to the rule that carries the traffic, beside the stable ' +
        "Service's backendRef",
    ]);
  });

  it('names a route whose rules send to the stable and the canary Service apart', () => {
    const apart = route([
      { backendRefs: [{ name: 'checkout-stable', port: 80 }] },
      { backendRefs: [{ name: 'checkout-canary', port: 80 }] },
    ]);
    expect(problemsOf([apart])).toEqual([
      'spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute: spec.rules[0] of HTTPRoute shop/checkout sends ' +
        'traffic to Service checkout-stable but has no backendRef to Service checkout-canary, so Siirto cannot ' +
        "split it; add {name: checkout-canary, port: <its port>, weight: 0} to that rule's backendRefs",
    ]);
  });

  it('points at the entry of httpRoutes that is missing', () => {
    const routing = {
      ...target,
      trafficRouting: { gatewayAPI: { httpRoutes: [{ name: 'checkout' }, { name: 'checkout-internal' }] } },
    };
    expect(problemsOf([route([splitRule])], routing)).toEqual([
      expect.stringMatching(
        /^spec\.strategy\.canary\.trafficRouting\.gatewayAPI\.httpRoutes\[1\]\.name: HTTPRoute "checkout-internal" not found/,
      ),
    ]);
  });

  it('counts only Service backends of the Rollout namespace as routes to its Services', () => {
    const elsewhere = route([
      {
        backendRefs: [
          { name: 'checkout-stable', port: 80 },
          { name: 'checkout-canary', namespace: 'other', port: 80 },
          { name: 'checkout-canary', group: 'example.com', kind: 'Backend' },
        ],
      },
    ]);
    expect(problemsOf([elsewhere])).toEqual([
      expect.stringMatching(/has no backendRef for the canary Service "checkout-canary"/),
    ]);
  });

  it("leaves the rules Siirto manages out of the check: they are not the user's to fix", () => {
    const withHeaderRoute = route([
      { name: 'siirto.beta', backendRefs: [{ name: 'checkout-canary', port: 80, weight: 1 }] },
      splitRule,
    ]);
    expect(problemsOf([withHeaderRoute])).toEqual([]);
  });
});
