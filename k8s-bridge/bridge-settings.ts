import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from '../observability/log';

/** The bridge's own settings; Temporal's are in temporal/connection.ts. */
export interface BridgeSettings {
  /** How often every Rollout is reconciled even without an event, so a Service created later heals it. */
  resyncSeconds: number;
  /** Watch only this namespace; all namespaces when undefined. */
  watchNamespace?: string;
  /** How long a command annotation's Update may wait for the workflow's answer before it is tried again later. */
  updateTimeoutSeconds: number;
  /** `debug` adds a line per reconcile and resync. */
  logLevel: LogLevel;
  /**
   * History events after which the runs this bridge starts (a revision's and its analyses') continue
   * as new; the workflows' own defaults when undefined.
   */
  workflowHistoryLimit?: number;
}

const optionalText = z.preprocess(
  (value) => (value === '' ? undefined : value),
  z.string().trim().min(1).optional(),
);

const seconds = (fallback: number) =>
  z.preprocess(
    (value) => (value === '' || value === undefined ? undefined : Number(value)),
    z
      .number({ error: `must be a whole number of seconds, such as ${fallback}` })
      .int(`must be a whole number of seconds, such as ${fallback}`)
      .min(1, 'must be at least 1 second')
      .default(fallback),
  );

/** Below this, a run would continue as new before it even reached a step. */
const MIN_HISTORY_LIMIT = 100;

const BridgeEnvironmentSchema = z.object({
  SIIRTO_WORKFLOW_HISTORY_LIMIT: z.preprocess(
    (value) => (value === '' || value === undefined ? undefined : Number(value)),
    z
      .number({ error: 'must be a whole number of history events, such as 2000' })
      .int('must be a whole number of history events, such as 2000')
      .min(MIN_HISTORY_LIMIT, `must be at least ${MIN_HISTORY_LIMIT} events`)
      .max(10_000, 'must be at most 10000 events: Temporal warns of a history past 10,240')
      .optional(),
  ),
  SIIRTO_RESYNC_SECONDS: seconds(30),
  SIIRTO_UPDATE_TIMEOUT_SECONDS: seconds(10),
  SIIRTO_WATCH_NAMESPACE: optionalText,
  SIIRTO_LOG_LEVEL: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  ),
});

export function bridgeSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): BridgeSettings {
  const parsed = BridgeEnvironmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
    throw new BridgeSettingsError(`invalid bridge settings in the environment: ${problems.join('; ')}`);
  }
  return {
    resyncSeconds: parsed.data.SIIRTO_RESYNC_SECONDS,
    watchNamespace: parsed.data.SIIRTO_WATCH_NAMESPACE,
    updateTimeoutSeconds: parsed.data.SIIRTO_UPDATE_TIMEOUT_SECONDS,
    logLevel: parsed.data.SIIRTO_LOG_LEVEL,
    workflowHistoryLimit: parsed.data.SIIRTO_WORKFLOW_HISTORY_LIMIT,
  };
}

export class BridgeSettingsError extends Error {
  override name = 'BridgeSettingsError';
}
