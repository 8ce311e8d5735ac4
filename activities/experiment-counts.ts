import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { AnalysisConfigurationError, INVALID_CONFIGURATION } from '../analysis/analysis-configuration-error';
import {
  DEFAULT_LATENCY_HISTOGRAM,
  thresholdArgument,
  variantQueries,
  type VariantQueries,
} from '../analysis/experiment-queries';
import { escapeStringContent } from '../analysis/query-arguments';
import { createMetricProviders, type MetricProvider } from '../analysis/metric-providers';
import type { ResolvedMetric } from '../analysis/resolved-metric';
import type { AbTestingAnalysis } from '../schemas/rollout';
import type { RolloutRef } from '../workflows/rollout-api';
import type { PrometheusSettings } from './prometheus-settings';
import { beatingWhileRunning } from './liveness-beats';

/** What an A/B experiment counts of one variant so far; each guardrail's counts when it has one. */
export interface VariantCounts {
  successes: number;
  trials: number;
  /** The error-rate guardrail's: failed requests of all requests. */
  errors?: number;
  requests?: number;
  /** The latency guardrail's: requests slower than its threshold of all the histogram timed. */
  slowRequests?: number;
  timedRequests?: number;
}

/**
 * The bucket bounds (`le` values) a histogram's series of one variant carry, as Prometheus writes them;
 * how a threshold that is not one of them is told apart from no traffic.
 */
export type BucketBounds = (histogram: string, namespace: string, hash: string) => Promise<string[]>;

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
   * requests; with a latency guardrail, its requests slower than the threshold and all it timed) since
   * the experiment began, from Prometheus. A query that matches no series counts 0 (no traffic yet, or
   * no errors). Fails retryably while Prometheus cannot answer, and non-retryably with type
   * `InvalidConfiguration` when a query cannot be run as written or returns more than one number, or
   * when the latency threshold is not a bucket bound of the histogram (the message lists its bounds).
   */
  countExperiment(input: ExperimentCountsInput): Promise<ExperimentCounts>;
}

export function createExperimentActivities(prometheus: PrometheusSettings): ExperimentActivities {
  const providers = createMetricProviders({ prometheus });
  const bounds = prometheusBucketBounds(prometheus);
  return beatingWhileRunning({ countExperiment: (input) => countExperiment(input, providers, bounds) });
}

