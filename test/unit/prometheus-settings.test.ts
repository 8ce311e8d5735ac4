import { prometheusAllowList, prometheusSettingsFromEnv } from '../../activities/prometheus-settings';

describe('Prometheus settings from the environment', () => {
  it('defaults to a Prometheus on the same machine', () => {
    expect(prometheusSettingsFromEnv({})).toEqual({
      defaultPrometheusUrl: 'http://127.0.0.1:9090',
      allowedAddresses: [],
    });
    expect(prometheusSettingsFromEnv({ SIIRTO_PROMETHEUS_URL: '' })).toEqual({
      defaultPrometheusUrl: 'http://127.0.0.1:9090',
      allowedAddresses: [],
    });
  });

  it('reads SIIRTO_PROMETHEUS_URL, a path included', () => {
    expect(
      prometheusSettingsFromEnv({ SIIRTO_PROMETHEUS_URL: 'https://monitoring.example/prometheus' }),
    ).toEqual({
      defaultPrometheusUrl: 'https://monitoring.example/prometheus',
      allowedAddresses: [],
    });
  });

  it('allows only SIIRTO_PROMETHEUS_URL unless SIIRTO_PROMETHEUS_ALLOWED_ADDRESSES lists more', () => {
    const alone = prometheusAllowList(
      prometheusSettingsFromEnv({ SIIRTO_PROMETHEUS_URL: 'http://prometheus.monitoring:9090' }),
    );
    expect(alone.allows('http://prometheus.monitoring:9090/')).toBe(true);
    expect(alone.allows('http://prometheus.team-a:9090')).toBe(false);

    const settings = prometheusSettingsFromEnv({
      SIIRTO_PROMETHEUS_URL: 'http://prometheus.monitoring:9090',
      SIIRTO_PROMETHEUS_ALLOWED_ADDRESSES:
        ' http://prometheus.team-a:9090,https://thanos.example/query  http://x:1 ',
    });
    expect(settings.allowedAddresses).toEqual([
      'http://prometheus.team-a:9090',
      'https://thanos.example/query',
      'http://x:1',
    ]);
    const allowList = prometheusAllowList(settings);
    for (const address of [
      'http://prometheus.monitoring:9090',
      'http://prometheus.team-a:9090/',
      'http://x:1',
    ]) {
      expect(allowList.allows(address)).toBe(true);
    }
    expect(allowList.allows('http://prometheus.team-b:9090')).toBe(false);
  });

  it('rejects an allowed address that is not an http(s) URL, naming the variable', () => {
    expect(() =>
      prometheusSettingsFromEnv({ SIIRTO_PROMETHEUS_ALLOWED_ADDRESSES: 'http://ok:9090,prometheus:9090' }),
    ).toThrow(
      'SIIRTO_PROMETHEUS_ALLOWED_ADDRESSES holds "prometheus:9090", not an http(s) URL: list the Prometheus ' +
        'base URLs that AnalysisTemplates may name as provider.prometheus.address, separated by commas, such as ' +
        'http://prometheus.team-a:9090,http://thanos.monitoring:9090',
    );
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
