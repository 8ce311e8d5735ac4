import type { z } from 'zod';
import {
  AnalysisConfigurationError,
  resolveMetrics,
  type FetchedTemplate,
  type MetricResolutionInput,
} from '../../analysis/metric-resolution';
import { createMetricProviders } from '../../analysis/metric-providers';
import { AnalysisTemplateSpecSchema, RolloutAnalysisSchema } from '../../schemas/analysis';

const context = {
  namespace: 'shop',
  rollout: 'web',
  canaryHash: 'c4n4ry',
  stableHash: 'st4bl3',
  canaryService: 'web-canary',
  stableService: 'web-stable',
};
const field = 'spec.strategy.canary.steps[2].analysis';

function template(name: string, spec: unknown, clusterScope = false): FetchedTemplate {
  return {
    reference: { templateName: name, clusterScope },
    source: clusterScope ? `ClusterAnalysisTemplate ${name}` : `AnalysisTemplate shop/${name}`,
    spec: AnalysisTemplateSpecSchema.parse(spec),
  };
}

const successRate = template('success-rate', {
  args: [{ name: 'service' }, { name: 'quantile', value: '0.99' }],
  metrics: [
    {
      name: 'error-ratio',
      interval: '10s',
      initialDelay: '1m',
      failureLimit: 1,
      successCondition: 'result < 0.05',
      failureCondition: 'result >= 0.1',
      provider: {
        prometheus: {
          query:
            'sum(rate(requests{service="{{args.service}}",hash="{{ args.canary-hash }}",q="{{args.quantile}}"}[1m]))',
        },
      },
    },
  ],
});

/** Resolution input as a test writes it: the analysis as a user would, defaults filled by the schema. */
type InputOverrides = Omit<Partial<MetricResolutionInput>, 'analysis'> & {
  analysis?: z.input<typeof RolloutAnalysisSchema>;
};

function input(overrides: InputOverrides = {}): MetricResolutionInput {
  return {
    templates: [successRate],
    mode: 'step',
    context,
    field,
    ...overrides,
    analysis: RolloutAnalysisSchema.parse(
      overrides.analysis ?? {
        templates: [{ templateName: 'success-rate' }],
        args: [{ name: 'service', value: 'checkout' }],
      },
    ),
  };
}

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof AnalysisConfigurationError) return error.problems;
    throw error;
  }
  throw new Error('resolution succeeded but was expected to fail');
}

