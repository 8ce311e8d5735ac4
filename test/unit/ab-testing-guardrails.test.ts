import { ApplicationFailure } from '@temporalio/common';
import { countExperiment, type BucketBounds } from '../../activities/experiment-counts';
import { variantQueries } from '../../analysis/experiment-queries';
import type { MetricProvider, Reading } from '../../analysis/metric-providers';
import { checkAbTesting } from '../../k8s-bridge/ab-testing-validation';
import { parseRollout } from '../../k8s-bridge/rollout-validation';
import { RolloutSchema, type AbTestingAnalysis, type Rollout } from '../../schemas/rollout';
import { guardrailBreach } from '../../workflows/strategies/ab-testing-guardrails';

function manifest(analysis: Record<string, unknown>) {
  return {
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
          analysis,
        },
      },
    },
  };
}

const rollout = (analysis: Record<string, unknown>): Rollout => RolloutSchema.parse(manifest(analysis));
const analysisOf = (analysis: Record<string, unknown>): AbTestingAnalysis =>
  rollout(analysis).spec.strategy.abTesting!.analysis;
const services = new Set(['checkout-a', 'checkout-b']);

const latency = { thresholdSeconds: 0.5, maxIncrease: 0.05 };
const FIELD = 'spec.strategy.abTesting.analysis';

/** Counts with every request a success; the latency guardrail's slow and timed requests as given. */
function timed(a: [number, number], b: [number, number]) {
  return {
    A: { successes: a[1], trials: a[1], slowRequests: a[0], timedRequests: a[1] },
    B: { successes: b[1], trials: b[1], slowRequests: b[0], timedRequests: b[1] },
  };
}

describe('the latency guardrail of an A/B experiment', () => {
  it('stops B once its share of slow requests is surely above A’s by more than maxIncrease, naming the guardrail', () => {
    const analysis = analysisOf({ guardrails: { latency } });
    const breach = guardrailBreach(analysis, timed([3, 150], [140, 150]));
    expect(breach?.guardrail).toBe('latency');
    expect(breach?.why).toMatch(
      /^guardrail latency: B's share of requests slower than 0\.5s is worse than A's by more than 0\.05 \(A 3\/150, B 140\/150; .* B − A \+0\.913 \[\+0\.\d+, \+\d\.\d+\] at 95%\)$/,
    );
  });

  it('keeps a B as slow as A, and a B slower by less than the interval can tell from maxIncrease', () => {
    const analysis = analysisOf({ guardrails: { latency } });
    expect(guardrailBreach(analysis, timed([150, 150], [150, 150]))).toBeUndefined();
    expect(guardrailBreach(analysis, timed([0, 0], [10, 10]))).toBeUndefined();
    // 6 points worse on 200 requests each: above 0.05 as measured, but not surely.
    expect(guardrailBreach(analysis, timed([10, 200], [22, 200]))).toBeUndefined();
  });

  it('holds its false stops to 1 − confidenceLevel when B is exactly maxIncrease slower, looking after every 20 requests', () => {
    // B's share slow is A's plus maxIncrease: any stop is a false one. 200 experiments of 50 looks.
    const analysis = analysisOf({ guardrails: { latency }, minSampleSize: 100 });
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    let stopped = 0;
    for (let experiment = 0; experiment < 200; experiment++) {
      const a: [number, number] = [0, 0];
      const b: [number, number] = [0, 0];
      for (let look = 0; look < 50; look++) {
        for (let request = 0; request < 20; request++) {
          a[1] += 1;
          b[1] += 1;
          if (random() < 0.1) a[0] += 1;
          if (random() < 0.15) b[0] += 1;
        }
        if (guardrailBreach(analysis, timed(a, b))) {
          stopped += 1;
          break;
        }
      }
    }
    expect(stopped / 200).toBeLessThanOrEqual(0.05);
  });

  it('is judged after the error-rate guardrail, and either one stops B', () => {
    const analysis = analysisOf({ guardrails: { latency, errorRate: { maxIncrease: 0.05 } } });
    const slowAndFailing = {
      A: { successes: 150, trials: 150, errors: 0, requests: 150, slowRequests: 0, timedRequests: 150 },
      B: { successes: 10, trials: 150, errors: 140, requests: 150, slowRequests: 150, timedRequests: 150 },
    };
    expect(guardrailBreach(analysis, slowAndFailing)?.guardrail).toBe('errorRate');
    const slowOnly = {
      A: { ...slowAndFailing.A },
      B: { ...slowAndFailing.B, successes: 150, errors: 0 },
    };
    expect(guardrailBreach(analysis, slowOnly)?.guardrail).toBe('latency');
  });

  it('reads the histogram bucket at the threshold and its count, with the threshold and hash filled in', () => {
    const queries = variantQueries(analysisOf({ guardrails: { latency } }), FIELD, {
      namespace: 'shop',
      rollout: 'checkout',
      variant: 'B',
      hash: 'b"x',
      elapsedSeconds: 30,
    });
    expect(queries.withinThreshold).toBe(
      'sum(increase(http_request_duration_seconds_bucket{namespace="shop",siirto_dev_pod_template_hash="b\\"x",le="0.5"}[30s]))',
    );
    expect(queries.timedRequests).toBe(
      'sum(increase(http_request_duration_seconds_count{namespace="shop",siirto_dev_pod_template_hash="b\\"x"}[30s]))',
    );
    const custom = variantQueries(
      analysisOf({
        guardrails: {
          latency: {
            ...latency,
            withinThresholdQuery:
              'sum(increase(rpc_seconds_bucket{hash="{{args.variant-hash}}",le="{{args.threshold}}"}[{{args.elapsed}}]))',
            requestsQuery: 'sum(increase(rpc_seconds_count{hash="{{args.variant-hash}}"}[{{args.elapsed}}]))',
          },
        },
      }),
      FIELD,
      { namespace: 'shop', rollout: 'checkout', variant: 'A', hash: 'a1', elapsedSeconds: 9.5 },
    );
    expect(custom.withinThreshold).toBe('sum(increase(rpc_seconds_bucket{hash="a1",le="0.5"}[10s]))');
    expect(custom.timedRequests).toBe('sum(increase(rpc_seconds_count{hash="a1"}[10s]))');
  });

  it('refuses a threshold that is not a positive number, and {{args.threshold}} outside its own queries, naming field and fix', () => {
    expect(
      parseRollout(manifest({ guardrails: { latency: { thresholdSeconds: 0, maxIncrease: 0.05 } } }))
        .problems,
    ).toEqual([
      expect.stringMatching(/^spec\.strategy\.abTesting\.analysis\.guardrails\.latency\.thresholdSeconds: /),
    ]);
    expect(
      parseRollout(manifest({ guardrails: { latency: { thresholdSeconds: 0.5, maxIncrease: 2 } } })).problems,
    ).toEqual([
      expect.stringMatching(/^spec\.strategy\.abTesting\.analysis\.guardrails\.latency\.maxIncrease: /),
    ]);
    const problems = checkAbTesting(
      rollout({
        successQuery: 'sum(x{le="{{args.threshold}}"})',
        guardrails: { latency: { ...latency, requestsQuery: 'sum(y{s="{{args.service}}"})' } },
      }),
      services,
    );
    expect(problems).toEqual([
      `${FIELD}.successQuery uses {{args.threshold}}, which has no value: use only namespace, rollout, variant, variant-hash and elapsed`,
      `${FIELD}.guardrails.latency.requestsQuery uses {{args.service}}, which has no value: use only namespace, rollout, variant, variant-hash, elapsed and threshold`,
    ]);
    expect(checkAbTesting(rollout({ guardrails: { latency } }), services)).toEqual([]);
  });
});

