import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { formatDuration } from '../../schemas/duration';
import type { Metric } from '../../schemas/analysis';
import { AnalysisConfigurationError, INVALID_CONFIGURATION } from '../analysis-configuration-error';
import { isHttpUrl, PrometheusAddressAllowList, refusedAddressProblem } from '../prometheus-addresses';
import { argumentNames, substituteArguments } from '../query-arguments';
import type { MeasurementOutcome, ResolvedMetric } from '../resolved-metric';
import type { MetricProvider, Reading } from './metric-provider';

/** How the worker reaches Prometheus when a metric names no address of its own, and where else it may. */
export interface PrometheusSettings {
  defaultPrometheusUrl: string;
  /**
   * Other Prometheus base URLs a metric's `provider.prometheus.address` may name; the default URL is
   * always allowed. None unless set.
   */
  allowedAddresses?: readonly string[];
  /** How long one query may take before the measurement counts as an Error; 10 s unless set. */
  timeoutMilliseconds?: number;
}

/** The addresses a worker with these settings may query: its default and the ones listed. */
export function prometheusAllowList(settings: PrometheusSettings): PrometheusAddressAllowList {
  return new PrometheusAddressAllowList([
    settings.defaultPrometheusUrl,
    ...(settings.allowedAddresses ?? []),
  ]);
}

const DEFAULT_TIMEOUT_MILLISECONDS = 10_000;
const QUERY = 'provider.prometheus.query';
const ADDRESS = 'provider.prometheus.address';

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
 * Prometheus: a metric is a PromQL instant query (`provider.prometheus.query`), its arguments written
 * into it so they can only ever be values (see query-arguments.ts), sent to the worker's Prometheus or
 * to an address the worker allows (see prometheus-addresses.ts). Without settings (in the bridge)
 * addresses are checked for their form only, and nothing is measured.
 */
export function prometheusProvider(settings?: PrometheusSettings): MetricProvider {
  const allowedAddresses = settings && prometheusAllowList(settings);
  return {
    key: 'prometheus',
    name: 'Prometheus',
    handles: (metric: Metric) => metric.provider.prometheus !== undefined,
    argumentNames: (metric) => argumentNames(metric.provider.prometheus.query),
    resolve(metric, where, values) {
      const problems: string[] = [];
      let query: string | undefined;
      try {
        query = substituteArguments(metric.provider.prometheus.query, values, {
          usedIn: where.fieldOf(QUERY),
          supply: where.supply,
        });
      } catch (error) {
        if (!(error instanceof AnalysisConfigurationError)) throw error;
        problems.push(...error.problems);
      }
      const address = metric.provider.prometheus.address;
      if (address !== undefined && !isHttpUrl(address)) {
        problems.push(
          `${where.fieldOf(ADDRESS)} is ${JSON.stringify(address)}, not an http(s) URL: ` +
            'write it like http://prometheus.monitoring:9090, or leave it out to use the worker’s SIIRTO_PROMETHEUS_URL',
        );
      } else if (address !== undefined && allowedAddresses && !allowedAddresses.allows(address)) {
        problems.push(refusedAddressProblem(where.fieldOf(ADDRESS), address));
      }
      if (problems.length > 0 || query === undefined) throw new AnalysisConfigurationError(problems);
      return { ...(address !== undefined && { address }), query };
    },
    async measure(metric) {
      if (!settings) throw new Error('the Prometheus provider measures only with the worker’s settings');
      // Resolution refused such addresses already; this guards a metric resolved under other settings.
      if (metric.address !== undefined && !allowedAddresses?.allows(metric.address)) {
        throw ApplicationFailure.nonRetryable(
          refusedAddressProblem(`metric "${metric.name}" (${metric.source}) ${ADDRESS}`, metric.address),
          INVALID_CONFIGURATION,
        );
      }
      return query(metric, settings);
    },
  };
}

/** The number Prometheus answered with, or the outcome that stands in for a number it could not give. */
async function query(metric: ResolvedMetric, settings: PrometheusSettings): Promise<Reading> {
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
      INVALID_CONFIGURATION,
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
function readResult(resultType: string, result: unknown): Reading {
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
function readSample(text: string): Reading {
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
