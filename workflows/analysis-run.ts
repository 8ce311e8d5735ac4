import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { AnalysisActivities } from '../activities/analysis-activities';
import type { RolloutActivities } from '../activities/rollout-activities';
import { FailureType } from '../reasons/rollout-reasons';
import { WORKER_LIVENESS } from './worker-liveness';
import {
  analysisPhase,
  concludeTally,
  metricResult,
  newTally,
  recordMeasurement,
  recordUnusable,
  type MetricTally,
} from '../analysis/metric-tally';
import type { MeasurementOutcome, ResolvedMetric } from '../analysis/resolved-metric';
import { formatDuration } from '../schemas/duration';
import type { AnalysisRunStatus, AnalysisStatus, Measurement } from '../schemas/analysis';
import {
  analysisHoldSignal,
  concludeAnalysisSignal,
  handOverAnalysisSignal,
  type AnalysisKind,
  type RolloutRef,
} from './rollout-api';

export interface AnalysisRunInput {
  rollout: RolloutRef;
  revision: number;
  kind: AnalysisKind;
  stepIndex?: number;
  /**
   * A gate of its own, judged as a step's analysis is (a blue-green rollout's `prePromotion` and
   * `postPromotion`): the status.analysis entry it writes and the name it goes by.
   */
  gate?: AnalysisGate;
  metrics: ResolvedMetric[];
  /**
   * Where the previous run stopped, when the history grew long and the analysis continued as new, or
   * where the analysis it takes over from stopped when its rollout continued as new.
   */
  carriedOver?: AnalysisCarryOver;
  /** History events after which the analysis continues as a new run, so hours of it stay bounded. */
  historyLimit?: number;
}

/** An analysis that gates a strategy's step of its own: its status.analysis entry, and its name. */
export interface AnalysisGate {
  statusKey: Exclude<keyof AnalysisStatus, AnalysisKind>;
  name: string;
}

/** What an analysis must not forget when it goes on in another run: every count, and whether it holds. */
export interface AnalysisCarryOver {
  tallies: MetricTally[];
  held: boolean;
  concluding?: boolean;
}

/** The verdict, or (handed over to the rollout's next run) no verdict yet and where it stood. */
export type AnalysisRunResult = AnalysisRunStatus & { handedOver?: AnalysisCarryOver };

const DEFAULT_HISTORY_LIMIT = 2_000;

/** Patch ID: an analysis its rollout ends before a verdict writes itself Stopped. */
const WRITE_STOPPED = 'write-stopped-analysis';

/** Patch ID: a tolerated failed measurement records a Warning Event (histories before it do not). */
const WARN_ON_TOLERATED_FAILURE = 'warn-on-tolerated-failure';

/**
 * Patch ID: a metric that can never be measured as written fails the analysis with a verdict; before
 * it, the analysis workflow itself ended Failed.
 */
const FAIL_UNUSABLE_METRIC = 'fail-unusable-metric';

const measurements = proxyActivities<AnalysisActivities>({
  startToCloseTimeout: '30 seconds',
  ...WORKER_LIVENESS,
  // A crash is retried; what the measurement finds (errors included) is judged, not retried.
  retry: {
    initialInterval: '1 second',
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: [FailureType.InvalidConfiguration],
  },
});

const cluster = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '1 minute',
  ...WORKER_LIVENESS,
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: [FailureType.RolloutGone],
  },
});

/**
 * One analysis of a canary: every metric measured on its interval until each has its count of
 * measurements (or, in the background, until the rollout has run its steps and asks for a verdict:
 * then each metric completes on a successful measurement). It returns Successful or Failed to
 * the rollout; while too many measurements are inconclusive it asks the rollout to hold, and lets go
 * once a measurement succeeds again. Every measurement lands in this history and the Rollout status
 * (a failing one through the rollout, which writes it with the Degraded phase it causes).
 */
