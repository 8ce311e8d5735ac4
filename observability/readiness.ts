import * as k8s from '@kubernetes/client-node';
import { errorText } from './log';

/**
 * Whether a Siirto process can do its work: it reaches the Kubernetes API and Temporal. Probes are
 * cheap calls, run at most once per `maximumAgeMs` whatever the probe rate, so a tight readiness
 * probe or many scrapers never load the apiserver or Temporal.
 */

/** Resolves when the dependency answers; rejects with why it does not. */
export type DependencyCheck = () => Promise<void>;

export interface ReadinessReport {
  ready: boolean;
  /** Each dependency's state: "ok", or why it is not reachable. */
  checks: Record<string, string>;
  checkedAt: string;
}

const CHECK_TIMEOUT_MS = 3_000;

export class Readiness {
  private last: { report: ReadinessReport; at: number } | undefined;
  private running: Promise<ReadinessReport> | undefined;

  constructor(
    private readonly checks: Record<string, DependencyCheck>,
    private readonly maximumAgeMs = 5_000,
  ) {}

  async report(): Promise<ReadinessReport> {
    if (this.last && Date.now() - this.last.at < this.maximumAgeMs) return this.last.report;
    this.running ??= this.runChecks().finally(() => (this.running = undefined));
    return this.running;
  }

  private async runChecks(): Promise<ReadinessReport> {
    const entries = await Promise.all(
      Object.entries(this.checks).map(async ([name, check]) => {
        try {
          await withTimeout(
            check(),
            CHECK_TIMEOUT_MS,
            `${name} did not answer within ${CHECK_TIMEOUT_MS} ms`,
          );
          return [name, 'ok'] as const;
        } catch (error) {
          return [name, errorText(error)] as const;
        }
      }),
    );
    const report = {
      ready: entries.every(([, state]) => state === 'ok'),
      checks: Object.fromEntries(entries),
      checkedAt: new Date().toISOString(),
    };
    this.last = { report, at: Date.now() };
    return report;
  }
}

/** GET /version: answers for any authenticated client, whatever its RBAC. */
export function kubernetesApiCheck(config: k8s.KubeConfig): DependencyCheck {
  const version = config.makeApiClient(k8s.VersionApi);
  return async () => {
    await version.getCode();
  };
}

/** Minimal view of a Temporal connection: the client's and the worker's both have it. */
interface TemporalService {
  workflowService: { describeNamespace(request: { namespace: string }): Promise<unknown> };
}

/** DescribeNamespace: Temporal's frontend answers, and the namespace Siirto works in exists. */
export function temporalNamespaceCheck(
  service: () => TemporalService | undefined,
  settings: { address: string; namespace: string },
): DependencyCheck {
  return async () => {
    const current = service();
    if (!current) throw new Error(`not connected to Temporal at ${settings.address} yet`);
    await current.workflowService.describeNamespace({ namespace: settings.namespace });
  };
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
