import type { MeasurementVerdict } from '../schemas/analysis';

/**
 * A metric ready to measure: its template found, its arguments substituted, its durations in
 * milliseconds. This is what a rollout workflow carries, so it holds no secrets: queries and
 * conditions only, never credentials (the worker holds those).
 */
export interface ResolvedMetric {
  /** Unique within the analysis: the metric's own name, or `error-rate` / `latency-p95` for built-ins. */
  name: string;
  /** Where it came from, for messages: `AnalysisTemplate shop/success-rate`, `builtIn`. */
  source: string;
  /**
   * The key of the metric provider that measures it; absent for Prometheus, so that metrics resolved
   * before there were other providers measure as they did.
   */
  provider?: string;
  /** The provider's base URL; absent means the worker's default. */
  address?: string;
  /** What to ask the provider, its arguments filled in: a PromQL query for Prometheus. */
  query: string;
  successCondition?: string;
  failureCondition?: string;
  intervalMilliseconds: number;
  /** Absent: measure until the analysis is ended from outside (background analysis). */
  count?: number;
  initialDelayMilliseconds: number;
  failureLimit: number;
  inconclusiveLimit: number;
  consecutiveErrorLimit: number;
}

/** What one measurement found, as the measurement activity returns it. */
export interface MeasurementOutcome {
  verdict: MeasurementVerdict;
  /** The number as text (NaN and ±Inf survive JSON); absent when there was none. */
  value?: string;
  /** The condition that decided (`result < 0.05 held`), or what went wrong, for people to read. */
  message: string;
}

/** What the queries of an analysis may use as `{{args.NAME}}` without the Rollout passing them. */
export interface AnalysisContext {
  namespace: string;
  rollout: string;
  canaryHash: string;
  stableHash: string;
  canaryService: string;
  stableService: string;
}
