import { isHttpUrl } from '../analysis/prometheus-addresses';
import type { PrometheusSettings } from '../analysis/metric-providers/prometheus';

export { prometheusAllowList, type PrometheusSettings } from '../analysis/metric-providers/prometheus';

export const DEFAULT_PROMETHEUS_URL = 'http://127.0.0.1:9090';

/**
 * Reads SIIRTO_PROMETHEUS_URL and SIIRTO_PROMETHEUS_ALLOWED_ADDRESSES (http(s) URLs separated by
 * commas or spaces), failing at start-up with the variable's name if one is not an http(s) URL.
 */
export function prometheusSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): PrometheusSettings {
  const value = env.SIIRTO_PROMETHEUS_URL?.trim() || DEFAULT_PROMETHEUS_URL;
  if (!isHttpUrl(value)) {
    throw new Error(
      `SIIRTO_PROMETHEUS_URL is ${JSON.stringify(value)}, not an http(s) URL: set it to Prometheus' base URL, ` +
        `such as http://prometheus.monitoring:9090, or unset it to use ${DEFAULT_PROMETHEUS_URL}`,
    );
  }
  const allowedAddresses = (env.SIIRTO_PROMETHEUS_ALLOWED_ADDRESSES ?? '').split(/[\s,]+/).filter(Boolean);
  const wrong = allowedAddresses.filter((address) => !isHttpUrl(address));
  if (wrong.length > 0) {
    throw new Error(
      `SIIRTO_PROMETHEUS_ALLOWED_ADDRESSES holds ${wrong.map((address) => JSON.stringify(address)).join(', ')}, ` +
        'not an http(s) URL: list the Prometheus base URLs that AnalysisTemplates may name as ' +
        'provider.prometheus.address, separated by commas, such as http://prometheus.team-a:9090,http://thanos.monitoring:9090',
    );
  }
  return { defaultPrometheusUrl: value, allowedAddresses };
}
