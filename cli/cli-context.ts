import type { Client } from '@temporalio/client';
import * as k8s from '@kubernetes/client-node';
import { makeKubeClients, type KubeClients } from '../kubernetes/client';
import { connectTemporalClient, temporalSettingsFromEnv } from '../temporal/connection';

/** What every command works with: the user's cluster and namespace, and Temporal on demand. */
export interface CliContext {
  kube: KubeClients;
  namespace: string;
  /** `--all-namespaces`: list across the cluster. */
  allNamespaces: boolean;
  output: 'table' | 'json' | 'yaml';
  temporal(): Promise<Client>;
  temporalUiUrl: string;
  close(): Promise<void>;
}

export interface ConnectionFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
  output?: string;
  address?: string;
  temporalNamespace?: string;
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
  const env = {
    ...process.env,
    ...(flags.address ? { TEMPORAL_ADDRESS: flags.address } : {}),
    ...(flags.temporalNamespace ? { TEMPORAL_NAMESPACE: flags.temporalNamespace } : {}),
  };
  let client: Promise<Client> | undefined;
  return {
    kube: makeKubeClients(config),
    namespace: flags.namespace ?? contextNamespace ?? 'default',
    allNamespaces: flags.allNamespaces ?? false,
    output,
    temporal: () => {
      client ??= connectTemporalClient(temporalSettingsFromEnv(env)).catch((error: unknown) => {
        throw new CliError(error instanceof Error ? error.message : String(error), 3);
      });
      return client;
    },
    temporalUiUrl: process.env.SIIRTO_TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233',
    close: async () => {
      if (client) await (await client.catch(() => undefined))?.connection.close();
    },
  };
}
