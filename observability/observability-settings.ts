import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from './log';

/** Where a Siirto process serves its metrics and health, read from the environment once at start. */
export interface ObservabilitySettings {
  /** Port of /metrics, /healthz and /readyz; 0 picks any free port (the process logs which). */
  metricsPort: number;
  /** Port of the Temporal SDK's own Prometheus metrics (worker only); 0 picks any free port. */
  sdkMetricsPort?: number;
  logLevel: LogLevel;
}

export interface ObservabilityDefaults {
  metricsPort: number;
  /** Only for a process that runs the Temporal SDK's worker runtime. */
  sdkMetricsPort?: number;
}

const port = (variable: string, fallback: number) =>
  z.preprocess(
    (value) => (value === '' || value === undefined ? undefined : Number(value)),
    z
      .number({ error: `must be a port number such as ${fallback}, or 0 for any free port` })
      .int(`must be a whole port number such as ${fallback}, or 0 for any free port`)
      .min(0, `must be between 0 and 65535; set ${variable}=${fallback}, or 0 for any free port`)
      .max(65_535, `must be between 0 and 65535; set ${variable}=${fallback}, or 0 for any free port`)
      .default(fallback),
  );

export function observabilitySettingsFromEnv(
  defaults: ObservabilityDefaults,
  env: NodeJS.ProcessEnv = process.env,
): ObservabilitySettings {
  const schema = z.object({
    SIIRTO_METRICS_PORT: port('SIIRTO_METRICS_PORT', defaults.metricsPort),
    SIIRTO_SDK_METRICS_PORT:
      defaults.sdkMetricsPort === undefined
        ? z
            .unknown()
            .optional()
            .transform(() => undefined)
        : port('SIIRTO_SDK_METRICS_PORT', defaults.sdkMetricsPort),
    SIIRTO_LOG_LEVEL: z.preprocess(
      (value) => (value === '' ? undefined : value),
      z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
    ),
  });
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
    throw new ObservabilitySettingsError(
      `invalid metrics settings in the environment: ${problems.join('; ')}`,
    );
  }
  return {
    metricsPort: parsed.data.SIIRTO_METRICS_PORT,
    sdkMetricsPort: parsed.data.SIIRTO_SDK_METRICS_PORT,
    logLevel: parsed.data.SIIRTO_LOG_LEVEL,
  };
}

export class ObservabilitySettingsError extends Error {
  override name = 'ObservabilitySettingsError';
}
