import { withBackendWeights, type HttpRoute } from '../../activities/traffic-routers/gateway-api';

const backends = {
  stableService: 'web-stable',
  canaryService: 'web-canary',
  weights: { stable: 70, canary: 30 },
};

function route(rules: NonNullable<HttpRoute['spec']>['rules']): HttpRoute {
  return { metadata: { name: 'web', namespace: 'shop' }, spec: { rules } };
}

describe('weighting the backends of an HTTPRoute', () => {
  it('weights only core Services in the route namespace, not namesakes of another kind, group or namespace', () => {
    const original = route([
      {
        backendRefs: [
          { name: 'web-stable', kind: 'Service', group: '', namespace: 'shop', weight: 1 },
          { name: 'web-canary', weight: 1 },
          { name: 'web-canary', kind: 'ServiceImport', group: 'multicluster.x-k8s.io', weight: 1 },
          { name: 'web-stable', namespace: 'other-team', weight: 1 },
        ],
      },
    ]);

    const weighted = withBackendWeights(original, backends);

    expect(weighted.spec?.rules?.[0]?.backendRefs?.map((ref) => ref.weight)).toEqual([70, 30, 1, 1]);
    expect(original.spec?.rules?.[0]?.backendRefs?.map((ref) => ref.weight)).toEqual([1, 1, 1, 1]);
  });

  it('keeps rules without the two Services and fields it does not know as they are', () => {
    const original = route([
      {
        matches: [{ path: { type: 'Exact', value: '/health' } }],
        backendRefs: [{ name: 'health', weight: 1 }],
      },
      { timeouts: { request: '10s' }, backendRefs: [{ name: 'web-stable' }, { name: 'web-canary' }] },
    ]);

    const weighted = withBackendWeights(original, backends);

    expect(weighted.spec?.rules).toEqual([
      original.spec?.rules?.[0],
      {
        timeouts: { request: '10s' },
        backendRefs: [
          { name: 'web-stable', weight: 70 },
          { name: 'web-canary', weight: 30 },
        ],
      },
    ]);
  });

  it('refuses a rule that sends to the canary but not to stable, naming the rule and the Service', () => {
    const misconfigured = route([{ backendRefs: [{ name: 'web-canary' }] }]);

    expect(() => withBackendWeights(misconfigured, backends)).toThrow(
      'spec.rules[0] of HTTPRoute shop/web sends traffic to Service web-canary but has no backendRef to Service web-stable',
    );
  });

  it('refuses a route that sends to neither Service', () => {
    expect(() => withBackendWeights(route([{ backendRefs: [{ name: 'other' }] }]), backends)).toThrow(
      'HTTPRoute shop/web has no rule with backendRefs to Services web-stable and web-canary',
    );
    expect(() => withBackendWeights({ metadata: { name: 'web', namespace: 'shop' } }, backends)).toThrow(
      'has no rule with backendRefs',
    );
  });
});