export async function analysisRun(input: AnalysisRunInput): Promise<AnalysisRunResult> {
  const { rollout, revision, kind, metrics } = input;
  const name =
    input.gate?.name ??
    (kind === 'step' ? `step ${(input.stepIndex ?? 0) + 1} analysis` : 'background analysis');
  const statusKey = input.gate?.statusKey ?? kind;
  const tallies = new Map(
    metrics.map((metric) => [
      metric.name,
      input.carriedOver?.tallies.find((tally) => tally.name === metric.name) ?? newTally(metric.name),
    ]),
  );
  let held = input.carriedOver?.held ?? false;
  /** The rollout has run its steps and waits for this (background) analysis to come to a verdict. */
  let concluding = input.carriedOver?.concluding ?? false;
  let continuing = false;
  /** The rollout continues as new and takes this analysis's tallies along to a new one. */
  let handingOver = false;
  /** The rollout ended this analysis before it came to a verdict. */
  let stopped = false;
  const historyLimit = input.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  const parent = workflowInfo().parent;
  const rolloutWorkflow = parent ? getExternalWorkflowHandle(parent.workflowId) : undefined;

  const status = (): AnalysisRunStatus => {
    const all = [...tallies.values()];
    const phase = analysisPhase(all);
    return {
      revision,
      ...(kind === 'step' && !input.gate ? { stepIndex: input.stepIndex } : {}),
      phase: stopped ? 'Stopped' : phase,
      message: stopped
        ? `stopped by its rollout before a verdict; ${verdictMessage(phase, all)}`
        : verdictMessage(phase, all),
      metrics: all.map(metricResult),
    };
  };

  let statusWrites: Promise<void> = Promise.resolve();
  function publish(summary: string, warning?: { reason: string; message: string }): void {
    const snapshot = status();
    setCurrentDetails(describe(name, snapshot));
    statusWrites = statusWrites.then(() =>
      CancellationScope.nonCancellable(async () => {
        try {
          await cluster.writeRolloutStatus.executeWithOptions({ summary }, [
            { rollout, revision, status: { analysis: { [statusKey]: snapshot } } },
          ]);
          if (warning) {
            await cluster.recordRolloutEvent.executeWithOptions({ summary: `event ${warning.reason}` }, [
              { rollout, type: 'Warning', ...warning },
            ]);
          }
        } catch (error) {
          log.warn('could not write the analysis status', { rollout: rollout.name, error: String(error) });
        }
      }),
    );
  }

  /** Sleeps, but wakes at once when the analysis is over, continues as new or is handed over. */
  const stoppable = (milliseconds: number, summary: string) =>
    condition(() => continuing || handingOver || analysisOver(), milliseconds, { summary });
  const analysisOver = () => ['Successful', 'Failed'].includes(analysisPhase([...tallies.values()]));
  const metricOver = (metric: ResolvedMetric) =>
    ['Successful', 'Failed'].includes(tallies.get(metric.name)?.phase ?? 'Running');

  async function measureRepeatedly(metric: ResolvedMetric): Promise<void> {
    const first = tallies.get(metric.name)?.taken === 0;
    if (first && metric.initialDelayMilliseconds > 0) {
      await stoppable(metric.initialDelayMilliseconds, `${metric.name}: initial delay`);
    }
    while (!metricOver(metric) && !analysisOver() && !continuing && !handingOver) {
      if (workflowInfo().historyLength > historyLimit || workflowInfo().continueAsNewSuggested) {
        continuing = true;
        break;
      }
      await measureOnce(metric);
      if (metricOver(metric) || analysisOver()) break;
      await stoppable(
        metric.intervalMilliseconds,
        `${metric.name}: next in ${formatDuration(metric.intervalMilliseconds)}`,
      );
    }
  }

  async function measureOnce(metric: ResolvedMetric): Promise<void> {
    const tally = tallies.get(metric.name) ?? newTally(metric.name);
    const ordinal = metric.count === undefined ? `#${tally.taken + 1}` : `${tally.taken + 1}/${metric.count}`;
    let outcome: MeasurementOutcome;
    try {
      outcome = await measurements.measureMetric.executeWithOptions(
        { summary: `measure ${metric.name} ${ordinal}` },
        [{ metric }],
      );
    } catch (error) {
      const unusable = invalidConfiguration(error);
      if (unusable === undefined || !patched(FAIL_UNUSABLE_METRIC)) throw error;
      // The rollout writes the failed analysis with its Degraded status, as for any failed metric.
      tallies.set(metric.name, recordUnusable(tally, unusable, new Date().toISOString()));
      setCurrentDetails(describe(name, status()));
      return;
    }
    const measurement: Measurement = { ...outcome, measuredAt: new Date().toISOString() };
    const recorded = recordMeasurement(tally, metric, measurement);
    tallies.set(metric.name, concluding ? concludeTally(recorded) : recorded);
    const verdict = `${metric.name} ${ordinal}: ${outcome.verdict} — ${outcome.message}`;
    if (analysisPhase([...tallies.values()]) === 'Failed') {
      // The rollout writes the failed analysis with its Degraded status: a status write here would
      // stand between the failing measurement and the traffic going back to stable.
      setCurrentDetails(describe(name, status()));
      return;
    }
    // A failure the limit still tolerates is worth a Warning of its own: the next one rolls back.
    if (outcome.verdict === 'Failed' && patched(WARN_ON_TOLERATED_FAILURE)) {
      publish(verdict, { reason: 'AnalysisMeasurementFailed', message: `r${revision} ${name}: ${verdict}` });
    } else {
      publish(verdict);
    }
    await tellRolloutWhetherHeld();
  }

  async function tellRolloutWhetherHeld(): Promise<void> {
    const snapshot = status();
    const holdNow = snapshot.phase === 'Inconclusive';
    if (holdNow === held) return;
    held = holdNow;
    if (holdNow) {
      const message = `r${revision} ${name} inconclusive: ${snapshot.message}`;
      publish(`${name} inconclusive: holding the rollout`, { reason: 'AnalysisInconclusive', message });
    }
    await rolloutWorkflow?.signal(analysisHoldSignal, {
      kind,
      held: holdNow,
      message: snapshot.message ?? '',
    });
  }

  // Only a rollout that continues as new sends it, and it waits for this run's result before it does.
  setHandler(handOverAnalysisSignal, () => {
    handingOver = true;
  });

  setHandler(concludeAnalysisSignal, () => {
    if (concluding) return;
    concluding = true;
    for (const [metricName, tally] of tallies) tallies.set(metricName, concludeTally(tally));
    const snapshot = status();
    publish(
      snapshot.phase === 'Successful'
        ? `${name} concluded: ${snapshot.message ?? ''}`
        : `${name} concluding: measuring until every metric succeeds`,
    );
  });

  publish(`${name}: ${metrics.length} metric${metrics.length === 1 ? '' : 's'}`);
  try {
    await Promise.all(metrics.map(measureRepeatedly));
  } catch (error) {
    // What the Rollout status shows must not go on saying Running.
    if (isCancellation(error) && patched(WRITE_STOPPED)) {
      stopped = true;
      publish(`${name} stopped before a verdict`);
    }
    throw error;
  } finally {
    await statusWrites;
  }
  if (handingOver && !analysisOver()) {
    // No Stopped status: the analysis goes on, in the rollout's next run, from these very tallies.
    return { ...status(), handedOver: { tallies: [...tallies.values()], held, concluding } };
  }
  if (continuing && !analysisOver()) {
    log.info('analysis continues as new', {
      rollout: rollout.name,
      historyLength: workflowInfo().historyLength,
    });
    await continueAsNew<typeof analysisRun>({
      ...input,
      carriedOver: { tallies: [...tallies.values()], held, concluding },
    });
  }
  return status();
}

