import type { Measurement, MetricResult } from '../schemas/analysis';
import type { ResolvedMetric } from './resolved-metric';

/** How many measurements the status keeps per metric: enough to see a trend, bounded. */
export const KEPT_MEASUREMENTS = 5;

/**
 * The running count of one metric's measurements and the phase they add up to. Pure, so the rules
 * that decide a rollout's fate are unit-tested and replay the same.
 */
export interface MetricTally extends MetricResult {
  /** Errors since the last measurement that could be taken. */
  consecutiveErrors: number;
  /** Measurements taken, of any verdict. */
  taken: number;
}

export function newTally(name: string): MetricTally {
  return {
    name,
    phase: 'Running',
    successful: 0,
    failed: 0,
    inconclusive: 0,
    errors: 0,
    consecutiveErrors: 0,
    taken: 0,
    measurements: [],
  };
}

/**
 * Adds a measurement. Failures beyond `failureLimit` fail the metric; inconclusive measurements beyond
 * `inconclusiveLimit` hold it Inconclusive until a successful one lifts the hold; errors beyond
 * `consecutiveErrorLimit` in a row count as one inconclusive measurement. A metric that has taken its
 * count completes on its next successful measurement: nothing else ever completes it.
 */
export function recordMeasurement(
  tally: MetricTally,
  metric: ResolvedMetric,
  measurement: Measurement,
): MetricTally {
  const next: MetricTally = {
    ...tally,
    taken: tally.taken + 1,
    measurements: [...tally.measurements, measurement].slice(-KEPT_MEASUREMENTS),
  };
  if (tally.phase === 'Failed' || tally.phase === 'Successful') return next;
  switch (measurement.verdict) {
    case 'Successful':
      next.successful++;
      next.consecutiveErrors = 0;
      if (next.phase === 'Inconclusive') {
        next.phase = 'Running';
        next.inconclusive = 0;
      }
      break;
    case 'Failed':
      next.failed++;
      next.consecutiveErrors = 0;
      if (next.failed > metric.failureLimit) next.phase = 'Failed';
      break;
    case 'Inconclusive':
      next.inconclusive++;
      next.consecutiveErrors = 0;
      break;
    case 'Error':
      next.errors++;
      next.consecutiveErrors++;
      if (next.consecutiveErrors > metric.consecutiveErrorLimit) {
        next.inconclusive++;
        next.consecutiveErrors = 0;
      }
      break;
  }
  if (next.phase === 'Running' && next.inconclusive > metric.inconclusiveLimit) next.phase = 'Inconclusive';
  // Only a successful measurement ends a metric well: a count run out on errors or missing data must
  // not pass for a verdict, so the metric keeps measuring until one succeeds (or enough fail).
  const countReached = metric.count !== undefined && next.taken >= metric.count;
  if (next.phase === 'Running' && countReached && measurement.verdict === 'Successful') {
    next.phase = 'Successful';
  }
  return next;
}

/**
 * Adds a measurement that can never be taken as the metric is written (a query Prometheus cannot
 * parse, an address the worker may not query): an `Error` that fails the metric at once, since
 * measuring again would only find the same, and an analysis that cannot measure must never pass.
 */
export function recordUnusable(tally: MetricTally, message: string, measuredAt: string): MetricTally {
  return {
    ...tally,
    phase: 'Failed',
    taken: tally.taken + 1,
    errors: tally.errors + 1,
    consecutiveErrors: tally.consecutiveErrors + 1,
    measurements: [...tally.measurements, { verdict: 'Error' as const, message, measuredAt }].slice(
      -KEPT_MEASUREMENTS,
    ),
  };
}

/**
 * The rollout has no steps left, so a background analysis must come to a verdict: a metric still
 * measuring completes once its latest measurement succeeded. Until then it keeps measuring, so the
 * canary is never promoted on a delay not yet over, on missing data or on a failure just tolerated.
 */
export function concludeTally(tally: MetricTally): MetricTally {
  if (tally.phase !== 'Running' || tally.measurements.at(-1)?.verdict !== 'Successful') return tally;
  return { ...tally, phase: 'Successful' };
}

/** The verdict of several metrics: one failure fails all; one hold holds all; all must succeed. */
export function analysisPhase(tallies: readonly MetricTally[]): MetricResult['phase'] {
  if (tallies.some((tally) => tally.phase === 'Failed')) return 'Failed';
  if (tallies.some((tally) => tally.phase === 'Inconclusive')) return 'Inconclusive';
  if (tallies.every((tally) => tally.phase === 'Successful')) return 'Successful';
  return 'Running';
}

/** The status view of a tally: what `kubectl get rollout -o yaml` and the CLI show. */
export function metricResult(tally: MetricTally): MetricResult {
  const { consecutiveErrors: _consecutiveErrors, taken: _taken, ...result } = tally;
  return result;
}
