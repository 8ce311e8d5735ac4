import type { Client } from '@temporalio/client';
import * as k8s from '@kubernetes/client-node';
import { makeKubeClients, type KubeClients } from '../kubernetes/client';
import {
  connectTemporalClient,
  temporalSettingsFromEnv,
  TemporalSettingsError,
  type TemporalSettingNames,
  type TemporalSettings,
  type TemporalVariable,
} from '../temporal/connection';

/** What every command works with: the user's cluster and namespace, and Temporal on demand. */
export interface CliContext {
  kube: KubeClients;
  namespace: string;
  /** `--all-namespaces`: list across the cluster. */
  allNamespaces: boolean;
  output: 'table' | 'json' | 'yaml';
  /** `--cluster` or SIIRTO_CLUSTER_ID: whose runs `history` shows when clusters share a Temporal namespace. */
  clusterId?: string;
  /** How the user gave the cluster ID, for messages about it: `--cluster` or SIIRTO_CLUSTER_ID. */
  clusterSetting: string;
  temporal(): Promise<Client>;
  temporalUiUrl: string;
  close(): Promise<void>;
}

/**
 * The Temporal flags, named as the `temporal` CLI names them, and Siirto's cluster in the Temporal
 * namespace, with the variable each one overrides.
 */
const TEMPORAL_FLAGS = [
  ['address', 'TEMPORAL_ADDRESS'],
  ['temporal-namespace', 'TEMPORAL_NAMESPACE'],
  ['tls-cert-path', 'TEMPORAL_TLS_CERT'],
  ['tls-key-path', 'TEMPORAL_TLS_KEY'],
  ['tls-ca-path', 'TEMPORAL_TLS_CA'],
  ['tls-server-name', 'TEMPORAL_TLS_SERVER_NAME'],
  ['api-key', 'TEMPORAL_API_KEY'],
  ['cluster', 'SIIRTO_CLUSTER_ID'],
] as const satisfies readonly (readonly [string, TemporalVariable])[];
export type TemporalFlag = (typeof TEMPORAL_FLAGS)[number][0];

export interface ConnectionFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
  output?: string;
  temporal?: Partial<Record<TemporalFlag, string>>;
}

/** Thrown for anything the user can fix; main prints the message alone and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** kubectl's rules: --kubeconfig, then KUBECONFIG, then ~/.kube/config; --context; -n, then the context's namespace. */
export function cliContext(flags: ConnectionFlags): CliContext {
  const config = new k8s.KubeConfig();
  if (flags.kubeconfig) config.loadFromFile(flags.kubeconfig);
  else config.loadFromDefault();
  if (flags.context) config.setCurrentContext(flags.context);
  if (!config.getCurrentCluster()) {
    throw new CliError('no Kubernetes cluster configured: set KUBECONFIG or pass --kubeconfig');
  }
  const output = flags.output ?? 'table';
  if (output !== 'table' && output !== 'json' && output !== 'yaml') {
    throw new CliError(`--output ${output} is not known; use json or yaml, or leave it out for a table`, 2);
  }
  const contextNamespace = config.getContextObject(config.getCurrentContext())?.namespace;
  const settings = temporalSettingsFromFlags(flags.temporal ?? {});
  let client: Promise<Client> | undefined;
  return {
    kube: makeKubeClients(config),
    namespace: flags.namespace ?? contextNamespace ?? 'default',
    allNamespaces: flags.allNamespaces ?? false,
    output,
    clusterId: settings.clusterId,
    clusterSetting: settings.names?.SIIRTO_CLUSTER_ID ?? 'SIIRTO_CLUSTER_ID',
    temporal: () => {
      client ??= connectTemporalClient(settings).catch((error: unknown) => {
        // A certificate file that cannot be read is the user's setting to fix, not an outage.
        const exitCode = error instanceof TemporalSettingsError ? 2 : 3;
        throw new CliError(error instanceof Error ? error.message : String(error), exitCode);
      });
      return client;
    },
    temporalUiUrl: process.env.SIIRTO_TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233',
    close: async () => {
      if (client) await (await client.catch(() => undefined))?.connection.close();
    },
  };
}

/**
 * Flags over the TEMPORAL_* variables, checked at once by the same rules as Siirto's processes, so a
 * wrong combination is a usage error before anything is read or sent. Messages name a setting as the
 * user gave it: the flag, or the variable when only that is set.
 */
export function temporalSettingsFromFlags(flags: Partial<Record<TemporalFlag, string>>): TemporalSettings {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const names: TemporalSettingNames = {};
  for (const [flag, variable] of TEMPORAL_FLAGS) {
    const value = flags[flag];
    if (value !== undefined) env[variable] = value;
    if (value !== undefined || !process.env[variable]) names[variable] = `--${flag}`;
  }
  try {
    return temporalSettingsFromEnv(env, names);
  } catch (error) {
    if (error instanceof TemporalSettingsError) throw new CliError(error.message, 2);
    throw error;
  }
}
