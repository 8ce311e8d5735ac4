import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const projectDir = path.resolve(__dirname, '..', '..');

/** Copies the addresses `stack/env.sh` prints into this process's environment. */
export function loadStackEnvironment(): void {
  const lines = execFileSync('bash', [path.join(projectDir, 'stack', 'env.sh')], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  for (const line of lines.split('\n')) {
    const match = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (!match) continue;
    const [, key, value] = match as unknown as [string, string, string];
    process.env[key] = value.replace('$PATH', process.env.PATH ?? '');
  }
}

function required(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run the tests through jest so the global setup starts the stack`);
  return value;
}

/** Where the local stack's components listen, as the global setup found them. */
export const stack = {
  projectDir,
  get kubeconfig(): string {
    return required('KUBECONFIG');
  },
  get temporalAddress(): string {
    return required('TEMPORAL_ADDRESS');
  },
  get temporalUiUrl(): string {
    return required('SIIRTO_TEMPORAL_UI_URL');
  },
  get prometheusUrl(): string {
    return required('SIIRTO_PROMETHEUS_URL');
  },
  get prometheusTargetsDir(): string {
    return required('SIIRTO_PROMETHEUS_TARGETS_DIR');
  },
  /** Traefik's entry point for every HTTPRoute attached to the stack's Gateway. */
  get gatewayUrl(): string {
    return required('SIIRTO_GATEWAY_URL');
  },
  get gatewayMetricsUrl(): string {
    return required('SIIRTO_GATEWAY_METRICS_URL');
  },
  get podServerSocket(): string {
    return required('SIIRTO_POD_SERVER_SOCKET');
  },
  get prometheusConfig(): string {
    return required('SIIRTO_PROMETHEUS_CONFIG');
  },
  get binDir(): string {
    return required('SIIRTO_STACK_BIN_DIR');
  },
  get logDir(): string {
    return required('SIIRTO_STACK_LOG_DIR');
  },
};

/**
 * Defines a test that drives the legacy tctl CLI. Where tctl is missing it fails, never skips, naming
 * the fix: a run that skipped it would pass without showing that users' tctl commands still work.
 */
export function itWithTctl(name: string, fn: () => Promise<void>, timeoutMs?: number): void {
  it(
    name,
    async () => {
      const tctl = path.join(stack.binDir, 'tctl');
      if (!existsSync(tctl)) {
        throw new Error(
          `tctl is not installed at ${tctl}: run npm run stack:install, whose output says why tctl could not be built`,
        );
      }
      await fn();
    },
    timeoutMs,
  );
}
