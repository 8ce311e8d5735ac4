import { AnalysisConfigurationError } from '../../analysis/analysis-configuration-error';
import { builtInMetrics } from '../../analysis/built-in-metrics';
import { evaluateCondition, parseCondition } from '../../analysis/condition';
import { BuiltInMetricsSchema } from '../../schemas/analysis';

const field = 'spec.strategy.canary.steps[1].analysis.builtIn';

describe('built-in metrics', () => {
  it('turns an error-rate threshold into a ratio of 5xx to all requests over the window', () => {
    const [errorRate, ...others] = builtInMetrics(
      BuiltInMetricsSchema.parse({ errorRate: { max: 0.05 }, window: '2m' }),
      field,
    );
    expect(others).toEqual([]);
    expect(errorRate).toEqual({
      name: 'error-rate',
      provider: {
        prometheus: {
          query:
            '(sum(rate(http_requests_total{namespace="{{args.namespace}}",siirto_dev_pod_template_hash="{{args.canary-hash}}",code=~"5.."}[2m])) or vector(0))' +
            ' / sum(rate(http_requests_total{namespace="{{args.namespace}}",siirto_dev_pod_template_hash="{{args.canary-hash}}"}[2m]))',
        },
      },
      successCondition: 'result <= 0.05',
      interval: '30s',
      count: undefined,
      initialDelay: undefined,
      failureLimit: 0,
      inconclusiveLimit: 0,
      consecutiveErrorLimit: 4,
    });
  });

  it('turns a latency threshold into the 95th percentile of the request duration histogram', () => {
    const metrics = builtInMetrics(
      BuiltInMetricsSchema.parse({ latencyP95: { maxSeconds: 0.25 }, selector: 'app="web"', count: 3 }),
      field,
    );
    expect(metrics).toHaveLength(1);
    expect(metrics[0]).toMatchObject({
      name: 'latency-p95',
      provider: {
        prometheus: {
          query:
            'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{app="web"}[1m])))',
        },
      },
      successCondition: 'result <= 0.25',
      count: 3,
    });
  });

  it('gives both metrics the shared measurement policy', () => {
    const metrics = builtInMetrics(
      BuiltInMetricsSchema.parse({
        errorRate: { max: 0.01 },
        latencyP95: { maxSeconds: 1 },
        interval: '10s',
        initialDelay: '1m',
        failureLimit: 2,
        inconclusiveLimit: 1,
        consecutiveErrorLimit: 3,
      }),
      field,
    );
    expect(metrics.map((metric) => metric.name)).toEqual(['error-rate', 'latency-p95']);
    for (const metric of metrics) {
      expect(metric).toMatchObject({
        interval: '10s',
        initialDelay: '1m',
        failureLimit: 2,
        inconclusiveLimit: 1,
        consecutiveErrorLimit: 3,
      });
    }
  });

  it('writes the window as PromQL does: whole units, no decimals', () => {
    const query = (window: string) =>
      builtInMetrics(BuiltInMetricsSchema.parse({ errorRate: { max: 0.1 }, window }), field)[0]!.provider
        .prometheus.query;
    expect(query('1h30m')).toContain('[1h30m]');
    expect(query('1.5s')).toContain('[1500ms]');
    expect(query('90s')).toContain('[1m30s]');
  });

  it('leaves no dangling comma when the selector is empty', () => {
    const [metric] = builtInMetrics(
      BuiltInMetricsSchema.parse({ errorRate: { max: 0.1 }, selector: '' }),
      field,
    );
    expect(metric!.provider.prometheus.query).toBe(
      '(sum(rate(http_requests_total{code=~"5.."}[1m])) or vector(0)) / sum(rate(http_requests_total{}[1m]))',
    );
  });

  it('rejects a window that is not a duration, naming the field', () => {
    expect(() =>
      builtInMetrics(BuiltInMetricsSchema.parse({ errorRate: { max: 0.1 }, window: 'a minute' }), field),
    ).toThrow(
      new AnalysisConfigurationError([
        `${field}.window is "a minute", not a duration of at least 1s: write it like 30s, 1m or 5m`,
      ]),
    );
  });

  it.each([
    'app="web"',
    ` namespace = "{{args.namespace}}" , code!~'5..', path=~\`/api/.*\`, `,
    String.raw`app="a\"b",tier!="x"`,
  ])('accepts a selector of label matchers: %j', (selector) => {
    expect(() =>
      builtInMetrics(BuiltInMetricsSchema.parse({ errorRate: { max: 0.1 }, selector }), field),
    ).not.toThrow();
  });

  it.each([
    'app="web"}[1m])) * 0 + vector(0) #',
    'app="web"} or vector(0) or x{a="b"',
    'app=web',
    'app="web" app="api"',
    'app="{{args.service}}",{{args.more}}',
  ])('refuses a selector that is more than label matchers: %j', (selector) => {
    expect(() =>
      builtInMetrics(BuiltInMetricsSchema.parse({ errorRate: { max: 0.1 }, selector }), field),
    ).toThrow(
      new AnalysisConfigurationError([
        `${field}.selector is ${JSON.stringify(selector)}, not a list of PromQL label matchers: write it like ` +
          'namespace="{{args.namespace}}",app="checkout", each value in quotes',
      ]),
    );
  });

  it('has conditions that never call NaN (an idle canary) a success', () => {
    const [errorRate, latency] = builtInMetrics(
      BuiltInMetricsSchema.parse({ errorRate: { max: 1 }, latencyP95: { maxSeconds: 10 } }),
      field,
    );
    // The measurement reports NaN as Inconclusive before any condition is asked; should a condition
    // ever see it, it still must not hold.
    expect(evaluateCondition(parseCondition(errorRate!.successCondition!), Number.NaN)).toBe(false);
    expect(evaluateCondition(parseCondition(latency!.successCondition!), Number.NaN)).toBe(false);
    expect(evaluateCondition(parseCondition(errorRate!.successCondition!), 0)).toBe(true);
  });
});