describe('counting slow requests for the latency guardrail', () => {
  /** Prometheus as a table from a query's part to its answer; a query matching no entry has no series. */
  function prometheus(answers: Array<[string, number]>): MetricProvider[] {
    return [
      {
        key: 'prometheus',
        name: 'Prometheus',
        handles: () => true,
        argumentNames: () => [],
        resolve: () => ({ query: '' }),
        measure: async ({ query }): Promise<Reading> => {
          const answer = answers.find(([part]) => query.includes(part));
          return answer
            ? { value: answer[1], text: String(answer[1]) }
            : { verdict: 'Inconclusive', message: 'no data: the query matched no series' };
        },
      },
    ];
  }
  const input = (thresholdSeconds: number) => ({
    rollout: { namespace: 'shop', name: 'checkout', uid: 'u1' },
    analysis: analysisOf({ guardrails: { latency: { thresholdSeconds, maxIncrease: 0.05 } } }),
    field: FIELD,
    hashes: { A: 'aaa', B: 'bbb' },
    elapsedSeconds: 30,
  });
  const bounds: BucketBounds = async () => ['0.1', '0.25', '+Inf', '0.5', '1'];

  it('counts the requests slower than the threshold as all timed minus those within it', async () => {
    const counts = await countExperiment(
      input(0.5),
      prometheus([
        ['_bucket{namespace="shop",siirto_dev_pod_template_hash="aaa",le="0.5"}', 97.4],
        ['_count{namespace="shop",siirto_dev_pod_template_hash="aaa"}', 100.2],
        ['_bucket{namespace="shop",siirto_dev_pod_template_hash="bbb",le="0.5"}', 3],
        ['_count{namespace="shop",siirto_dev_pod_template_hash="bbb"}', 90],
        ['http_requests_total', 100],
      ]),
      bounds,
    );
    expect(counts.A).toMatchObject({ slowRequests: 3, timedRequests: 100 });
    expect(counts.B).toMatchObject({ slowRequests: 87, timedRequests: 90 });
  });

  it('counts nothing slow before any request is timed', async () => {
    const counts = await countExperiment(input(0.5), prometheus([]), bounds);
    expect(counts.B).toEqual({ successes: 0, trials: 0, slowRequests: 0, timedRequests: 0 });
  });

  it('stops the experiment with the bounds there are when the threshold is not one of them', async () => {
    const failure = await countExperiment(
      input(0.3),
      prometheus([
        ['_count{', 50],
        ['http_requests_total', 50],
      ]),
      bounds,
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).nonRetryable).toBe(true);
    expect((failure as ApplicationFailure).message).toMatch(
      new RegExp(
        `^${FIELD.replace(/\./g, '\\.')}\\.guardrails\\.latency\\.thresholdSeconds: 0\\.3 is not a bucket bound of http_request_duration_seconds for variant [AB]'s pods, whose bounds \\(le\\) are 0\\.1, 0\\.25, 0\\.5, 1; set thresholdSeconds to one of them$`,
      ),
    );
  });
});
