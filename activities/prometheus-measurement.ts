import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { FailureType } from '../reasons/rollout-reasons';
import { evaluateCondition, parseCondition, type Condition } from '../analysis/condition';
import type { MeasurementOutcome, ResolvedMetric } from '../analysis/resolved-metric';
import { formatDuration } from '../schemas/duration';
import { refusedAddressProblem } from '../analysis/prometheus-addresses';
import { prometheusAllowList, type PrometheusSettings } from './prometheus-settings';

const DEFAULT_TIMEOUT_MILLISECONDS = 10_000;

/** A sample as Prometheus' JSON writes it: a float timestamp in seconds and the value as text. */
const SampleSchema = z.tuple([z.number(), z.string()]);

const QueryResponseSchema = z.object({
  status: z.enum(['success', 'error']),
  data: z.object({ resultType: z.string(), result: z.unknown() }).optional(),
  errorType: z.string().optional(),
  error: z.string().optional(),
});

const VectorSchema = z.array(
  z.object({ metric: z.record(z.string(), z.string()), value: SampleSchema.optional() }),
);

/**
 * Takes one measurement of a metric: an instant query, its number judged by the metric's conditions.
 * Never retries: a measurement that cannot be taken is an `Error` outcome, and the workflow's limits
 * decide what errors mean. Missing data, NaN and ±Inf are `Inconclusive`, so an idle canary is never
 * judged Successful. A query Prometheus cannot parse, or an address the worker may not query (see
 * analysis/prometheus-addresses.ts), fails non-retryably with type `InvalidConfiguration`, since asking
 * again cannot mend it.
 */
export async function measureMetric(
  { metric }: { metric: ResolvedMetric },
  settings: PrometheusSettings,
): Promise<MeasurementOutcome> {
  const conditions = parseConditions(metric);
  // Resolution refused such addresses already; this guards a metric resolved under other settings.
  if (metric.address !== undefined && !prometheusAllowList(settings).allows(metric.address)) {
    throw ApplicationFailure.nonRetryable(
      refusedAddressProblem(
        `metric "${metric.name}" (${metric.source}) provider.prometheus.address`,
        metric.address,
      ),
      FailureType.InvalidConfiguration,
    );
  }
  const answer = await query(metric, settings);
  if ('verdict' in answer) return answer;
  return judge(answer.value, answer.text, conditions);
}

interface Conditions {
  success?: { text: string; condition: Condition };
  failure?: { text: string; condition: Condition };
}

function parseConditions(metric: ResolvedMetric): Conditions {
  const parse = (text: string | undefined, which: string) => {
    if (text === undefined) return undefined;
    try {
      return { text, condition: parseCondition(text) };
    } catch (error) {
      // Resolution checked the conditions; this guards a metric built some other way.
      throw ApplicationFailure.nonRetryable(
        `the ${which} condition of metric "${metric.name}" (${metric.source}) is malformed: ${(error as Error).message}`,
        FailureType.InvalidConfiguration,
      );
    }
  };
  return {
    success: parse(metric.successCondition, 'success'),
    failure: parse(metric.failureCondition, 'failure'),
  };
}

/** The number Prometheus answered with, or the outcome that stands in for a number it could not give. */
async function query(
  metric: ResolvedMetric,
  settings: PrometheusSettings,
): Promise<{ value: number; text: string } | MeasurementOutcome> {
  const base = metric.address ?? settings.defaultPrometheusUrl;
  const timeout = settings.timeoutMilliseconds ?? DEFAULT_TIMEOUT_MILLISECONDS;
  let status: number;
  let body: string;
  try {
    // POST, so that long queries never meet a URL length limit.
    const response = await fetch(queryUrl(base), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: metric.query, timeout: `${Math.ceil(timeout / 1_000)}s` }),
      signal: AbortSignal.timeout(timeout),
    });
    status = response.status;
    body = await response.text();
  } catch (error) {
    if (errorFields(error).name === 'TimeoutError') {
      return {
        verdict: 'Error',
        message: `Prometheus at ${base} did not answer within ${formatDuration(timeout)}`,
      };
    }
    return {
      verdict: 'Error',
      message: `Prometheus at ${base} could not be reached: ${describeFetchError(error)}`,
    };
  }

  const parsed = QueryResponseSchema.safeParse(safeJson(body));
  if (!parsed.success) {
    return {
      verdict: 'Error',
      message: `Prometheus at ${base} answered HTTP ${status} with a body that is not a query result: ${abbreviate(body)}`,
    };
  }
  const response = parsed.data;
  if (status === 400 && response.errorType === 'bad_data') {
    throw ApplicationFailure.nonRetryable(
      `Prometheus cannot run the query of metric "${metric.name}" (${metric.source}): ${response.error ?? 'bad_data'}. ` +
        `Fix the query: ${metric.query}`,
      FailureType.InvalidConfiguration,
    );
  }
  if (status !== 200 || response.status !== 'success' || !response.data) {
    return {
      verdict: 'Error',
      message: `Prometheus at ${base} answered HTTP ${status}: ${response.errorType ?? 'error'}: ${response.error ?? 'no message'}`,
    };
  }
  return readResult(response.data.resultType, response.data.result);
}

