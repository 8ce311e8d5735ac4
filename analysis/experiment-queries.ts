import type { AbTestingAnalysis } from '../schemas/rollout';
import { AnalysisConfigurationError } from './analysis-configuration-error';
import { substituteArguments } from './query-arguments';

/**
 * The PromQL an A/B experiment counts each variant with: its successes and trials, the errors and
 * requests its error-rate guardrail compares, and the requests within a latency threshold and all the
 * timed ones its latency guardrail compares. A query the Rollout leaves out counts the sample app's
 * http_requests_total (or its http_request_duration_seconds histogram) of the variant's pods
 * (Prometheus maps the pod label siirto.dev/pod-template-hash to siirto_dev_pod_template_hash). Each placeholder is filled by query-arguments.ts, escaped, so a
 * value can only ever be a value.
 */

const SELECTOR = 'namespace="{{args.namespace}}",siirto_dev_pod_template_hash="{{args.variant-hash}}"';
const REQUESTS = `sum(increase(http_requests_total{${SELECTOR}}[{{args.elapsed}}]))`;

export const DEFAULT_EXPERIMENT_QUERIES = {
  successQuery: `sum(increase(http_requests_total{${SELECTOR},code!~"5.."}[{{args.elapsed}}]))`,
  trialsQuery: REQUESTS,
  errorsQuery: `sum(increase(http_requests_total{${SELECTOR},code=~"5.."}[{{args.elapsed}}]))`,
  requestsQuery: REQUESTS,
  withinThresholdQuery: `sum(increase(http_request_duration_seconds_bucket{${SELECTOR},le="{{args.threshold}}"}[{{args.elapsed}}]))`,
  timedRequestsQuery: `sum(increase(http_request_duration_seconds_count{${SELECTOR}}[{{args.elapsed}}]))`,
} as const;

/** The histogram the latency guardrail reads unless its queries are set, and its selector's labels. */
export const DEFAULT_LATENCY_HISTOGRAM = 'http_request_duration_seconds';

/** What the placeholders of one variant's queries stand for. */
export interface VariantContext {
  namespace: string;
  rollout: string;
  variant: 'A' | 'B';
  /** The variant's pod-template hash. */
  hash: string;
  /** Seconds since the experiment's traffic began. */
  elapsedSeconds: number;
}

/** One variant's queries, ready to run; the guardrail's only when the Rollout has one. */
export interface VariantQueries {
  successes: string;
  trials: string;
  errors?: string;
  requests?: string;
  /** The latency guardrail's: requests answered within its threshold, and all it timed. */
  withinThreshold?: string;
  timedRequests?: string;
}

/** `0.5`: a threshold as `{{args.threshold}}` writes it, the way Prometheus clients write `le`. */
export function thresholdArgument(seconds: number): string {
  return String(seconds);
}

/** `95s`: the time since the experiment began as a PromQL range, at least a second. */
export function elapsedRange(seconds: number): string {
  return `${Math.max(1, Math.ceil(seconds))}s`;
}

/**
 * The variant's queries with every placeholder filled. `field` is where the analysis sits, such as
 * `spec.strategy.abTesting.analysis`. Throws an AnalysisConfigurationError naming each query's field
 * and the fix when a placeholder has no value or a value could not stand where it is.
 */
export function variantQueries(
  analysis: AbTestingAnalysis,
  field: string,
  context: VariantContext,
): VariantQueries {
  const values = new Map([
    ['namespace', context.namespace],
    ['rollout', context.rollout],
    ['variant', context.variant],
    ['variant-hash', context.hash],
    ['elapsed', elapsedRange(context.elapsedSeconds)],
  ]);
  const latency = analysis.guardrails?.latency;
  // The threshold only means something to the latency guardrail's own queries.
  const latencyValues = new Map(values);
  if (latency) latencyValues.set('threshold', thresholdArgument(latency.thresholdSeconds));
  const problems: string[] = [];
  const fill = (query: string, usedIn: string, withThreshold = false): string => {
    try {
      return substituteArguments(query, withThreshold ? latencyValues : values, {
        usedIn,
        supply: withThreshold
          ? 'use only namespace, rollout, variant, variant-hash, elapsed and threshold'
          : 'use only namespace, rollout, variant, variant-hash and elapsed',
      });
    } catch (error) {
      if (!(error instanceof AnalysisConfigurationError)) throw error;
      problems.push(...error.problems);
      return query;
    }
  };
  const errorRate = analysis.guardrails?.errorRate;
  const queries: VariantQueries = {
    successes: fill(
      analysis.successQuery ?? DEFAULT_EXPERIMENT_QUERIES.successQuery,
      `${field}.successQuery`,
    ),
    trials: fill(analysis.trialsQuery ?? DEFAULT_EXPERIMENT_QUERIES.trialsQuery, `${field}.trialsQuery`),
    ...(errorRate
      ? {
          errors: fill(
            errorRate.errorsQuery ?? DEFAULT_EXPERIMENT_QUERIES.errorsQuery,
            `${field}.guardrails.errorRate.errorsQuery`,
          ),
          requests: fill(
            errorRate.requestsQuery ?? DEFAULT_EXPERIMENT_QUERIES.requestsQuery,
            `${field}.guardrails.errorRate.requestsQuery`,
          ),
        }
      : {}),
    ...(latency
      ? {
          withinThreshold: fill(
            latency.withinThresholdQuery ?? DEFAULT_EXPERIMENT_QUERIES.withinThresholdQuery,
            `${field}.guardrails.latency.withinThresholdQuery`,
            true,
          ),
          timedRequests: fill(
            latency.requestsQuery ?? DEFAULT_EXPERIMENT_QUERIES.timedRequestsQuery,
            `${field}.guardrails.latency.requestsQuery`,
            true,
          ),
        }
      : {}),
  };
  // Each variant's problems are the same: say them once, for A.
  if (problems.length > 0) throw new AnalysisConfigurationError([...new Set(problems)]);
  return queries;
}