describe('metric resolution', () => {
  it('substitutes the Rollout’s arguments, the template’s defaults and the context, and converts durations', () => {
    expect(resolveMetrics(input())).toEqual([
      {
        name: 'error-ratio',
        source: 'AnalysisTemplate shop/success-rate',
        query: 'sum(rate(requests{service="checkout",hash="c4n4ry",q="0.99"}[1m]))',
        successCondition: 'result < 0.05',
        failureCondition: 'result >= 0.1',
        intervalMilliseconds: 10_000,
        count: 1,
        initialDelayMilliseconds: 60_000,
        failureLimit: 1,
        inconclusiveLimit: 0,
        consecutiveErrorLimit: 4,
      },
    ]);
  });

  it('lets the Rollout override a template’s default', () => {
    const [metric] = resolveMetrics(
      input({
        analysis: {
          templates: [{ templateName: 'success-rate' }],
          args: [
            { name: 'service', value: 'checkout' },
            { name: 'quantile', value: '0.5' },
          ],
        },
      }),
    );
    expect(metric!.query).toContain('q="0.5"');
  });

  it('measures a step analysis once by default and a background analysis until stopped', () => {
    expect(resolveMetrics(input({ mode: 'step' }))[0]!.count).toBe(1);
    expect(resolveMetrics(input({ mode: 'background' }))[0]!.count).toBeUndefined();
    const counted = template('counted', {
      metrics: [
        { name: 'm', count: 5, successCondition: 'result > 0', provider: { prometheus: { query: 'up' } } },
      ],
    });
    const analysis = { templates: [{ templateName: 'counted' }] };
    expect(resolveMetrics(input({ templates: [counted], analysis, mode: 'background' }))[0]!.count).toBe(5);
  });

  it('resolves the built-in metrics with the context’s namespace and canary hash', () => {
    const metrics = resolveMetrics(
      input({
        templates: [],
        analysis: { builtIn: { errorRate: { max: 0.02 }, window: '30s', interval: '15s' } },
      }),
    );
    expect(metrics).toEqual([
      expect.objectContaining({
        name: 'error-rate',
        source: 'builtIn',
        query:
          '(sum(rate(http_requests_total{namespace="shop",siirto_dev_pod_template_hash="c4n4ry",code=~"5.."}[30s])) or vector(0))' +
          ' / sum(rate(http_requests_total{namespace="shop",siirto_dev_pod_template_hash="c4n4ry"}[30s]))',
        successCondition: 'result <= 0.02',
        intervalMilliseconds: 15_000,
        count: 1,
      }),
    ]);
  });

  it('keeps the address of a metric that names its own Prometheus', () => {
    const elsewhere = template('elsewhere', {
      metrics: [
        {
          name: 'm',
          successCondition: 'result > 0',
          provider: { prometheus: { address: 'http://prometheus.monitoring:9090', query: 'up' } },
        },
      ],
    });
    const [metric] = resolveMetrics(
      input({ templates: [elsewhere], analysis: { templates: [{ templateName: 'x' }] } }),
    );
    expect(metric!.address).toBe('http://prometheus.monitoring:9090');
  });

  it('names an argument a query uses that has no value, and how to give it one', () => {
    expect(
      problemsOf(() =>
        resolveMetrics(input({ analysis: { templates: [{ templateName: 'success-rate' }] } })),
      ),
    ).toEqual([
      'AnalysisTemplate shop/success-rate spec.metrics[0].provider.prometheus.query (metric "error-ratio") uses {{args.service}}, ' +
        `which has no value: pass it in ${field}.args or give it a default in AnalysisTemplate shop/success-rate spec.args`,
    ]);
  });

  it('names a malformed condition with its template, metric and field', () => {
    const broken = template('broken', {
      metrics: [
        { name: 'latency', successCondition: 'result < ', provider: { prometheus: { query: 'up' } } },
      ],
    });
    expect(
      problemsOf(() =>
        resolveMetrics(input({ templates: [broken], analysis: { templates: [{ templateName: 'broken' }] } })),
      ),
    ).toEqual([
      'AnalysisTemplate shop/broken spec.metrics[0].successCondition (metric "latency"): ' +
        'expected a number, "result" or "(" at column 9 in "result < "',
    ]);
  });

  it('names malformed durations and addresses', () => {
    const broken = template('broken', {
      metrics: [
        {
          name: 'm',
          interval: 'often',
          initialDelay: '5 minutes',
          failureCondition: 'result > 1',
          provider: { prometheus: { address: 'prometheus:9090', query: 'up' } },
        },
      ],
    });
    const problems = problemsOf(() =>
      resolveMetrics(input({ templates: [broken], analysis: { templates: [{ templateName: 'broken' }] } })),
    );
    expect(problems).toEqual([
      'AnalysisTemplate shop/broken spec.metrics[0].interval (metric "m") is "often", not a duration of at least 1s: write it like 30s or 1m',
      'AnalysisTemplate shop/broken spec.metrics[0].initialDelay (metric "m") is "5 minutes", not a duration: write it like 30s or 1m',
      expect.stringContaining(
        'AnalysisTemplate shop/broken spec.metrics[0].provider.prometheus.address (metric "m") is "prometheus:9090", not an http(s) URL',
      ),
    ]);
  });

  it('rejects an interval short enough to hammer Prometheus', () => {
    const analysis = { builtIn: { errorRate: { max: 0.1 }, interval: '100ms' } };
    expect(problemsOf(() => resolveMetrics(input({ templates: [], analysis })))).toEqual([
      `${field}.builtIn.interval is "100ms", not a duration of at least 1s: write it like 30s or 1m`,
    ]);
  });

  it('names the built-in fields a problem comes from', () => {
    const analysis = {
      builtIn: { errorRate: { max: 0.1 }, window: 'soon', selector: 'app="{{args.app}}"' },
    };
    expect(problemsOf(() => resolveMetrics(input({ templates: [], analysis })))).toEqual([
      `${field}.builtIn.window is "soon", not a duration of at least 1s: write it like 30s, 1m or 5m`,
    ]);
    const selectorOnly = { builtIn: { latencyP95: { maxSeconds: 1 }, selector: 'app="{{args.app}}"' } };
    expect(problemsOf(() => resolveMetrics(input({ templates: [], analysis: selectorOnly })))).toEqual([
      `${field}.builtIn.selector uses {{args.app}}, which has no value: pass it in ${field}.args`,
    ]);
  });

  it('rejects two metrics of one name across templates and built-ins', () => {
    const other = template(
      'error-budget',
      {
        metrics: [
          { name: 'error-ratio', successCondition: 'result < 1', provider: { prometheus: { query: 'up' } } },
          { name: 'error-rate', successCondition: 'result < 1', provider: { prometheus: { query: 'up' } } },
        ],
      },
      true,
    );
    const analysis = {
      templates: [{ templateName: 'success-rate' }, { templateName: 'error-budget', clusterScope: true }],
      args: [{ name: 'service', value: 'checkout' }],
      builtIn: { errorRate: { max: 0.1 } },
    };
    expect(problemsOf(() => resolveMetrics(input({ templates: [successRate, other], analysis })))).toEqual([
      'metric "error-ratio" is defined by both AnalysisTemplate shop/success-rate and ClusterAnalysisTemplate error-budget: ' +
        'rename one of them, since metric names must be unique within an analysis',
      'metric "error-rate" is defined by both ClusterAnalysisTemplate error-budget and builtIn: ' +
        'rename one of them, since metric names must be unique within an analysis',
    ]);
  });

  it('rejects arguments that Siirto provides, that repeat, or that nothing uses', () => {
    const analysis = {
      templates: [{ templateName: 'success-rate' }],
      args: [
        { name: 'service', value: 'checkout' },
        { name: 'namespace', value: 'elsewhere' },
        { name: 'service', value: 'cart' },
        { name: 'servce', value: 'cart' },
      ],
    };
    expect(problemsOf(() => resolveMetrics(input({ analysis })))).toEqual([
      `${field}.args[1] sets "namespace", which Siirto always provides (it is "shop" here): remove it, or pass the value under another name`,
      `${field}.args[2] sets "service" a second time: keep one of them`,
      `${field}.args[3] "servce" is declared by no template and used by no query: remove it or correct its name`,
    ]);
  });

  it('rejects a template default for an argument Siirto provides', () => {
    const shadowing = template('shadowing', {
      args: [{ name: 'canary-hash', value: 'abc' }],
      metrics: [{ name: 'm', successCondition: 'result > 0', provider: { prometheus: { query: 'up' } } }],
    });
    expect(
      problemsOf(() =>
        resolveMetrics(
          input({ templates: [shadowing], analysis: { templates: [{ templateName: 'shadowing' }] } }),
        ),
      ),
    ).toEqual([
      'AnalysisTemplate shop/shadowing spec.args[0] gives "canary-hash" a default, but Siirto always provides it: remove the value',
    ]);
  });

  it('escapes argument values as PromQL string content, so a value cannot change the query', () => {
    const analysis = {
      templates: [{ templateName: 'success-rate' }],
      args: [{ name: 'service', value: 'checkout"} or vector(0) or x{a="' }],
    };
    const [metric] = resolveMetrics(input({ analysis }));
    expect(metric?.query).toBe(
      String.raw`sum(rate(requests{service="checkout\"} or vector(0) or x{a=\"",hash="c4n4ry",q="0.99"}[1m]))`,
    );
  });

  it('refuses a metric address the worker does not allow, naming the field and the setting', () => {
    const withAddress = (address: string) =>
      template('remote', {
        metrics: [
          {
            name: 'remote',
            successCondition: 'result > 0',
            provider: { prometheus: { address, query: 'vector(1)' } },
          },
        ],
      });
    const providers = createMetricProviders({
      prometheus: {
        defaultPrometheusUrl: 'http://prometheus.monitoring:9090',
        allowedAddresses: ['https://thanos.example/query/'],
      },
    });
    const resolve = (address: string) =>
      resolveMetrics(
        input({
          templates: [withAddress(address)],
          analysis: { templates: [{ templateName: 'remote' }] },
          providers,
        }),
      );
    expect(resolve('HTTP://Prometheus.Monitoring:9090/')[0]?.address).toBe(
      'HTTP://Prometheus.Monitoring:9090/',
    );
    expect(resolve('https://thanos.example:443/query')[0]?.address).toBe('https://thanos.example:443/query');
    expect(problemsOf(() => resolve('http://metadata.internal:80/latest'))).toEqual([
      'AnalysisTemplate shop/remote spec.metrics[0].provider.prometheus.address (metric "remote") is ' +
        '"http://metadata.internal:80/latest", a Prometheus this worker is not allowed to query: add it to ' +
        'SIIRTO_PROMETHEUS_ALLOWED_ADDRESSES on the worker, or leave the address out to use SIIRTO_PROMETHEUS_URL',
    ]);
    // Another port, scheme or path is another server, or another API behind the same one.
    for (const address of [
      'http://prometheus.monitoring:9091',
      'https://prometheus.monitoring:9090',
      'http://prometheus.monitoring:9090/admin',
      'https://thanos.example/',
    ]) {
      expect(problemsOf(() => resolve(address))).toHaveLength(1);
    }
  });
});