/** The message of a measurement that failed as no retry can mend: the metric is unusable as written. */
function invalidConfiguration(error: unknown): string | undefined {
  const cause = error instanceof ActivityFailure ? error.cause : undefined;
  return cause instanceof ApplicationFailure && cause.type === FailureType.InvalidConfiguration
    ? cause.message
    : undefined;
}

/** One line a person reads in `kubectl describe` and the rollout's message. */
function verdictMessage(phase: AnalysisRunStatus['phase'], tallies: MetricTally[]): string {
  const last = (tally: MetricTally) => tally.measurements.at(-1);
  const decided = (wanted: AnalysisRunStatus['phase']) =>
    tallies
      .filter((tally) => tally.phase === wanted)
      .map((tally) => `${tally.name} ${last(tally)?.message ?? ''}`.trim())
      .join('; ');
  switch (phase) {
    case 'Failed':
      return decided('Failed');
    case 'Inconclusive':
      return decided('Inconclusive');
    case 'Successful':
      return tallies.map((tally) => `${tally.name} ${tally.successful}/${tally.taken} successful`).join('; ');
    default:
      return `measuring ${tallies.map((tally) => tally.name).join(', ')}`;
  }
}

function describe(name: string, status: AnalysisRunStatus): string {
  const lines = status.metrics.map((metric) => {
    const last = metric.measurements.at(-1);
    return `- **${metric.name}** ${metric.phase}: ${metric.successful} successful, ${metric.failed} failed, ${metric.inconclusive} inconclusive, ${metric.errors} errors${last ? ` — last ${last.value ?? 'no value'} (${last.verdict})` : ''}`;
  });
  return [`**${name}: ${status.phase}** — ${status.message ?? ''}`, ...lines].join('\n\n');
}
