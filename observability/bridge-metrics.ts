import type { KubernetesObject } from '@kubernetes/client-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ROLLOUT_PHASES } from '../schemas/rollout';

/** The bridge's metrics: what it watches, how its reconciles go, and the workflows it starts. */
export interface BridgeMetrics {
  reconciles: Counter<'outcome'>;
  reconcileErrors: Counter;
  watchRestarts: Counter;
  /** Rollouts each resync visited, by outcome: reconciled, or settled (left alone). */
  resyncRollouts: Counter<'outcome'>;
  /** Counts a run once per workflow ID, also when a lagging visibility makes the bridge start it again. */
  workflowStarted(workflowId: string): void;
}

/** Workflow IDs remembered to count each start once; older ones are forgotten past this many. */
const REMEMBERED_STARTS = 10_000;

/** `watchedRollouts` gives the watch's cache at each scrape, for the count of Rollouts by phase. */
export function createBridgeMetrics(
  registry: Registry,
  watchedRollouts: () => readonly KubernetesObject[],
): BridgeMetrics {
  new Gauge({
    name: 'siirto_rollouts_by_phase',
    help: 'Watched Rollouts by status.phase ("None" before Siirto first writes a status).',
    labelNames: ['phase'],
    registers: [registry],
    collect() {
      // Every known phase is exported, at 0 when empty, so a query never finds a phase missing.
      const counts = new Map<string, number>(ROLLOUT_PHASES.map((phase) => [phase, 0]));
      for (const rollout of watchedRollouts()) {
        const label = (rollout as { status?: { phase?: string } }).status?.phase ?? 'None';
        counts.set(label, (counts.get(label) ?? 0) + 1);
      }
      this.reset();
      for (const [phase, count] of counts) this.set({ phase }, count);
    },
  });
  const workflowsStarted = new Counter({
    name: 'siirto_workflows_started_total',
    help: 'Rollout workflows (one per revision) this bridge started.',
    registers: [registry],
  });
  const counted = new Set<string>();
  return {
    reconciles: new Counter({
      name: 'siirto_reconcile_total',
      help: 'Reconciles of a Rollout that finished, by outcome: done, or requeue (to be tried again).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: 'siirto_reconcile_errors_total',
      help: 'Reconciles that failed with an error and were retried with backoff.',
      registers: [registry],
    }),
    watchRestarts: new Counter({
      name: 'siirto_watch_restarts_total',
      help: 'Times the watch of Rollouts failed and was restarted.',
      registers: [registry],
    }),
    resyncRollouts: new Counter({
      name: 'siirto_resync_rollouts_total',
      help: 'Rollouts a resync went over, by outcome: reconciled, or settled (its status records the outcome of its generation; left alone).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    workflowStarted(workflowId) {
      // A start with USE_EXISTING succeeds for a run already open, so the call alone does not tell.
      if (counted.has(workflowId)) return;
      counted.add(workflowId);
      if (counted.size > REMEMBERED_STARTS) counted.delete(counted.values().next().value as string);
      workflowsStarted.inc();
    },
  };
}
