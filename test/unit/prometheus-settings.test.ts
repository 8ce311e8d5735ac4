import { prometheusSettingsFromEnv } from '../../activities/prometheus-settings';

describe('Prometheus settings from the environment', () => {
  it('defaults to a Prometheus on the same machine', () => {
    expect(prometheusSettingsFromEnv({})).toEqual({ defaultPrometheusUrl: 'http://127.0.0.1:9090' });
    expect(prometheusSettingsFromEnv({ SIIRTO_PROMETHEUS_URL: '' })).toEqual({
      defaultPrometheusUrl: 'http://127.0.0.1:9090',
    });
  });

  it('reads SIIRTO_PROMETHEUS_URL, a path included', () => {
    expect(
      prometheusSettingsFromEnv({ SIIRTO_PROMETHEUS_URL: 'https://monitoring.example/prometheus' }),
    ).toEqual({
      defaultPrometheusUrl: 'https://monitoring.example/prometheus',
    });
  });

  it.each(['prometheus:9090', 'localhost', 'ftp://prometheus'])(
    'rejects %j, naming the variable',
    (value) => {
      expect(() => prometheusSettingsFromEnv({ SIIRTO_PROMETHEUS_URL: value })).toThrow(
        `SIIRTO_PROMETHEUS_URL is ${JSON.stringify(value)}, not an http(s) URL: set it to Prometheus' base URL, ` +
          'such as http://prometheus.monitoring:9090, or unset it to use http://127.0.0.1:9090',
      );
    },
  );
});
