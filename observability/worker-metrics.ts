import type { Context as ActivityContext } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { AnalysisActivities } from '../activities/analysis-activities';
import type { MeasurementOutcome } from '../analysis/resolved-metric';
import type { RolloutActivities } from '../activities';
import type { WorkflowHandoffActivities } from '../activities/workflow-handoff';
import { RolloutPhaseKey } from '../workflows/search-attributes';
import { strategyRunAs } from '../workflows/strategies/registry';

/**
 * The worker's rollout metrics, observed where side effects happen: around activities, in the worker
 * process. Workflow code is replayed, so a metric counted there would count again on every replay.
 *
 * A rollout is a workflow run. It has started when its run executes its first activity (Temporal
 * numbers a run's activities from 1, and attempt 1 runs once however often it is retried); it has
 * completed each time it writes the Healthy or Degraded status (an aborted run that is retried may
 * end again, healthy), or when its successor's hand-off finds it closed as Superseded.
 */

export type RolloutOutcome = 'healthy' | 'aborted' | 'superseded';

export interface WorkerMetrics {
  rolloutsStarted: Counter<'strategy'>;
  rolloutsCompleted: Counter<'strategy' | 'outcome' | 'reason'>;
  activityDuration: Histogram<'activity' | 'outcome'>;
  analysisMeasurements: Counter<'verdict'>;
  stepDuration: Histogram<'strategy'>;
}

export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  return {
    rolloutsStarted: new Counter({
      name: 'siirto_rollouts_started_total',
      help: 'Rollout revisions whose workflow run began its work.',
      labelNames: ['strategy'],
      registers: [registry],
    }),
    rolloutsCompleted: new Counter({
      name: 'siirto_rollouts_completed_total',
      help: 'Rollout revisions that ended: healthy (promoted to stable), aborted (Degraded) or superseded, with the reason (RolloutAborted, AnalysisFailed, …).',
      labelNames: ['strategy', 'outcome', 'reason'],
      registers: [registry],
    }),
    activityDuration: new Histogram({
      name: 'siirto_activity_duration_seconds',
      help: 'Time each rollout activity attempt took, by activity and outcome (success or failure).',
      labelNames: ['activity', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    stepDuration: new Histogram({
      name: 'siirto_step_duration_seconds',
      help: 'Time a rollout spent in a step, from its first status write to the next step’s (steps begun on another worker are not timed).',
      labelNames: ['strategy'],
      buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 14400],
      registers: [registry],
    }),
    analysisMeasurements: new Counter({
      name: 'siirto_analysis_measurements_total',
      help: 'Analysis measurements taken, by verdict: Successful, Failed, Inconclusive or Error.',
      labelNames: ['verdict'],
      registers: [registry],
    }),
  };
}

type WriteStatusInput = Parameters<RolloutActivities['writeRolloutStatus']>[0];
const WRITE_STATUS: keyof RolloutActivities = 'writeRolloutStatus';
const HAND_OFF: keyof WorkflowHandoffActivities = 'waitForWorkflowToClose';
const MEASURE: keyof AnalysisActivities = 'measureMetric';

/**
 * Times steps from the status writes that carry the step index: a step lasts from the first write
 * with its index to the first with a higher one. Kept per worker process, so a step that began on a
 * worker that died is not timed rather than timed wrong; a rollout's entry goes when it ends.
 */
class StepClock {
  private readonly steps = new Map<string, { index: number; since: number }>();

  constructor(private readonly observe: (seconds: number) => void) {}

  statusWritten(workflowId: string, status: Partial<WriteStatusInput['status']> | undefined): void {
    const index = status?.currentStepIndex;
    if (index === undefined) return;
    const now = Date.now();
    const current = this.steps.get(workflowId);
    if (current && index > current.index) this.observe((now - current.since) / 1000);
    if (!current || index !== current.index) this.steps.set(workflowId, { index, since: now });
    if (status?.phase === 'Healthy' || status?.phase === 'Degraded') this.steps.delete(workflowId);
  }
}

/** Times every activity attempt and derives the rollout counters from the ones that mark a start or an end. */
export function activityMetricsInterceptor(metrics: WorkerMetrics, client: Client) {
  const clocks = new Map<string, StepClock>();
  const clockFor = (strategy: string) => {
    const clock =
      clocks.get(strategy) ?? new StepClock((seconds) => metrics.stepDuration.observe({ strategy }, seconds));
    clocks.set(strategy, clock);
    return clock;
  };
  return (context: ActivityContext): ActivityInboundCallsInterceptor => ({
    async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
      const { activityType, activityId, attempt, workflowType } = context.info;
      // `canaryRollout` → `canary`, as the strategy registry has it.
      const rolloutStrategy = strategyRunAs(workflowType);
      const strategy = rolloutStrategy ?? workflowType ?? 'unknown';
      // Analyses run as child workflows of their rollout; only a rollout's own first activity starts one.
      const isRollout = rolloutStrategy !== undefined;
      if (isRollout && activityId === '1' && attempt === 1) metrics.rolloutsStarted.inc({ strategy });
      const stopTimer = metrics.activityDuration.startTimer({ activity: activityType });
      let result: unknown;
      try {
        result = await next(input);
      } catch (error) {
        stopTimer({ outcome: 'failure' });
        throw error;
      }
      stopTimer({ outcome: 'success' });
      if (isRollout && activityType === WRITE_STATUS) {
        const status = (input.args[0] as Partial<WriteStatusInput> | undefined)?.status;
        const workflowId = context.info.workflowExecution?.workflowId;
        if (workflowId) clockFor(strategy).statusWritten(workflowId, status);
      }
      if (activityType === MEASURE) {
        metrics.analysisMeasurements.inc({ verdict: (result as MeasurementOutcome).verdict });
      }
      // Not awaited: telling a superseded run apart takes a call to Temporal, which the rollout need not wait for.
      completionOf(activityType, input.args[0], client).then(
        (completion) => completion && metrics.rolloutsCompleted.inc({ strategy, ...completion }),
        () => undefined,
      );
      return result;
    },
  });
}

async function completionOf(
  activityType: string,
  argument: unknown,
  client: Client,
): Promise<{ outcome: RolloutOutcome; reason: string } | undefined> {
  if (activityType === WRITE_STATUS) {
    const write = argument as Partial<WriteStatusInput> | undefined;
    const phase = write?.status?.phase;
    const reason = write?.condition?.reason ?? phase ?? 'unknown';
    if (phase === 'Healthy') return { outcome: 'healthy', reason };
    if (phase === 'Degraded') return { outcome: 'aborted', reason };
    return undefined;
  }
  if (activityType === HAND_OFF) {
    // A run that became Healthy and was only waiting to scale its old stable down is not superseded.
    const { workflowId } = argument as { workflowId: string };
    const closed = await client.workflow.getHandle(workflowId).describe();
    const superseded = closed.typedSearchAttributes.get(RolloutPhaseKey) === 'Superseded';
    return superseded ? { outcome: 'superseded', reason: 'Superseded' } : undefined;
  }
  return undefined;
}
