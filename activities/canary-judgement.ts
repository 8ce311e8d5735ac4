import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { scopeJudgeQuery, type JudgedRole, type JudgeScope } from '../analysis/judge-query';
import { INVALID_CONFIGURATION } from '../analysis/analysis-configuration-error';
import { judgeCanary, type JudgedMetricSettings } from '../analysis/statistics/canary-judge';
import { parseDuration } from '../schemas/duration';
import type { CanaryJudge } from '../schemas/analysis';
import type { RolloutRef } from '../workflows/rollout-api';
import type { Judgement } from './canary-judge-activities';
import type { PrometheusSettings } from './prometheus-settings';

const DEFAULT_TIMEOUT_MILLISECONDS = 10_000;

const RangeResponseSchema = z.object({
  status: z.enum(['success', 'error']),
  data: z
    .object({
      resultType: z.string(),
      result: z.array(
        z.object({
          metric: z.record(z.string(), z.string()),
          values: z.array(z.tuple([z.number(), z.string()])),
        }),
      ),
    })
    .optional(),
  errorType: z.string().optional(),
  error: z.string().optional(),
});

/** What the judge settles per metric: the judge's own defaults where the metric sets none. */
export function judgedMetricSettings(judge: CanaryJudge): JudgedMetricSettings[] {
  return judge.metrics.map((metric) => ({
    name: metric.name,
    direction: metric.direction,
    critical: metric.critical,
    weight: metric.weight,
    nanStrategy: metric.nanStrategy,
    confidenceLevel: judge.confidenceLevel,
    tolerance: metric.tolerance ?? judge.tolerance,
    ...(metric.allowedIncrease !== undefined && { allowedIncrease: metric.allowedIncrease }),
    ...(metric.allowedDecrease !== undefined && { allowedDecrease: metric.allowedDecrease }),
    ...(metric.criticalIncrease !== undefined && { criticalIncrease: metric.criticalIncrease }),
    ...(metric.criticalDecrease !== undefined && { criticalDecrease: metric.criticalDecrease }),
    ...(metric.mustHaveData !== undefined && { mustHaveData: metric.mustHaveData }),
    ...(metric.outliers !== undefined && { outliers: metric.outliers }),
  }));
}

/**
 * Every value of every series the query returns over [from, to] at `step`: one sample per pod (or
 * series) per step. NaN stays NaN, for the metric's nanStrategy to settle.
 */
export async function rangeSamples(
  settings: PrometheusSettings,
  query: string,
  range: { from: number; to: number; stepMilliseconds: number },
  describe: string,
): Promise<number[]> {
  const base = settings.defaultPrometheusUrl;
  const timeout = settings.timeoutMilliseconds ?? DEFAULT_TIMEOUT_MILLISECONDS;
  const response = await fetch(new URL('api/v1/query_range', base.endsWith('/') ? base : `${base}/`), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      query,
      start: (range.from / 1_000).toFixed(3),
      end: (range.to / 1_000).toFixed(3),
      step: `${range.stepMilliseconds / 1_000}s`,
      timeout: `${Math.ceil(timeout / 1_000)}s`,
    }),
    signal: AbortSignal.timeout(timeout),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(
      `Prometheus at ${base} answered HTTP ${response.status} with no query result: ${text.slice(0, 200)}`,
    );
  }
  const parsed = RangeResponseSchema.safeParse(json);
  if (parsed.success && response.status === 400 && parsed.data.errorType === 'bad_data') {
    throw ApplicationFailure.nonRetryable(
      `Prometheus cannot run the query of ${describe}: ${parsed.data.error ?? 'bad_data'}. Fix the query: ${query}`,
      INVALID_CONFIGURATION,
    );
  }
  if (!parsed.success || response.status !== 200 || !parsed.data.data) {
    // Retried by the activity's policy: Prometheus may be restarting.
    throw new Error(`Prometheus at ${base} answered HTTP ${response.status}: ${text.slice(0, 200)}`);
  }
  if (parsed.data.data.resultType !== 'matrix') {
    throw ApplicationFailure.nonRetryable(
      `the query of ${describe} returned a ${parsed.data.data.resultType}, not series: return an instant vector, such as sum by (pod) (...)`,
      INVALID_CONFIGURATION,
    );
  }
  return parsed.data.data.result.flatMap((series) => series.values.map(([, value]) => Number(value)));
}

/** One judgement: each metric's samples for baseline and canary over the last interval, judged. */
export async function judgeInterval(
  settings: PrometheusSettings,
  input: { rollout: RolloutRef; judge: CanaryJudge; scope: JudgeScope; field: string },
  now = Date.now(),
): Promise<Judgement> {
  const { judge, scope, field } = input;
  const interval = parseDuration(judge.interval) ?? 30_000;
  const stepMilliseconds = parseDuration(judge.step) ?? 5_000;
  const range = { from: now - interval, to: now, stepMilliseconds };
  const roles: JudgedRole[] = ['baseline', 'canary'];
  const samples = await Promise.all(
    judge.metrics.map(async (metric, index) => {
      const [baseline, canary] = await Promise.all(
        roles.map((role) =>
          rangeSamples(
            settings,
            scopeJudgeQuery(metric.query, role, scope, stepMilliseconds),
            range,
            `metric "${metric.name}" (${field}.metrics[${index}].query, for the ${role})`,
          ),
        ),
      );
      return { name: metric.name, baseline: baseline ?? [], canary: canary ?? [] };
    }),
  );
  const result = judgeCanary(samples, judgedMetricSettings(judge), judge.thresholds);
  return {
    ...result,
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
    samples: samples.map(({ name, baseline, canary }) => ({
      name,
      baseline: baseline.length,
      canary: canary.length,
    })),
  };
}
