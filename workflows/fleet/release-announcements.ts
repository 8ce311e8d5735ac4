import { CancellationScope, log, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ReleaseCDEventsActivities } from '../../activities/cdevents-emission';
import type {
  ReleaseCDEventInput,
  ReleaseCDEventKind,
  ReleaseOutcome,
  ReleaseWaveSummary,
} from '../../cdevents/release-event';
import type { FleetReleaseSpec } from '../../schemas/fleet-release';
import { addressText, type FleetReleaseState } from '../fleet-api';
import { FLEET_RELEASE_CDEVENTS } from '../rollout-core/patches';
import { waveTargets } from './release-plan';

/**
 * The release's CDEvents (cdevents/release-event.ts): pipelineRun started and finished for the
 * release, taskRun started and finished for each wave. Sent by an activity on the fleet workflows'
 * own queue, so whichever cluster's worker runs the release sends them to its sink, as its rollouts'
 * events go. They go out one after another, never holding the release back: a sink that is down costs
 * the events (counted by the worker), not the release. Runs started before this code send none.
 */

// The activity retries the sink itself for a bounded time and reports a loss instead of failing;
// Temporal only retries it after a worker crash, with the same event id. It runs on the release's own
// queue, its fleet's.
const announcements = proxyActivities<ReleaseCDEventsActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 10 },
});

export interface ReleaseAnnouncer {
  started(): void;
  waveStarted(wave: number): void;
  /** The wave's end; each wave's is sent once, however many times it is called. */
  waveFinished(wave: number, outcome: ReleaseOutcome, errors?: string): void;
  finished(): void;
  /** Resolves once every event asked for has been sent or given up. */
  sent(): Promise<void>;
}

const SILENT: ReleaseAnnouncer = {
  started: () => undefined,
  waveStarted: () => undefined,
  waveFinished: () => undefined,
  finished: () => undefined,
  sent: () => Promise.resolve(),
};

/** Call once, at the release's start: a run recorded before the patch keeps sending nothing. */
export function releaseAnnouncer(
  spec: FleetReleaseSpec,
  state: FleetReleaseState,
  by: string | undefined,
): ReleaseAnnouncer {
  if (!patched(FLEET_RELEASE_CDEVENTS)) return SILENT;
  let sequence = 0;
  let chain = Promise.resolve();
  const started = new Set<number>();
  const waves = (): ReleaseWaveSummary[] =>
    spec.waves.map((wave, index) => ({
      name: state.waves[index]?.name ?? `wave ${index + 1}`,
      clusters: [...new Set(wave.targets.map((target) => target.cluster))],
      targets: waveTargets(state, index).map(addressText),
    }));
  const send = (
    kind: ReleaseCDEventKind,
    details: Pick<ReleaseCDEventInput, 'phase' | 'wave' | 'outcome' | 'errors'>,
  ) => {
    const { workflowId, runId } = workflowInfo();
    const event: ReleaseCDEventInput = {
      kind,
      app: spec.app,
      release: state.release,
      workflowId,
      runId,
      sequence: ++sequence,
      waves: waves(),
      ...(by ? { by } : {}),
      occurredAt: new Date().toISOString(),
      ...details,
    };
    const summary = `CDEvent ${kind === 'started' || kind === 'finished' ? 'pipelineRun' : 'taskRun'}.${kind.replace(/^wave/, '').toLowerCase()} #${event.sequence}${event.wave === undefined ? '' : ` (${event.waves[event.wave]?.name ?? ''})`}`;
    chain = chain.then(() =>
      CancellationScope.nonCancellable(async () => {
        try {
          await announcements.emitReleaseCDEvent.executeWithOptions({ summary }, [event]);
        } catch (error) {
          log.warn('could not emit a CDEvent', { release: state.release, kind, error: String(error) });
        }
      }),
    );
  };
  return {
    started: () => send('started', { phase: state.phase }),
    waveStarted(wave) {
      started.add(wave);
      send('waveStarted', { phase: state.waves[wave]?.stage ?? 'Running', wave });
    },
    waveFinished(wave, outcome, errors) {
      if (!started.delete(wave)) return;
      send('waveFinished', {
        phase: state.waves[wave]?.stage ?? 'Done',
        wave,
        outcome,
        ...(errors ? { errors } : {}),
      });
    },
    finished() {
      // Every wave still open ends with the release: stopped by its abort.
      for (const wave of [...started]) this.waveFinished(wave, 'failure', state.message);
      const outcome: ReleaseOutcome = state.phase === 'Healthy' ? 'success' : 'failure';
      send('finished', {
        phase: state.phase,
        outcome,
        ...(outcome === 'failure' ? { errors: state.message } : {}),
      });
    },
    sent: () => chain,
  };
}
