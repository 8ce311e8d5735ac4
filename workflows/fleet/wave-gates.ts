import { condition, sleep } from '@temporalio/workflow';
import type { FleetReleaseSpec, WaveGates } from '../../schemas/fleet-release';
import { formatDuration, parseDuration } from '../../schemas/duration';
import {
  analysisPhase,
  newTally,
  recordMeasurement,
  recordUnusable,
  type MetricTally,
} from '../../analysis/metric-tally';
import type { ResolvedMetric } from '../../analysis/resolved-metric';
import { addressText, type FleetReleaseState, type FleetTargetState } from '../fleet-api';
import type { ClusterActivities } from './cluster-activities';
import { succeeded, waveTargets } from './release-plan';
import { describeOpening, nextOpening } from './time-windows';

/**
 * What stands between one wave and the next, and before every Rollout's start: the allowed windows,
 * a soak after Healthy, an analysis in each cluster of the wave, and a person's approval. Each wait
 * ends early when the release is aborted.
 */
export interface GateContext {
  state: FleetReleaseState;
  spec: FleetReleaseSpec;
  /** True once the release is being aborted: every wait ends. */
  stopped(): boolean;
  /** Writes the state to the workflow's current details (the Temporal UI). */
  publish(): void;
  activities(cluster: string): ClusterActivities;
}

/**
 * Returns once a window is open (at once without windows). A closed window holds the start of a
 * Rollout, never one under way, on a durable timer until the next opening, computed from workflow time.
 */
export async function awaitWindow(context: GateContext, what: string): Promise<void> {
  const windows = context.spec.windows;
  for (;;) {
    if (context.stopped()) return;
    const now = Date.now();
    const opens = nextOpening(windows, now);
    if (opens <= now) {
      if (context.state.phase === 'Waiting') context.state.phase = 'Running';
      context.state.waiting = undefined;
      return;
    }
    const when = describeOpening(windows, opens);
    context.state.phase = 'Waiting';
    context.state.waiting = `window closed: ${what} waits until ${when}`;
    context.publish();
    await condition(context.stopped, opens - now, { summary: `window closed: ${what} waits until ${when}` });
  }
}

/** Runs a wave's gates in order: soak, analysis, approval. Returns why the release must abort, if it must. */
export async function passGates(
  context: GateContext,
  wave: number,
  gates: WaveGates,
): Promise<string | undefined> {
  const waveState = context.state.waves[wave];
  if (!waveState) return undefined;
  waveState.stage = 'Gating';
  const soak = gates.soak === undefined ? undefined : parseDuration(gates.soak);
  if (soak !== undefined && !context.stopped()) {
    waveState.gate = `soak ${formatDuration(soak)} until ${new Date(Date.now() + soak).toISOString()}`;
    context.publish();
    await condition(context.stopped, soak, {
      summary: `${waveState.name}: soak ${formatDuration(soak)} after Healthy`,
    });
  }
  if (gates.analysis && !context.stopped()) {
    waveState.gate = 'analysis';
    context.publish();
    const failure = await analyseWave(context, wave, gates.analysis);
    if (failure !== undefined) {
      waveState.gate = `analysis failed: ${failure}`;
      return `${waveState.name} analysis failed: ${failure}`;
    }
  }
  if (gates.approval && !context.stopped() && !waveState.approved) {
    waveState.gate = 'approval';
    // Waiting, as for a window: nothing moves until a person acts (state only, no workflow command).
    context.state.phase = 'Waiting';
    context.state.waiting = `approval after ${waveState.name}: siirto fleet approve ${context.state.app}`;
    context.publish();
    await condition(() => context.stopped() || waveState.approved === true);
    if (context.state.phase === 'Waiting') context.state.phase = 'Running';
    context.state.waiting = undefined;
  }
  waveState.gate = undefined;
  return undefined;
}

/** The wave's analysis, in every cluster of it at once, each by its own worker; the first failure wins. */
async function analyseWave(
  context: GateContext,
  wave: number,
  analysis: NonNullable<WaveGates['analysis']>,
): Promise<string | undefined> {
  const field = `spec.waves[${wave}].gates.analysis`;
  const measured = waveTargets(context.state, wave).filter(
    (target): target is FleetTargetState & { templateHash: string } =>
      succeeded(target) && target.templateHash !== undefined,
  );
  const failures = await Promise.all(
    measured.map((target) => analyseRollout(context, target, analysis, field)),
  );
  return failures.find((failure) => failure !== undefined);
}

async function analyseRollout(
  context: GateContext,
  target: FleetTargetState & { templateHash: string },
  analysis: NonNullable<WaveGates['analysis']>,
  field: string,
): Promise<string | undefined> {
  const { calls } = context.activities(target.cluster);
  const where = addressText(target);
  let metrics: ResolvedMetric[];
  try {
    metrics = await calls.resolveFleetAnalysis.executeWithOptions(
      { summary: `${where}: resolve gate analysis` },
      [
        {
          target,
          analysis,
          field,
          templateHash: target.templateHash,
          previousTemplateHash: target.previousTemplateHash,
        },
      ],
    );
  } catch (error) {
    return `${where}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`;
  }
  const tallies = new Map<string, MetricTally>(metrics.map((metric) => [metric.name, newTally(metric.name)]));
  const over = () =>
    ['Failed', 'Successful'].includes(analysisPhase([...tallies.values()])) || context.stopped();
  await Promise.all(
    metrics.map(async (metric) => {
      if (metric.initialDelayMilliseconds > 0) {
        await condition(over, metric.initialDelayMilliseconds, {
          summary: `${where} ${metric.name}: initial delay`,
        });
      }
      for (;;) {
        const tally = tallies.get(metric.name) ?? newTally(metric.name);
        if (over() || tally.phase === 'Successful' || tally.phase === 'Failed') return;
        try {
          const outcome = await calls.measureFleetMetric.executeWithOptions(
            { summary: `${where}: measure ${metric.name} ${tally.taken + 1}/${metric.count ?? 1}` },
            [{ metric: { ...metric, count: metric.count ?? 1 } }],
          );
          tallies.set(
            metric.name,
            recordMeasurement(
              tally,
              { ...metric, count: metric.count ?? 1 },
              { ...outcome, measuredAt: new Date().toISOString() },
            ),
          );
        } catch (error) {
          const message =
            error instanceof Error
              ? error.cause instanceof Error
                ? error.cause.message
                : error.message
              : String(error);
          tallies.set(metric.name, recordUnusable(tally, message, new Date().toISOString()));
        }
        const now = tallies.get(metric.name);
        if (now?.phase === 'Successful' || now?.phase === 'Failed' || over()) return;
        await condition(over, metric.intervalMilliseconds, {
          summary: `${where} ${metric.name}: next in ${formatDuration(metric.intervalMilliseconds)}`,
        });
      }
    }),
  );
  const failed = [...tallies.values()].find((tally) => tally.phase === 'Failed');
  if (!failed) return undefined;
  const last = failed.measurements.at(-1);
  return `${where} ${failed.name}: ${last?.verdict ?? 'Failed'} — ${last?.message ?? ''}`;
}

/** Exported for the release's own waits that need no gate: a plain durable timer with a summary. */
export const durableSleep = sleep;
