import {
  observabilitySettingsFromEnv,
  ObservabilitySettingsError,
} from '../../observability/observability-settings';

describe('metrics and health settings from the environment', () => {
  it('needs nothing set: the bridge, which runs no SDK worker, takes its defaults', () => {
    expect(observabilitySettingsFromEnv({ metricsPort: 9465 }, {})).toEqual({
      metricsPort: 9465,
      sdkMetricsPort: undefined,
      logLevel: 'info',
    });
  });

  it('gives the worker its SDK metrics port, and takes the ports and level it is given', () => {
    expect(observabilitySettingsFromEnv({ metricsPort: 9464, sdkMetricsPort: 9466 }, {})).toMatchObject({
      metricsPort: 9464,
      sdkMetricsPort: 9466,
    });
    expect(
      observabilitySettingsFromEnv(
        { metricsPort: 9464, sdkMetricsPort: 9466 },
        { SIIRTO_METRICS_PORT: '0', SIIRTO_SDK_METRICS_PORT: '19466', SIIRTO_LOG_LEVEL: 'debug' },
      ),
    ).toEqual({ metricsPort: 0, sdkMetricsPort: 19466, logLevel: 'debug' });
  });

  it('names the variable and the fix for a port that is not one', () => {
    const settings = () =>
      observabilitySettingsFromEnv({ metricsPort: 9465 }, { SIIRTO_METRICS_PORT: '70000' });
    expect(settings).toThrow(ObservabilitySettingsError);
    expect(settings).toThrow(
      'invalid metrics settings in the environment: SIIRTO_METRICS_PORT must be between 0 and 65535; set SIIRTO_METRICS_PORT=9465, or 0 for any free port',
    );
  });
});
