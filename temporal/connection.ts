import { readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { z } from 'zod';
import { FLEET_TASK_QUEUE } from '../workflows/fleet-api';
import { ROLLOUT_TASK_QUEUE } from '../workflows/rollout-api';
import { clusterIdSchema } from './cluster-identity';

/**
 * Where Siirto's processes (the bridge, the worker) find Temporal, read from the environment once at
 * start. A wrong setting stops the process with a message naming the variable and how to fix it,
 * rather than surfacing later as a connection error far from its cause.
 */

/** Unset and empty are the same: manifests often template a variable to "" to mean "not set". */
const optionalText = z.preprocess(
  (value) => (value === '' ? undefined : value),
  z.string().trim().min(1).optional(),
);

const HOST_AND_PORT = /^[^\s:/]+(?::\d{1,5})$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

const TemporalEnvironmentSchema = z.object({
  TEMPORAL_ADDRESS: optionalText
    .default('127.0.0.1:7233')
    .pipe(
      z.string().regex(HOST_AND_PORT, 'must be host:port, such as 127.0.0.1:7233 or temporal.example:7233'),
    ),
  TEMPORAL_NAMESPACE: optionalText.default('default'),
  SIIRTO_TASK_QUEUE: optionalText.default(ROLLOUT_TASK_QUEUE),
  SIIRTO_CLUSTER_ID: optionalText.pipe(clusterIdSchema.optional()),
  SIIRTO_FLEET_TASK_QUEUE: optionalText.default(FLEET_TASK_QUEUE),
  TEMPORAL_TLS_CERT: optionalText,
  TEMPORAL_TLS_KEY: optionalText,
  TEMPORAL_TLS_CA: optionalText,
  TEMPORAL_TLS_SERVER_NAME: optionalText,
  TEMPORAL_API_KEY: optionalText,
});

export type TemporalVariable = keyof z.infer<typeof TemporalEnvironmentSchema>;

/**
 * What the user knows a setting by when it is not its variable, such as a CLI flag: messages about
 * that setting name it so, for the user to find what to fix.
 */
export type TemporalSettingNames = Partial<Record<TemporalVariable, string>>;

function nameOf(names: TemporalSettingNames | undefined, variable: string): string {
  return names?.[variable as TemporalVariable] ?? variable;
}

export interface TemporalTlsSettings {
  /** File with the client certificate (PEM), for mTLS. */
  clientCertPath?: string;
  /** File with the client certificate's private key (PEM), for mTLS. */
  clientKeyPath?: string;
  /** File with the CA that signed the server's certificate (PEM), when the system roots do not. */
  serverCaPath?: string;
  /** Name to verify the server's certificate against, when it differs from the address's host. */
  serverName?: string;
}

export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  /**
   * This cluster among those sharing the Temporal namespace (temporal/cluster-identity.ts); absent
   * when it is the only one, as before cluster IDs existed.
   */
  clusterId?: string;
  /** The queue of this fleet's release workflows; each cluster's part runs on `<it>-<cluster ID>`. */
  fleetTaskQueue: string;
  /** Absent for a plain connection, as to a local dev server. */
  tls?: TemporalTlsSettings;
  apiKey?: string;
  /** Given when some settings came from elsewhere than their variables (see TemporalSettingNames). */
  names?: TemporalSettingNames;
}

/** A bad environment: its message lists each wrong variable and what to set instead. */
export class TemporalSettingsError extends Error {
  override name = 'TemporalSettingsError';
}

/**
 * Reads the Temporal settings from the environment. Any of the TLS variables, or an API key (which
 * only travels over TLS), turns TLS on. `names` says how the user gave the settings that did not come
 * from the environment itself.
 */
export function temporalSettingsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  names?: TemporalSettingNames,
): TemporalSettings {
  const name = (variable: string) => nameOf(names, variable);
  const parsed = TemporalEnvironmentSchema.safeParse(env);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${name(issue.path.join('.'))} ${issue.message}`);
  // Checked on the raw values, so it is reported along with any other wrong setting.
  const given = (variable: TemporalVariable) => optionalText.safeParse(env[variable]).data !== undefined;
  if (given('TEMPORAL_TLS_CERT') !== given('TEMPORAL_TLS_KEY')) {
    const [cert, key] = [name('TEMPORAL_TLS_CERT'), name('TEMPORAL_TLS_KEY')];
    problems.push(
      `${given('TEMPORAL_TLS_CERT') ? key : cert} is needed with its partner: a client certificate ` +
        `for mTLS takes both ${cert} and ${key}; set both, or neither`,
    );
  }
  if (!parsed.success || problems.length > 0) {
    throw new TemporalSettingsError(`invalid Temporal settings: ${problems.join('; ')}`);
  }
  const values = parsed.data;
  const tls: TemporalTlsSettings = {
    clientCertPath: values.TEMPORAL_TLS_CERT,
    clientKeyPath: values.TEMPORAL_TLS_KEY,
    serverCaPath: values.TEMPORAL_TLS_CA,
    serverName: values.TEMPORAL_TLS_SERVER_NAME,
  };
  const wantsTls =
    Object.values(tls).some((value) => value !== undefined) || values.TEMPORAL_API_KEY !== undefined;
  return {
    address: values.TEMPORAL_ADDRESS,
    namespace: values.TEMPORAL_NAMESPACE,
    taskQueue: values.SIIRTO_TASK_QUEUE,
    clusterId: values.SIIRTO_CLUSTER_ID,
    fleetTaskQueue: values.SIIRTO_FLEET_TASK_QUEUE,
    tls: wantsTls ? tls : undefined,
    apiKey: values.TEMPORAL_API_KEY,
    ...(names ? { names } : {}),
  };
}

/** What both `Connection.connect` (client) and `NativeConnection.connect` (worker) accept. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
}

/** Reads the certificate files the settings name; a file that cannot be read is named with its variable. */
export function temporalConnectionOptions(settings: TemporalSettings): TemporalConnectionOptions {
  const { tls } = settings;
  if (!tls) return { address: settings.address, apiKey: settings.apiKey };
  const config: TLSConfig = { serverNameOverride: tls.serverName };
  const read = (variable: TemporalVariable, path: string) =>
    readSettingFile(nameOf(settings.names, variable), path);
  if (tls.serverCaPath) config.serverRootCACertificate = read('TEMPORAL_TLS_CA', tls.serverCaPath);
  if (tls.clientCertPath && tls.clientKeyPath) {
    config.clientCertPair = {
      crt: read('TEMPORAL_TLS_CERT', tls.clientCertPath),
      key: read('TEMPORAL_TLS_KEY', tls.clientKeyPath),
    };
  }
  return { address: settings.address, tls: config, apiKey: settings.apiKey };
}

function readSettingFile(setting: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TemporalSettingsError(
      `${setting}=${path} cannot be read (${reason}); point it at a readable PEM file`,
    );
  }
}

/** Connects a client to the settings' namespace; fails with the address when Temporal does not answer. */
export async function connectTemporalClient(settings: TemporalSettings): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({
      ...temporalConnectionOptions(settings),
      connectTimeout: '5 seconds',
    });
  } catch (error) {
    if (error instanceof TemporalSettingsError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `cannot reach Temporal at ${settings.address} (${reason}); check ${nameOf(settings.names, 'TEMPORAL_ADDRESS')} and, for TLS, the TLS and API key settings`,
      { cause: error },
    );
  }
  return new Client({ connection, namespace: settings.namespace });
}
