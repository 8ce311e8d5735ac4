import { readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { z } from 'zod';
import { ROLLOUT_TASK_QUEUE } from '../workflows/rollout-api';

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

const TemporalEnvironmentSchema = z
  .object({
    TEMPORAL_ADDRESS: optionalText
      .default('127.0.0.1:7233')
      .pipe(
        z.string().regex(HOST_AND_PORT, 'must be host:port, such as 127.0.0.1:7233 or temporal.example:7233'),
      ),
    TEMPORAL_NAMESPACE: optionalText.default('default'),
    SIIRTO_TASK_QUEUE: optionalText.default(ROLLOUT_TASK_QUEUE),
    TEMPORAL_TLS_CERT: optionalText,
    TEMPORAL_TLS_KEY: optionalText,
    TEMPORAL_TLS_CA: optionalText,
    TEMPORAL_TLS_SERVER_NAME: optionalText,
    TEMPORAL_API_KEY: optionalText,
  })
  .superRefine((env, context) => {
    if (Boolean(env.TEMPORAL_TLS_CERT) !== Boolean(env.TEMPORAL_TLS_KEY)) {
      const missing = env.TEMPORAL_TLS_CERT ? 'TEMPORAL_TLS_KEY' : 'TEMPORAL_TLS_CERT';
      context.addIssue({
        code: 'custom',
        path: [missing],
        message:
          'is needed with its partner: a client certificate for mTLS takes both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY; set both, or neither',
      });
    }
  });

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
  /** Absent for a plain connection, as to a local dev server. */
  tls?: TemporalTlsSettings;
  apiKey?: string;
}

/** A bad environment: its message lists each wrong variable and what to set instead. */
export class TemporalSettingsError extends Error {
  override name = 'TemporalSettingsError';
}

/**
 * Reads the Temporal settings from the environment. Any of the TLS variables, or an API key (which
 * only travels over TLS), turns TLS on.
 */
export function temporalSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const parsed = TemporalEnvironmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
    throw new TemporalSettingsError(`invalid Temporal settings in the environment: ${problems.join('; ')}`);
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
    tls: wantsTls ? tls : undefined,
    apiKey: values.TEMPORAL_API_KEY,
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
  if (tls.serverCaPath) config.serverRootCACertificate = readSettingFile('TEMPORAL_TLS_CA', tls.serverCaPath);
  if (tls.clientCertPath && tls.clientKeyPath) {
    config.clientCertPair = {
      crt: readSettingFile('TEMPORAL_TLS_CERT', tls.clientCertPath),
      key: readSettingFile('TEMPORAL_TLS_KEY', tls.clientKeyPath),
    };
  }
  return { address: settings.address, tls: config, apiKey: settings.apiKey };
}

function readSettingFile(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TemporalSettingsError(
      `${variable}=${path} cannot be read (${reason}); point it at a readable PEM file`,
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
      `cannot reach Temporal at ${settings.address} (${reason}); check TEMPORAL_ADDRESS and, for TLS, the TEMPORAL_TLS_* settings`,
      { cause: error },
    );
  }
  return new Client({ connection, namespace: settings.namespace });
}
