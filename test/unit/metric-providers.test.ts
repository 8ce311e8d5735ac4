import { measureMetric } from '../../activities/metric-measurement';
import { createMetricProviders, providerOfResolved } from '../../analysis/metric-providers';
import type { ResolvedMetric } from '../../analysis/resolved-metric';

const metric: ResolvedMetric = {
  name: 'error-rate',
  source: 'builtIn',
  query: 'vector(0)',
  successCondition: 'result < 0.05',
  intervalMilliseconds: 1_000,
  count: 1,
  initialDelayMilliseconds: 0,
  failureLimit: 0,
  inconclusiveLimit: 0,
  consecutiveErrorLimit: 0,
};

describe('metric providers', () => {
  const providers = createMetricProviders({ prometheus: { defaultPrometheusUrl: 'http://127.0.0.1:9' } });

  it('measures a resolved metric that names no provider with Prometheus, as metrics resolved before others were', () => {
    expect(providerOfResolved(metric, providers)).toMatchObject({ key: 'prometheus', name: 'Prometheus' });
  });

  it('refuses non-retryably a metric of a provider the worker does not have, naming the metric', async () => {
    await expect(
      measureMetric({ metric: { ...metric, provider: 'datadog' } }, providers),
    ).rejects.toMatchObject({
      type: 'InvalidConfiguration',
      nonRetryable: true,
      message: expect.stringMatching(/^metric "error-rate" \(builtIn\) is measured by provider "datadog"/),
    });
  });

  it('has the bridge’s providers, made without the worker’s settings, check metrics but never measure', async () => {
    const [prometheus] = createMetricProviders();
    await expect(prometheus!.measure(metric)).rejects.toThrow(/only with the worker’s settings/);
  });
});