/** The one number of a scalar or single-series vector; anything else is Inconclusive, saying why. */
function readResult(
  resultType: string,
  result: unknown,
): { value: number; text: string } | MeasurementOutcome {
  switch (resultType) {
    case 'scalar': {
      const sample = SampleSchema.safeParse(result);
      if (!sample.success) return unreadable(resultType, result);
      return readSample(sample.data[1]);
    }
    case 'vector': {
      const vector = VectorSchema.safeParse(result);
      if (!vector.success) return unreadable(resultType, result);
      const series = vector.data;
      if (series.length === 0) {
        return {
          verdict: 'Inconclusive',
          message: 'no data: the query matched no series (no traffic yet, or selectors that match nothing)',
        };
      }
      if (series.length > 1) {
        const shown = series.slice(0, 3).map((one) => labels(one.metric));
        return {
          verdict: 'Inconclusive',
          message:
            `the query returned ${series.length} series (${shown.join(', ')}${series.length > 3 ? ', …' : ''}), ` +
            'not one number: aggregate them, such as with sum(...) or max(...)',
        };
      }
      const value = series[0]?.value;
      if (!value) {
        return {
          verdict: 'Inconclusive',
          message: 'the query returned a native histogram, not a number: take a quantile or a count of it',
        };
      }
      return readSample(value[1]);
    }
    case 'matrix':
      return {
        verdict: 'Inconclusive',
        message:
          'the query returned a range vector, not a number: wrap the [range] selector in rate(...) or similar',
      };
    default:
      return {
        verdict: 'Inconclusive',
        message: `the query returned a ${resultType}, not a number: make it return a scalar or one series`,
      };
  }
}

/** A Prometheus value as text: a float, or `NaN`, `+Inf`, `-Inf`, which Number() alone misreads. */
function readSample(text: string): { value: number; text: string } | MeasurementOutcome {
  const value = parsePrometheusNumber(text);
  if (Number.isNaN(value)) {
    return {
      verdict: 'Inconclusive',
      value: text,
      message: `${text}: the query's result is not a number, as when a ratio divides no requests by no requests`,
    };
  }
  if (!Number.isFinite(value)) {
    return {
      verdict: 'Inconclusive',
      value: text,
      message: `${text}: the query's result is infinite, as when it divides by zero`,
    };
  }
  return { value, text };
}

export function parsePrometheusNumber(text: string): number {
  switch (text) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
    default:
      return text.trim() === '' ? Number.NaN : Number(text);
  }
}

/** Applies the conditions: a failure condition outranks a success condition, and silence is Inconclusive. */
function judge(value: number, text: string, { success, failure }: Conditions): MeasurementOutcome {
  const outcome = (verdict: MeasurementOutcome['verdict'], why: string) => ({
    verdict,
    value: text,
    message: `${text}: ${why}`,
  });
  if (failure && evaluateCondition(failure.condition, value)) {
    return outcome('Failed', `failure condition "${failure.text}" held`);
  }
  if (success && evaluateCondition(success.condition, value)) {
    return outcome('Successful', `success condition "${success.text}" held`);
  }
  if (success && failure) {
    return outcome(
      'Inconclusive',
      `neither the success condition "${success.text}" nor the failure condition "${failure.text}" held`,
    );
  }
  if (success) return outcome('Failed', `success condition "${success.text}" did not hold`);
  if (failure) return outcome('Successful', `failure condition "${failure.text}" did not hold`);
  // Resolution rejects a metric without conditions; this guards a metric built some other way.
  return outcome('Inconclusive', 'the metric has no condition to judge by');
}

/** The query endpoint under a base URL that may carry a path, as behind a proxy (`http://host/prometheus`). */
function queryUrl(base: string): URL {
  return new URL('api/v1/query', base.endsWith('/') ? base : `${base}/`);
}

function unreadable(resultType: string, result: unknown): MeasurementOutcome {
  return {
    verdict: 'Error',
    message: `Prometheus answered a ${resultType} that is not shaped as documented: ${abbreviate(JSON.stringify(result))}`,
  };
}

function labels(metric: Record<string, string>): string {
  return `{${Object.entries(metric)
    .map(([name, value]) => `${name}="${value}"`)
    .join(',')}}`;
}

/** Node's fetch says only "fetch failed"; the cause says why (ECONNREFUSED, ENOTFOUND, a TLS error). */
function describeFetchError(error: unknown): string {
  const { message, cause } = errorFields(error);
  const { code, message: causeMessage } = errorFields(cause);
  if (causeMessage === undefined) return message ?? String(error);
  return code && !causeMessage.includes(code) ? `${code} ${causeMessage}` : causeMessage;
}

/**
 * The fields of an error, read without `instanceof`: errors thrown by fetch may come from another
 * realm (a test environment's globals, for one), where `instanceof Error` is false.
 */
function errorFields(error: unknown): { name?: string; message?: string; code?: string; cause?: unknown } {
  if (typeof error !== 'object' || error === null) return {};
  const { name, message, code, cause } = error as Record<string, unknown>;
  return {
    name: typeof name === 'string' ? name : undefined,
    message: typeof message === 'string' ? message : undefined,
    code: typeof code === 'string' ? code : undefined,
    cause,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function abbreviate(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat || '(empty)';
}
