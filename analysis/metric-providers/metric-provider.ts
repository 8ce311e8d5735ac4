import type { Metric } from '../../schemas/analysis';
import type { MeasurementOutcome, ResolvedMetric } from '../resolved-metric';

/** Where a metric of an analysis is defined, for messages. */
export interface MetricLocation {
  /** What defined the metric: `AnalysisTemplate shop/success-rate` or `builtIn`. */
  source: string;
  /** The full name of one of the metric's fields in messages, from its path in a Metric. */
  fieldOf: (property: string) => string;
  /** How to give an argument the metric lacks. */
  supply: string;
}

/** What a provider makes of a metric's provider config: the fields of a ResolvedMetric it measures by. */
export type ResolvedMeasurement = Pick<ResolvedMetric, 'address' | 'query'>;

/** The number a measurement read, or the outcome that stands in for a number it could not read. */
export type Reading = { value: number; text: string } | MeasurementOutcome;

/**
 * Where the numbers of a metric come from (Prometheus, say), and everything about it: checking what
 * a metric's `provider.<key>` says, filling in its arguments, and taking a measurement. A provider is
 * bound to the worker's settings for it; the bridge, which only checks metrics, binds it to none.
 * Adding a provider is adding a module that implements this, and listing it in index.ts.
 */
export interface MetricProvider {
  /** The field of a metric's `provider` it serves, as users write it: `prometheus`. */
  readonly key: string;
  /** How messages name it: `Prometheus`. */
  readonly name: string;
  handles(metric: Metric): boolean;
  /** The `{{args.NAME}}` names the metric's provider config uses, each once. */
  argumentNames(metric: Metric): string[];
  /**
   * The metric's provider config with its arguments filled in from `values`, checked; throws an
   * AnalysisConfigurationError listing every problem, each naming its field (`where.fieldOf(...)`)
   * and the fix.
   */
  resolve(metric: Metric, where: MetricLocation, values: ReadonlyMap<string, string>): ResolvedMeasurement;
  /**
   * Takes one measurement of a resolved metric. What cannot be measured this time (no answer, an
   * error answer) is an `Error` outcome, and no data an `Inconclusive` one; what asking again cannot
   * mend fails non-retryably with type `InvalidConfiguration`.
   */
  measure(metric: ResolvedMetric): Promise<Reading>;
}
