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
  const problems = [
    ...windowProblems(builtIn.window, `${field}.window`),
    ...selectorProblems(builtIn.selector, `${field}.selector`),
  ];
  if (problems.length > 0) throw new AnalysisConfigurationError(problems);
  const window = promqlWindow(builtIn.window);
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

function windowProblems(window: string, field: string): string[] {
  const milliseconds = parseDuration(window);
  if (milliseconds !== undefined && milliseconds >= 1_000) return [];
  return [
    `${field} is ${JSON.stringify(window)}, not a duration of at least 1s: write it like 30s, 1m or 5m`,
  ];
}

/**
 * The window as PromQL writes a range: whole units only (`1m30s`, `1500ms`), never the decimals
 * Siirto's own durations allow.
 */
function promqlWindow(window: string): string {
  const milliseconds = parseDuration(window) ?? 0;
  return milliseconds % 1_000 === 0 ? formatDuration(milliseconds) : `${milliseconds}ms`;
}

/** A PromQL string in any of its three quotes. */
const STRING = /"(?:[^"\\\n\r]|\\.)*"|'(?:[^'\\\n\r]|\\.)*'|`[^`]*`/.source;
/** One label matcher, such as `code=~"5.."`, and the comma or end after it. */
const LABEL_MATCHER = `\\s*(?:[A-Za-z_][A-Za-z0-9_]*|${STRING})\\s*(?:=~|!~|!=|=)\\s*(?:${STRING})\\s*(?:,|$)`;

/**
 * The selector goes between the braces of the built-in queries, so it must be label matchers and
 * nothing else: text that closed the braces could rewrite the query around it.
 */
function selectorProblems(selector: string, field: string): string[] {
  const matcher = new RegExp(LABEL_MATCHER, 'y');
  while (selector.slice(matcher.lastIndex).trim() !== '') {
    if (!matcher.test(selector)) {
      return [
        `${field} is ${JSON.stringify(selector)}, not a list of PromQL label matchers: write it like ` +
          'namespace="{{args.namespace}}",app="checkout", each value in quotes',
      ];
    }
  }
  return [];
}
