import type { BuiltInMetrics, Metric } from '../schemas/analysis';
import { formatDuration, parseDuration } from '../schemas/duration';
import { AnalysisConfigurationError } from './analysis-configuration-error';

export const ERROR_RATE_METRIC = 'error-rate';
export const LATENCY_P95_METRIC = 'latency-p95';

/**
 * The metrics behind `builtIn` thresholds, as if a template had spelled them out: their queries still
 * hold `{{args.NAME}}` placeholders (the default selector does) for argument substitution to fill.
 * `field` is where the builtIn block sits, such as `spec.strategy.canary.steps[2].analysis.builtIn`.
 *
 * Without traffic both queries answer NaN or nothing (0/0 requests; no histogram buckets filled), which
 * the measurement reports as Inconclusive: an idle canary proves nothing either way. A canary that has
 * never answered a 5xx has no 5xx series at all, so that side of the ratio falls back to 0.
 */
export function builtInMetrics(builtIn: BuiltInMetrics, field: string): Metric[] {
  const window = promqlWindow(builtIn.window, `${field}.window`);
  const matchers = builtIn.selector.trim();
  const selector = (extra?: string) => `{${[matchers, extra].filter(Boolean).join(',')}}`;
  const policy = {
    interval: builtIn.interval,
    count: builtIn.count,
    initialDelay: builtIn.initialDelay,
    failureLimit: builtIn.failureLimit,
    inconclusiveLimit: builtIn.inconclusiveLimit,
    consecutiveErrorLimit: builtIn.consecutiveErrorLimit,
  };
  const metrics: Metric[] = [];
  if (builtIn.errorRate) {
    metrics.push({
      name: ERROR_RATE_METRIC,
      provider: {
        prometheus: {
          query:
            `(sum(rate(http_requests_total${selector('code=~"5.."')}[${window}])) or vector(0))` +
            ` / sum(rate(http_requests_total${selector()}[${window}]))`,
        },
      },
      successCondition: `result <= ${builtIn.errorRate.max}`,
      ...policy,
    });
  }
  if (builtIn.latencyP95) {
    metrics.push({
      name: LATENCY_P95_METRIC,
      provider: {
        prometheus: {
          query: `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket${selector()}[${window}])))`,
        },
      },
      successCondition: `result <= ${builtIn.latencyP95.maxSeconds}`,
      ...policy,
    });
  }
  return metrics;
}

/**
 * The window as PromQL writes a range: whole units only (`1m30s`, `1500ms`), never the decimals
 * Siirto's own durations allow.
 */
function promqlWindow(window: string, field: string): string {
  const milliseconds = parseDuration(window);
  if (milliseconds === undefined || milliseconds < 1_000) {
    throw new AnalysisConfigurationError([
      `${field} is ${JSON.stringify(window)}, not a duration of at least 1s: write it like 30s, 1m or 5m`,
    ]);
  }
  return milliseconds % 1_000 === 0 ? formatDuration(milliseconds) : `${milliseconds}ms`;
}
