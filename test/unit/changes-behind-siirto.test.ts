import { weightDrift, type HttpRoute } from '../../activities/traffic-routers/gateway-api';
import { selectorText } from '../../kubernetes/label-selector';
import { lastWriterOf } from '../../kubernetes/managed-fields';

const backends = {
  stableService: 'web-stable',
  canaryService: 'web-canary',
  weights: { stable: 80, canary: 20 },
};

/** An HTTPRoute whose rules someone wrote last, as managedFields record it. */
function route(weights: [number, number], manager: string, time = '2026-12-02T10:00:00Z'): HttpRoute {
  return {
    metadata: {
      name: 'web',
      namespace: 'shop',
      managedFields: [
        {
          manager: 'siirto',
          operation: 'Update',
          time: '2026-12-02T09:00:00Z',
          fieldsV1: { 'f:spec': { 'f:hostnames': {} } },
        },
        { manager, operation: 'Update', time, fieldsV1: { 'f:spec': { 'f:rules': {} } } },
      ],
    },
    spec: {
      rules: [
        {
          backendRefs: [
            { name: 'web-stable', weight: weights[0] },
            { name: 'web-canary', weight: weights[1] },
          ],
        },
      ],
    },
  };
}

describe('weights changed behind Siirto', () => {
  it('names the weights found and the field manager that set them', () => {
    expect(weightDrift(route([100, 0], 'argocd-controller'), backends)).toEqual({
      object: 'HTTPRoute shop/web',
      found: 'web-stable=100, web-canary=0',
      changedBy: { manager: 'argocd-controller', time: '2026-12-02T10:00:00Z' },
    });
  });

  it('sees no drift while the weights are the rollout’s, nor in a write of Siirto’s own', () => {
    expect(weightDrift(route([80, 20], 'kubectl-patch'), backends)).toBeUndefined();
    expect(weightDrift(route([50, 50], 'siirto'), backends)).toBeUndefined();
  });

  it('leaves a route that cannot be split to the next weight write, which says why', () => {
    const broken = route([100, 0], 'kubectl-edit');
    broken.spec!.rules![0]!.backendRefs = [{ name: 'web-stable', weight: 100 }];
    expect(weightDrift(broken, backends)).toBeUndefined();
  });

  it('counts a backendRef without a weight as Gateway API does, as 1', () => {
    const unweighted = route([0, 0], 'kubectl-client-side-apply');
    for (const ref of unweighted.spec!.rules![0]!.backendRefs!) delete ref.weight;
    expect(weightDrift(unweighted, backends)?.found).toBe('web-stable=1, web-canary=1');
  });
});

describe('the last writer of a field', () => {
  const managedFields = [
    { manager: 'siirto', time: '2026-12-02T10:00:00Z', fieldsV1: { 'f:spec': { 'f:template': {} } } },
    {
      manager: 'kubectl-scale',
      time: new Date('2026-12-02T10:05:00Z'),
      fieldsV1: { 'f:spec': { 'f:replicas': {} } },
    },
    { manager: 'older', time: '2026-12-02T09:00:00Z', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
  ];

  it('is the newest entry holding it', () => {
    expect(lastWriterOf(managedFields, ['f:spec', 'f:replicas'])).toEqual({
      manager: 'kubectl-scale',
      time: '2026-12-02T10:05:00.000Z',
    });
  });

  it('is unknown where no entry holds it or managedFields were stripped', () => {
    expect(lastWriterOf(managedFields, ['f:spec', 'f:selector'])).toBeUndefined();
    expect(lastWriterOf(undefined, ['f:spec', 'f:replicas'])).toBeUndefined();
  });
});

describe('a label selector as the scale subresource gives it', () => {
  it('joins labels and expressions as kubectl writes them', () => {
    expect(
      selectorText({
        matchLabels: { app: 'checkout', tier: 'web' },
        matchExpressions: [
          { key: 'track', operator: 'In', values: ['a', 'b'] },
          { key: 'legacy', operator: 'NotIn', values: ['yes'] },
          { key: 'team', operator: 'Exists' },
          { key: 'debug', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=checkout,tier=web,track in (a,b),legacy notin (yes),team,!debug');
  });
});
