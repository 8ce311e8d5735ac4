import type { Metric } from '../../schemas/analysis';
import type { ResolvedMetric } from '../resolved-metric';
import type { MetricProvider } from './metric-provider';
import { prometheusProvider, type PrometheusSettings } from './prometheus';

export type { MetricLocation, MetricProvider, Reading, ResolvedMeasurement } from './metric-provider';

/**
 * The provider of metrics that name none in their resolved form: Prometheus, the first, so that
 * metrics resolved before there were others measure as they did.
 */
export const FIRST_PROVIDER_KEY = 'prometheus';

/** The worker's settings for each provider, by its key. */
export interface MetricProviderSettings {
  prometheus: PrometheusSettings;
}

/**
 * Every metric provider Siirto has, made from the worker's settings (or from none, in the bridge);
 * adding one is adding its module and a line here.
 */
export function createMetricProviders(settings?: MetricProviderSettings): MetricProvider[] {
  return [prometheusProvider(settings?.prometheus)];
}

/** The provider a metric names; the schema lets a metric name exactly one. */
export function providerOf(metric: Metric, providers: readonly MetricProvider[]): MetricProvider {
  const provider = providers.find((candidate) => candidate.handles(metric));
  if (!provider) throw new Error(`metric "${metric.name}" names no provider Siirto has`);
  return provider;
}

/** The provider that measures a resolved metric: the one it names, or Prometheus, the first of them. */
export function providerOfResolved(
  metric: ResolvedMetric,
  providers: readonly MetricProvider[],
): MetricProvider | undefined {
  return providers.find((candidate) => candidate.key === (metric.provider ?? FIRST_PROVIDER_KEY));
}
