import {
  routeWeights,
  weightDrift,
  withBackendWeights,
  type HttpRoute,
} from '../../activities/traffic-routers/gateway-api';
import {
  baselineServiceName,
  withBaselineBackend,
  withoutBaselineBackend,
} from '../../activities/traffic-routers/http-route-baseline';

const services = { stableService: 'web-stable', canaryService: 'web-canary' };
const baselineService = baselineServiceName({ name: 'web' });

/** A route with a managed header rule to the canary alone, and the rule Siirto weighs; its rules last written by `manager`. */
function route(weights: number[], manager = 'siirto'): HttpRoute {
  const [stable, canary, baseline] = weights;
  return {
    metadata: {
      name: 'web',
      namespace: 'shop',
      managedFields: [{ manager, operation: 'Update', fieldsV1: { 'f:spec': { 'f:rules': {} } } }],
    },
    spec: {
      rules: [
        {
          name: 'siirto.beta',
          matches: [{ headers: [{ name: 'x-canary', value: 'on' }] }],
          backendRefs: [{ name: 'web-canary', port: 80, weight: 1 }],
        },
        {
          backendRefs: [
            { name: 'web-stable', port: 80, weight: stable },
            { name: 'web-canary', port: 80, weight: canary },
            ...(baseline === undefined ? [] : [{ name: 'web-baseline', port: 80, weight: baseline }]),
          ],
        },
      ],
    },
  };
}

const weightsOf = (weighted: HttpRoute, rule = 1) =>
  weighted.spec?.rules?.[rule]?.backendRefs?.map((ref) => `${ref.name}=${ref.weight}`);

describe('a judge’s baseline backend on an HTTPRoute', () => {
  it('is named after the Rollout', () => {
    expect(baselineService).toBe('web-baseline');
  });

  it('comes in at the canary’s weight, taken from the stable’s, on the stable’s port, in the split rules only', () => {
    const original = route([80, 20]);
    const withBaseline = withBaselineBackend(original, services, baselineService);
    expect(weightsOf(withBaseline)).toEqual(['web-stable=60', 'web-canary=20', 'web-baseline=20']);
    expect(withBaseline.spec?.rules?.[1]?.backendRefs?.[2]).toEqual({
      name: 'web-baseline',
      port: 80,
      weight: 20,
    });
    expect(withBaseline.spec?.rules?.[0]).toEqual(original.spec?.rules?.[0]);
    expect(weightsOf(original)).toEqual(['web-stable=80', 'web-canary=20']);
    // Added once, however often asked.
    expect(withBaselineBackend(withBaseline, services, baselineService)).toEqual(withBaseline);
  });

  it('takes all of the stable’s weight, no more, where the canary has more: the canary keeps its share', () => {
    expect(weightsOf(withBaselineBackend(route([40, 60]), services, baselineService))).toEqual([
      'web-stable=0',
      'web-canary=60',
      'web-baseline=40',
    ]);
  });

  it('follows every weight write while it is there: none for a canary moved back to stable', () => {
    const withBaseline = route([60, 20, 20]);
    const weigh = (stable: number, canary: number) =>
      weightsOf(
        withBackendWeights(withBaseline, { ...services, baselineService, weights: { stable, canary } }),
      );
    expect(weigh(100, 0)).toEqual(['web-stable=100', 'web-canary=0', 'web-baseline=0']);
    expect(weigh(70, 30)).toEqual(['web-stable=40', 'web-canary=30', 'web-baseline=30']);
    expect(weigh(0, 100)).toEqual(['web-stable=0', 'web-canary=100', 'web-baseline=0']);
  });

  it('goes with its weight back to the stable’s, and is gone once', () => {
    for (const [weights, stable] of [
      [[60, 20, 20], 80],
      [[0, 60, 40], 40],
      [[100, 0, 0], 100],
    ] as const) {
      const without = withoutBaselineBackend(route([...weights]), services, baselineService);
      expect(weightsOf(without)).toEqual([`web-stable=${stable}`, `web-canary=${weights[1]}`]);
      expect(withoutBaselineBackend(without, services, baselineService)).toEqual(without);
    }
  });

  it('counts as the stable’s weight when the route’s weights are read', () => {
    expect(routeWeights(route([60, 20, 20]), { ...services, baselineService })).toEqual({
      stable: 80,
      canary: 20,
    });
  });

  it('is no drift from the weights Siirto set, even when someone else wrote the rules last', () => {
    const change = { ...services, baselineService, weights: { stable: 80, canary: 20 } };
    expect(weightDrift(route([60, 20, 20], 'argocd-controller'), change)).toBeUndefined();
    expect(weightDrift(route([80, 20], 'argocd-controller'), change)).toBeUndefined();
    // Someone else weighting the baseline otherwise is drift, as any other weight is.
    expect(weightDrift(route([50, 20, 30], 'argocd-controller'), change)).toMatchObject({
      found: 'web-stable=50, web-canary=20, web-baseline=30',
    });
  });
});
