import { renderStatus } from '../../cli/rollout-status-view';
import { checkAbTesting } from '../../k8s-bridge/ab-testing-validation';
import { variantQueries } from '../../analysis/experiment-queries';
import { RolloutSchema, type Rollout } from '../../schemas/rollout';
import { abTestingPlan, variantBRoute } from '../../workflows/strategies/ab-testing-plan';

function rollout(abTesting: Record<string, unknown>): Rollout {
  return RolloutSchema.parse({
    apiVersion: 'siirto.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'checkout', namespace: 'shop' },
    spec: {
      selector: { matchLabels: { app: 'checkout' } },
      template: { metadata: { labels: { app: 'checkout' } }, spec: {} },
      strategy: {
        abTesting: {
          variantAService: 'checkout-a',
          variantBService: 'checkout-b',
          variantBMatch: { header: { name: 'X-Variant', value: { exact: 'b' } } },
          trafficRouting: { gatewayAPI: { httpRoute: 'checkout' } },
          analysis: {},
          ...abTesting,
        },
      },
    },
  });
}

const services = new Set(['checkout-a', 'checkout-b']);

describe('an A/B experiment', () => {
  it('sends a cookie to B as a regular expression on the Cookie header, matching the whole cookie only', () => {
    const route = variantBRoute({ cookie: { name: 'variant', value: 'b.1' } });
    const [match] = route.match ?? [];
    expect(match?.headerName).toBe('Cookie');
    const regex = new RegExp(`^${match?.headerValue.regex ?? ''}$`);
    expect(regex.test('variant=b.1')).toBe(true);
    expect(regex.test('session=x; variant=b.1; theme=dark')).toBe(true);
    expect(regex.test('variant=bx1')).toBe(false);
    expect(regex.test('myvariant=b.1')).toBe(false);
    expect(regex.test('variant=b.10')).toBe(false);
  });

  it('is valid with its defaults: a 95% level, no verdict before 100 trials each, an hour at most', () => {
    const parsed = rollout({});
    expect(checkAbTesting(parsed, services)).toEqual([]);
    expect(parsed.spec.strategy.abTesting).toMatchObject({
      variantBWeight: 0,
      maxDuration: '1h',
      analysis: { interval: '30s', minDuration: '0s', minSampleSize: 100, confidenceLevel: 0.95 },
    });
    expect(abTestingPlan.describeSteps(parsed.spec.strategy.abTesting!)).toEqual([
      'variant B at full size',
      'experiment up to 1h (header X-Variant=b, B 0% of the rest)',
      'verdict: promote B, or keep A',
    ]);
  });

  it('refuses ingress-nginx, durations that cannot work and one Service for both, naming field and fix', () => {
    const problems = checkAbTesting(
      rollout({
        variantBService: 'checkout-a',
        trafficRouting: { nginx: { stableIngress: 'checkout' } },
        maxDuration: '10m',
        analysis: { interval: '2s', minDuration: '1h' },
      }),
      services,
    );
    expect(problems).toEqual([
      'spec.strategy.abTesting.variantBService: "checkout-a" is also the variantAService; give variant B a Service of its own, so the route can send its requests to B alone',
      expect.stringMatching(/^spec\.strategy\.abTesting\.trafficRouting\.nginx: .*route it with gatewayAPI/),
      'spec.strategy.abTesting.analysis.minDuration: 1h is longer than maxDuration 10m, so no verdict could ever come; shorten minDuration or lengthen maxDuration',
    ]);
    // A week of looks every second: the experiment continues as new as its history grows.
    expect(checkAbTesting(rollout({ maxDuration: '168h', analysis: { interval: '1s' } }), services)).toEqual(
      [],
    );
  });

  it('fills each variant’s queries with its hash, escaped, and refuses a placeholder it has no value for', () => {
    const parsed = rollout({
      analysis: { successQuery: 'sum(orders{hash="{{args.variant-hash}}"}[{{args.elapsed}}])' },
    }).spec.strategy.abTesting!;
    const queries = variantQueries(parsed.analysis, 'spec.strategy.abTesting.analysis', {
      namespace: 'shop',
      rollout: 'checkout',
      variant: 'B',
      hash: 'a"} or vector(1) #',
      elapsedSeconds: 94.2,
    });
    expect(queries.successes).toBe('sum(orders{hash="a\\"} or vector(1) #"}[95s])');
    expect(queries.trials).toContain('siirto_dev_pod_template_hash="a\\"} or vector(1) #"');
    const wrong = rollout({ analysis: { trialsQuery: 'sum(x{a="{{args.service}}"})' } });
    expect(checkAbTesting(wrong, services)).toEqual([
      expect.stringMatching(
        /^spec\.strategy\.abTesting\.analysis\.trialsQuery uses \{\{args\.service\}\}, which has no value: use only namespace, rollout, variant, variant-hash and elapsed/,
      ),
    ]);
  });

  it('shows its counts, estimate, interval and verdict in siirto status', () => {
    const parsed = rollout({});
    const text = renderStatus({
      rollout: {
        metadata: parsed.metadata,
        spec: { strategy: parsed.spec.strategy },
        status: {
          phase: 'Healthy',
          revision: 2,
          experiment: {
            variantA: { successes: 189, trials: 271 },
            variantB: { successes: 218, trials: 218 },
            estimate: 0.3026,
            lower: 0.2151,
            upper: 0.3901,
            looks: 4,
            verdict: 'B wins',
          },
        },
      },
      replicaSets: [],
    });
    expect(text).toContain(
      '  experiment  A 189/271, B 218/218; B − A +0.303 [+0.215, +0.390] → B wins (look 4)',
    );
    expect(text).toContain('2. experiment up to 1h (header X-Variant=b, B 0% of the rest)');
  });
});
