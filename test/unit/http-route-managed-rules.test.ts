import { routeWeights, weightDrift, withBackendWeights } from '../../activities/traffic-routers/gateway-api';
import type { HttpRoute, HttpRouteRule } from '../../activities/traffic-routers/http-route';
import {
  withManagedRoute,
  withoutManagedRoutes,
} from '../../activities/traffic-routers/http-route-managed-rules';
import { routeSplitProblem } from '../../activities/traffic-routers/http-route-validation';
import type { ManagedRoute } from '../../activities/traffic-routers/traffic-router';

const services = { stableService: 'web-stable', canaryService: 'web-canary' };

const apiRule: HttpRouteRule = {
  matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
  filters: [
    { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-App', value: 'web' }] } },
  ],
  backendRefs: [
    { group: '', kind: 'Service', name: 'web-stable', port: 80, weight: 80 },
    { group: '', kind: 'Service', name: 'web-canary', port: 80, weight: 20 },
  ],
};
const adminRule: HttpRouteRule = {
  name: 'admin',
  matches: [{ path: { type: 'PathPrefix', value: '/admin' } }],
  backendRefs: [{ name: 'admin', port: 8080 }],
};

function route(rules: HttpRouteRule[]): HttpRoute {
  return { metadata: { name: 'web', namespace: 'shop', resourceVersion: '7' }, spec: { rules } };
}

const header = (name: string, value: { exact?: string; prefix?: string; regex?: string }): ManagedRoute => ({
  kind: 'header',
  route: { name, match: [{ headerName: 'X-Canary', headerValue: value }] },
});

describe('Gateway API router: managed header and mirror routes', () => {
  it('adds a header route just before the rule it copies, to the canary alone, with that rule’s paths and filters', () => {
    const original = route([adminRule, apiRule]);
    const updated = withManagedRoute(original, services, header('beta', { exact: 'yes' }));
    expect(updated.spec?.rules).toEqual([
      adminRule,
      {
        name: 'siirto.beta',
        matches: [
          {
            path: { type: 'PathPrefix', value: '/api' },
            headers: [{ type: 'Exact', name: 'X-Canary', value: 'yes' }],
          },
        ],
        filters: apiRule.filters,
        backendRefs: [{ group: '', kind: 'Service', name: 'web-canary', port: 80, weight: 1 }],
      },
      apiRule,
    ]);
    expect(original.spec?.rules).toEqual([adminRule, apiRule]);
  });

  it('writes a prefix as an anchored regular expression and a regex as it is', () => {
    const prefixed = withManagedRoute(route([apiRule]), services, header('beta', { prefix: 'v1.2' }));
    expect(prefixed.spec?.rules?.[0]?.matches?.[0]?.headers).toEqual([
      { type: 'RegularExpression', name: 'X-Canary', value: '^v1\\.2' },
    ]);
    const regex = withManagedRoute(route([apiRule]), services, header('beta', { regex: '^(a|b)$' }));
    expect(regex.spec?.rules?.[0]?.matches?.[0]?.headers?.[0]).toEqual({
      type: 'RegularExpression',
      name: 'X-Canary',
      value: '^(a|b)$',
    });
  });

  it('matches every path of a rule without matches', () => {
    const catchAll = { backendRefs: apiRule.backendRefs };
    const updated = withManagedRoute(route([catchAll]), services, header('beta', { exact: '1' }));
    expect(updated.spec?.rules?.[0]?.matches).toEqual([
      {
        path: { type: 'PathPrefix', value: '/' },
        headers: [{ type: 'Exact', name: 'X-Canary', value: '1' }],
      },
    ]);
  });

  it('is idempotent, and setting it again with other headers replaces it', () => {
    const once = withManagedRoute(route([apiRule]), services, header('beta', { exact: '1' }));
    expect(withManagedRoute(once, services, header('beta', { exact: '1' }))).toEqual(once);
    const changed = withManagedRoute(once, services, header('beta', { exact: '2' }));
    expect(changed.spec?.rules).toHaveLength(2);
    expect(changed.spec?.rules?.[0]?.matches?.[0]?.headers?.[0]?.value).toBe('2');
  });

  it('adds one rule beside each rule that splits traffic, numbered after the first', () => {
    const webRule = { ...apiRule, matches: [{ path: { type: 'PathPrefix', value: '/web' } }] };
    const updated = withManagedRoute(
      route([apiRule, adminRule, webRule]),
      services,
      header('beta', { exact: '1' }),
    );
    expect(updated.spec?.rules?.map((rule) => rule.name)).toEqual([
      'siirto.beta',
      undefined,
      'admin',
      'siirto.beta.2',
      undefined,
    ]);
  });

  it('adds a mirror route as a copy of the rule, narrowed to the match, mirroring to the canary', () => {
    const mirror: ManagedRoute = {
      kind: 'mirror',
      route: {
        name: 'shadow',
        percentage: 30,
        match: [
          {
            method: { exact: 'get' },
            path: { prefix: '/api/orders' },
            headers: { 'X-Debug': { exact: '1' } },
          },
        ],
      },
    };
    const updated = withManagedRoute(route([apiRule]), services, mirror);
    expect(updated.spec?.rules?.[0]).toEqual({
      ...apiRule,
      name: 'siirto.shadow',
      matches: [
        {
          path: { type: 'PathPrefix', value: '/api/orders' },
          method: 'GET',
          headers: [{ type: 'Exact', name: 'X-Debug', value: '1' }],
        },
      ],
      filters: [
        ...(apiRule.filters ?? []),
        {
          type: 'RequestMirror',
          requestMirror: {
            backendRef: { group: '', kind: 'Service', name: 'web-canary', port: 80 },
            percent: 30,
          },
        },
      ],
    });
    expect(updated.spec?.rules?.[1]).toEqual(apiRule);
  });

  it('weighs the mirror copy with the rule it copies, and leaves the header route sending to the canary', () => {
    const mirror: ManagedRoute = {
      kind: 'mirror',
      route: { name: 'shadow', match: [{ path: { exact: '/' } }] },
    };
    const withBoth = withManagedRoute(
      withManagedRoute(route([apiRule]), services, header('beta', { exact: '1' })),
      services,
      mirror,
    );
    expect(routeSplitProblem(withBoth, services)).toBeUndefined();
    const weighted = withBackendWeights(withBoth, { ...services, weights: { stable: 100, canary: 0 } });
    const weightsOf = (name: string | undefined) =>
      weighted.spec?.rules?.find((rule) => rule.name === name)?.backendRefs?.map((ref) => ref.weight);
    expect(weightsOf('siirto.beta')).toEqual([1]);
    expect(weightsOf('siirto.shadow')).toEqual([100, 0]);
    expect(weightsOf(undefined)).toEqual([100, 0]);
    expect(routeWeights(weighted, services)).toEqual({ stable: 100, canary: 0 });
    expect(weightDrift(weighted, { ...services, weights: { stable: 100, canary: 0 } })).toBeUndefined();
  });

  it('removes exactly the named managed routes, or all of them, leaving every rule of the user’s as written', () => {
    const original = route([adminRule, apiRule]);
    const withTwo = withManagedRoute(
      withManagedRoute(original, services, header('beta', { exact: '1' })),
      services,
      header('gamma', { exact: '2' }),
    );
    expect(withoutManagedRoutes(withTwo, ['beta']).spec?.rules?.map((rule) => rule.name)).toEqual([
      'admin',
      'siirto.gamma',
      undefined,
    ]);
    expect(withoutManagedRoutes(withTwo)).toEqual(original);
    expect(withoutManagedRoutes(original)).toEqual(original);
  });

  it('keeps a user rule whose name only starts like a managed route’s', () => {
    const lookalike = { ...adminRule, name: 'siirtola' };
    expect(withoutManagedRoutes(route([lookalike, apiRule]))).toEqual(route([lookalike, apiRule]));
  });

  it('refuses a header the copied rule already matches, naming the step, the rule and the fix', () => {
    const withHeader = {
      ...apiRule,
      matches: [{ path: { type: 'PathPrefix', value: '/api' }, headers: [{ name: 'x-canary', value: 'a' }] }],
    };
    expect(() => withManagedRoute(route([withHeader]), services, header('beta', { exact: '1' }))).toThrow(
      'setHeaderRoute "beta": spec.rules[0] of HTTPRoute shop/web already matches header X-Canary: match another ' +
        "header, or take that match out of the route's rule",
    );
  });

  it('refuses a route with no rule that splits traffic, saying why', () => {
    expect(() => withManagedRoute(route([adminRule]), services, header('beta', { exact: '1' }))).toThrow(
      /^setHeaderRoute "beta" needs a rule to add its own beside: HTTPRoute shop\/web has no rule with backendRefs/,
    );
  });

  it('refuses to give a route more rules than Gateway API allows', () => {
    const full = route([
      apiRule,
      ...Array.from({ length: 15 }, (_, index) => ({ ...adminRule, name: `r${index}` })),
    ]);
    expect(() => withManagedRoute(full, services, header('beta', { exact: '1' }))).toThrow(
      /would give HTTPRoute shop\/web 17 rules, and Gateway API allows 16/,
    );
  });
});
