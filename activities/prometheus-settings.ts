/** How the worker reaches Prometheus when a metric names no address of its own. */
export interface PrometheusSettings {
  defaultPrometheusUrl: string;
  /** How long one query may take before the measurement counts as an Error; 10 s unless set. */
  timeoutMilliseconds?: number;
}

export const DEFAULT_PROMETHEUS_URL = 'http://127.0.0.1:9090';

/** Reads SIIRTO_PROMETHEUS_URL, failing at start-up with the variable's name if it is not an http(s) URL. */
export function prometheusSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): PrometheusSettings {
  const value = env.SIIRTO_PROMETHEUS_URL?.trim() || DEFAULT_PROMETHEUS_URL;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new Error(
      `SIIRTO_PROMETHEUS_URL is ${JSON.stringify(value)}, not an http(s) URL: set it to Prometheus' base URL, ` +
        `such as http://prometheus.monitoring:9090, or unset it to use ${DEFAULT_PROMETHEUS_URL}`,
    );
  }
  return { defaultPrometheusUrl: value };
}