export async function countExperiment(
  { rollout, analysis, field, hashes, elapsedSeconds }: ExperimentCountsInput,
  providers: readonly MetricProvider[],
  bucketBounds?: BucketBounds,
): Promise<ExperimentCounts> {
  const latency = analysis.guardrails?.latency;
  const latencyField = `${field}.guardrails.latency`;
  /**
   * Requests within the threshold, all the histogram timed, and the slow ones between them. A bucket
   * that matches no series while the histogram timed requests means the threshold is not one of its
   * bounds: the guardrail could never see a slow request, so the experiment stops with the bounds there
   * are.
   */
  const countSlow = async (variant: 'A' | 'B', within: string, timed: string) => {
    const [withinThreshold, timedRequests] = await Promise.all([
      measureSeries(within, `${latencyField}.withinThresholdQuery`, variant, providers),
      measure(timed, `${latencyField}.requestsQuery`, variant, providers),
    ]);
    if (withinThreshold === undefined && timedRequests > 0 && latency) {
      await refuseThreshold(latency, variant);
    }
    const fast = Math.min(withinThreshold ?? 0, timedRequests);
    return { slowRequests: timedRequests - fast, timedRequests };
  };
  const refuseThreshold = async (
    { thresholdSeconds, withinThresholdQuery }: NonNullable<typeof latency>,
    variant: 'A' | 'B',
  ): Promise<never> => {
    const threshold = thresholdArgument(thresholdSeconds);
    if (withinThresholdQuery !== undefined) {
      throw ApplicationFailure.nonRetryable(
        `${latencyField}.withinThresholdQuery matched no series for variant ${variant} while requestsQuery ` +
          `counted its requests: the bucket it reads is not there; make {{args.threshold}} (${threshold}) ` +
          'one of the histogram’s bucket bounds (le), or fix the query',
        INVALID_CONFIGURATION,
      );
    }
    const bounds = bucketBounds
      ? await bucketBounds(DEFAULT_LATENCY_HISTOGRAM, rollout.namespace, hashes[variant])
      : [];
    const listed = bounds.filter((bound) => !Number.isNaN(Number(bound)));
    if (listed.length === 0 || listed.includes(threshold)) {
      // The bucket appeared between the two queries, or the bounds cannot be read: look again later.
      throw new Error(
        `${latencyField}: no ${DEFAULT_LATENCY_HISTOGRAM} bucket le="${threshold}" for variant ${variant} yet`,
      );
    }
    const sorted = listed.sort((a, b) => Number(a) - Number(b));
    const same = sorted.find((bound) => Number(bound) === thresholdSeconds);
    throw ApplicationFailure.nonRetryable(
      same === undefined
        ? `${latencyField}.thresholdSeconds: ${threshold} is not a bucket bound of ${DEFAULT_LATENCY_HISTOGRAM} ` +
            `for variant ${variant}'s pods, whose bounds (le) are ${sorted.join(', ')}; set thresholdSeconds to one of them`
        : `${latencyField}.thresholdSeconds: ${DEFAULT_LATENCY_HISTOGRAM} writes this bound le="${same}", not ` +
            `"${threshold}"; set withinThresholdQuery with le="${same}"`,
      INVALID_CONFIGURATION,
    );
  };
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
    const [successes, trials, errors, requests, slow] = await Promise.all([
      measure(queries.successes, `${field}.successQuery`, variant, providers),
      measure(queries.trials, `${field}.trialsQuery`, variant, providers),
      queries.errors === undefined
        ? undefined
        : measure(queries.errors, `${field}.guardrails.errorRate.errorsQuery`, variant, providers),
      queries.requests === undefined
        ? undefined
        : measure(queries.requests, `${field}.guardrails.errorRate.requestsQuery`, variant, providers),
      queries.withinThreshold === undefined || queries.timedRequests === undefined
        ? undefined
        : countSlow(variant, queries.withinThreshold, queries.timedRequests),
    ]);
    // increase() extrapolates to the window's edges: counts are whole, and never more successes than trials.
    return {
      successes: Math.min(successes, trials),
      trials,
      ...(errors === undefined || requests === undefined
        ? {}
        : { errors: Math.min(errors, requests), requests }),
      ...slow,
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
  return (await measureSeries(query, source, variant, providers)) ?? 0;
}

/** One count: the query's number rounded to a whole, undefined when it matched no series. */
async function measureSeries(
  query: string,
  source: string,
  variant: 'A' | 'B',
  providers: readonly MetricProvider[],
): Promise<number | undefined> {
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
  if (reading.message.startsWith('no data')) return undefined;
  if (reading.value === 'NaN') return 0;
  throw ApplicationFailure.nonRetryable(
    `${source} of variant ${variant} does not count: ${reading.message}. Fix the query: ${query}`,
    INVALID_CONFIGURATION,
  );
}

const LabelValuesSchema = z.object({ status: z.literal('success'), data: z.array(z.string()) });

/**
 * Reads a histogram's bucket bounds from Prometheus' label-values API: the `le` values of its series
 * for one variant's pods. The default Prometheus only, where the default queries go.
 */
export function prometheusBucketBounds(prometheus: PrometheusSettings): BucketBounds {
  return async (histogram, namespace, hash) => {
    const base = prometheus.defaultPrometheusUrl;
    const url = new URL('api/v1/label/le/values', base.endsWith('/') ? base : `${base}/`);
    const value = (text: string) => `"${escapeStringContent(text, '"')}"`;
    url.searchParams.set(
      'match[]',
      `${histogram}_bucket{namespace=${value(namespace)},siirto_dev_pod_template_hash=${value(hash)}}`,
    );
    const response = await fetch(url, {
      signal: AbortSignal.timeout(prometheus.timeoutMilliseconds ?? 10_000),
    });
    if (!response.ok)
      throw new Error(`Prometheus answered ${response.status} for the bounds of ${histogram}`);
    return LabelValuesSchema.parse(await response.json()).data;
  };
}
