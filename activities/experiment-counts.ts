import { ApplicationFailure } from '@temporalio/common';
import { AnalysisConfigurationError, INVALID_CONFIGURATION } from '../analysis/analysis-configuration-error';
import { variantQueries, type VariantQueries } from '../analysis/experiment-queries';
import { createMetricProviders, type MetricProvider } from '../analysis/metric-providers';
import type { ResolvedMetric } from '../analysis/resolved-metric';
import type { AbTestingAnalysis } from '../schemas/rollout';
import type { RolloutRef } from '../workflows/rollout-api';
import type { PrometheusSettings } from './prometheus-settings';

/** What an A/B experiment counts of one variant so far; the guardrail's counts when it has one. */
export interface VariantCounts {
  successes: number;
  trials: number;
  errors?: number;
  requests?: number;
}

export interface ExperimentCountsInput {
  rollout: RolloutRef;
  analysis: AbTestingAnalysis;
  /** Where the analysis sits in the Rollout, for messages: `spec.strategy.abTesting.analysis`. */
  field: string;
  /** The pod-template hash of each variant: A the stable revision, B the new one. */
  hashes: { A: string; B: string };
  /** Seconds since the experiment's traffic began: what the queries count over. */
  elapsedSeconds: number;
}

export interface ExperimentCounts {
  A: VariantCounts;
  B: VariantCounts;
}

export interface ExperimentActivities {
  /**
   * Counts each variant's successes and trials (and, with an error-rate guardrail, its errors and
   * requests) since the experiment began, from Prometheus. A query that matches no series counts 0
   * (no traffic yet, or no errors). Fails retryably while Prometheus cannot answer, and non-retryably
   * with type `InvalidConfiguration` when a query cannot be run as written or returns more than one
   * number.
   */
  countExperiment(input: ExperimentCountsInput): Promise<ExperimentCounts>;
}

export function createExperimentActivities(prometheus: PrometheusSettings): ExperimentActivities {
  const providers = createMetricProviders({ prometheus });
  return { countExperiment: (input) => countExperiment(input, providers) };
}

export async function countExperiment(
  { rollout, analysis, field, hashes, elapsedSeconds }: ExperimentCountsInput,
  providers: readonly MetricProvider[],
): Promise<ExperimentCounts> {
  const count = async (variant: 'A' | 'B'): Promise<VariantCounts> => {
    let queries: VariantQueries;
    try {
      queries = variantQueries(analysis, field, {
        namespace: rollout.namespace,
        rollout: rollout.name,
        variant,
        hash: hashes[variant],
        elapsedSeconds,
      });
    } catch (error) {
      if (!(error instanceof AnalysisConfigurationError)) throw error;
      throw ApplicationFailure.nonRetryable(error.message, INVALID_CONFIGURATION);
    }
    const [successes, trials, errors, requests] = await Promise.all([
      measure(queries.successes, `${field}.successQuery`, variant, providers),
      measure(queries.trials, `${field}.trialsQuery`, variant, providers),
      queries.errors === undefined
        ? undefined
        : measure(queries.errors, `${field}.guardrails.errorRate.errorsQuery`, variant, providers),
      queries.requests === undefined
        ? undefined
        : measure(queries.requests, `${field}.guardrails.errorRate.requestsQuery`, variant, providers),
    ]);
    // increase() extrapolates to the window's edges: counts are whole, and never more successes than trials.
    return {
      successes: Math.min(successes, trials),
      trials,
      ...(errors === undefined || requests === undefined
        ? {}
        : { errors: Math.min(errors, requests), requests }),
    };
  };
  const [A, B] = await Promise.all([count('A'), count('B')]);
  return { A, B };
}

/** One count: the query's number rounded to a whole, 0 when it matched no series. */
async function measure(
  query: string,
  source: string,
  variant: 'A' | 'B',
  providers: readonly MetricProvider[],
): Promise<number> {
  const metric: ResolvedMetric = {
    name: `${source} of ${variant}`,
    source,
    query,
    intervalMilliseconds: 0,
    initialDelayMilliseconds: 0,
    failureLimit: 0,
    inconclusiveLimit: 0,
    consecutiveErrorLimit: 0,
  };
  const provider = providers.find((candidate) => candidate.key === 'prometheus');
  if (!provider) throw new Error('this worker has no Prometheus provider');
  const reading = await provider.measure(metric);
  if (!('verdict' in reading)) return Math.max(0, Math.round(reading.value));
  if (reading.verdict === 'Error') throw new Error(`${source} of variant ${variant}: ${reading.message}`);
  // No series, or NaN: nothing counted yet.
  if (reading.message.startsWith('no data') || reading.value === 'NaN') return 0;
  throw ApplicationFailure.nonRetryable(
    `${source} of variant ${variant} does not count: ${reading.message}. Fix the query: ${query}`,
    INVALID_CONFIGURATION,
  );
}
