import { isIP } from 'node:net';
import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from '../observability/log';

/** The bridge's own settings; Temporal's are in temporal/connection.ts. */
export interface BridgeSettings {
  /** How often every Rollout is reconciled even without an event, so a Service created later heals it. */
  resyncSeconds: number;
  /**
   * At most this many Rollouts a second are reconciled by a resync (each reconcile reads the Rollout
   * and its runs), so the requests at rest do not grow with the number of Rollouts; a pass over more
   * than `resyncSeconds` × this many takes longer than the interval.
   */
  resyncPerSecond: number;
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
  /** The HTTP command endpoint (http-commands/); off when no token Secret is named. */
  commands: CommandEndpointSettings;
}

export interface CommandEndpointSettings {
  /** The Secret whose data keys are client names and values their bearer tokens; undefined: no endpoint. */
  tokenSecret?: { namespace: string; name: string };
  /** Address the endpoint binds; loopback unless set, so exposing it is a decision (docs/http-commands.md). */
  address: string;
  /** Its port; 0 picks any free port (the bridge logs which). */
  port: number;
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
  SIIRTO_RESYNC_PER_SECOND: z.preprocess(
    (value) => (value === '' || value === undefined ? undefined : Number(value)),
    z
      .number({ error: 'must be a whole number of Rollouts a second, such as 10' })
      .int('must be a whole number of Rollouts a second, such as 10')
      .min(1, 'must be at least 1 Rollout a second')
      .max(1_000, 'must be at most 1000 Rollouts a second')
      .default(10),
  ),
  SIIRTO_UPDATE_TIMEOUT_SECONDS: seconds(10),
  SIIRTO_WATCH_NAMESPACE: optionalText,
  SIIRTO_COMMANDS_TOKEN_SECRET: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z
      .string()
      .trim()
      .regex(
        /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/,
        'must name the Secret as NAMESPACE/NAME, such as siirto-system/siirto-command-tokens',
      )
      .optional(),
  ),
  SIIRTO_COMMANDS_ADDRESS: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z
      .string()
      .trim()
      .refine((value) => isIP(value) !== 0, 'must be an IP address such as 127.0.0.1, or 0.0.0.0 for all')
      .default('127.0.0.1'),
  ),
  SIIRTO_COMMANDS_PORT: z.preprocess(
    (value) => (value === '' || value === undefined ? undefined : Number(value)),
    z
      .number({ error: 'must be a port number such as 9470, or 0 for any free port' })
      .int('must be a whole port number such as 9470, or 0 for any free port')
      .min(0, 'must be between 0 and 65535, such as 9470')
      .max(65_535, 'must be between 0 and 65535, such as 9470')
      .default(9470),
  ),
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
    resyncPerSecond: parsed.data.SIIRTO_RESYNC_PER_SECOND,
    watchNamespace: parsed.data.SIIRTO_WATCH_NAMESPACE,
    updateTimeoutSeconds: parsed.data.SIIRTO_UPDATE_TIMEOUT_SECONDS,
    logLevel: parsed.data.SIIRTO_LOG_LEVEL,
    workflowHistoryLimit: parsed.data.SIIRTO_WORKFLOW_HISTORY_LIMIT,
    commands: {
      tokenSecret: secretRef(parsed.data.SIIRTO_COMMANDS_TOKEN_SECRET),
      address: parsed.data.SIIRTO_COMMANDS_ADDRESS,
      port: parsed.data.SIIRTO_COMMANDS_PORT,
    },
  };
}

function secretRef(text: string | undefined): CommandEndpointSettings['tokenSecret'] {
  if (text === undefined) return undefined;
  const [namespace = '', name = ''] = text.split('/');
  return { namespace, name };
}

export class BridgeSettingsError extends Error {
  override name = 'BridgeSettingsError';
}
