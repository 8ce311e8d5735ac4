import {
  CancellationScope,
  log,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RolloutCDEventInput, RolloutCDEventKind } from '../../cdevents/rollout-event';
import type { AnalysisRunStatus, AnalysisStatus } from '../../schemas/analysis';
import type { RolloutPhase } from '../../schemas/rollout';
import { RolloutPhaseKey } from '../search-attributes';
import { announcements, cluster } from './activity-options';
import type { RolloutRun } from './rollout-run';

/**
 * The rollout log: every change lands in the Rollout's status (with a Kubernetes Event where it has a
 * reason), the RolloutPhase search attribute, the Temporal UI's current details, and, for the moments
 * CDEvents name, an announcement.
 */
export class RolloutLog {
  /**
   * Status writes run in order behind the rollout and never hold it up; each carries the state of its
   * moment. They cannot be cancelled, and the workflow waits for them before it ends, so a superseded
   * revision's last write always lands before its successor's first.
   */
  statusWrites: Promise<void> = Promise.resolve();
  /**
   * CDEvents go out in order behind the rollout, like status writes: a slow or absent sink never holds
   * it up, and the workflow waits for them before it ends.
   */
  announcementsSent: Promise<void> = Promise.resolve();
  /** CDEvents sent so far, this run's and those of the runs before it: each has the next number. */
  announcementCount = 0;
  /**
   * Calls of webhooks that only inform (post-rollout, event), queued behind the rollout like CDEvents
   * and waited for like them (webhooks.ts).
   */
  webhooksSent: Promise<void> = Promise.resolve();
  /** Told of every phase entered, and of every announcement: the rollout's webhooks, if it has any. */
  onPhase: ((phase: RolloutPhase, message: string) => void) | undefined;
  onAnnounce: ((kind: RolloutCDEventKind) => void) | undefined;
  /** The analysis that failed, written to the status with the Degraded phase it causes. */
  failedAnalysis: { kind: keyof AnalysisStatus; verdict: AnalysisRunStatus } | undefined;

  constructor(
    private readonly run: RolloutRun,
    /** The first line of the current details, for a run that continued as new (continue-as-new.ts). */
    private readonly heading: string | undefined,
    /** The lines of the current details after the phase: what the strategy shows of its progress. */
    private readonly progress: () => string[],
  ) {}

  /**
   * The Event is a Warning for a Degraded rollout, unless `eventType` says which; it says the phase's
   * message unless given one of its own.
   */
  publishStatus(eventReason?: string, eventType?: 'Normal' | 'Warning', eventMessage?: string): void {
    const { rollout, revision, state, label } = this.run;
    const { phase, message } = state;
    const failedAnalysis = this.failedAnalysis;
    const status = {
      phase,
      message,
      replicas: this.run.replicas,
      currentStepIndex: state.currentStepIndex,
      stepCount: state.stepCount,
      weights: state.weights,
      stableTemplateHash: state.stableTemplateHash,
      ...(state.blueGreen ? { blueGreen: state.blueGreen } : {}),
      ...(state.experiment ? { experiment: state.experiment } : {}),
      ...(phase === 'Degraded' && failedAnalysis
        ? { analysis: { [failedAnalysis.kind]: failedAnalysis.verdict } }
        : {}),
    };
    const condition = {
      type: 'Progressing',
      status: phase === 'Progressing' || phase === 'Paused' ? ('True' as const) : ('False' as const),
      reason: eventReason ?? phase,
      message,
    };
    this.statusWrites = this.statusWrites.then(() =>
      CancellationScope.nonCancellable(async () => {
        try {
          await cluster.writeRolloutStatus.executeWithOptions({ summary: `status ${phase}: ${message}` }, [
            { rollout, revision, status, condition },
          ]);
          if (eventReason) {
            const type = eventType ?? (phase === 'Degraded' ? 'Warning' : 'Normal');
            await cluster.recordRolloutEvent.executeWithOptions({ summary: `event ${eventReason}` }, [
              { rollout, type, reason: eventReason, message: `r${revision}: ${eventMessage ?? message}` },
            ]);
          }
        } catch (error) {
          log.warn('could not write the Rollout status', { rollout: label, phase, error: String(error) });
        }
      }),
    );
  }

  announce(kind: RolloutCDEventKind, reason?: string): void {
    const { rollout, revision, state, label } = this.run;
    const event: RolloutCDEventInput = {
      kind,
      rollout: { namespace: rollout.namespace, name: rollout.name },
      revision,
      workflowId: workflowInfo().workflowId,
      runId: workflowInfo().runId,
      sequence: ++this.announcementCount,
      stepIndex: state.currentStepIndex,
      weights: state.weights,
      images: this.run.input.images ?? [],
      occurredAt: new Date().toISOString(),
      ...(reason ? { reason } : {}),
    };
    this.announcementsSent = this.announcementsSent.then(() =>
      CancellationScope.nonCancellable(async () => {
        try {
          await announcements.emitCDEvent.executeWithOptions(
            { summary: `CDEvent service.${kind} #${event.sequence}` },
            [event],
          );
        } catch (error) {
          log.warn('could not emit a CDEvent', { rollout: label, kind, error: String(error) });
        }
      }),
    );
    this.onAnnounce?.(kind);
  }

  /** `publish` is off where a status write follows at once from what the run does next. */
  enterPhase(phase: RolloutPhase, message: string, eventReason?: string, publish = true): void {
    const { state } = this.run;
    state.phase = phase;
    state.message = message;
    upsertSearchAttributes([{ key: RolloutPhaseKey, value: phase }]);
    this.showDetails();
    if (publish) this.publishStatus(eventReason);
    this.onPhase?.(phase, message);
  }

  /** The run stands down for a newer revision: the phase its search attribute shows from now on. */
  superseded(): void {
    upsertSearchAttributes([{ key: RolloutPhaseKey, value: 'Superseded' }]);
  }

  showDetails(): void {
    const { state } = this.run;
    setCurrentDetails(
      [
        ...(this.heading === undefined ? [] : [this.heading]),
        `**${state.phase}** — ${state.message}`,
        ...this.progress(),
      ].join('\n\n'),
    );
  }

  /** What is still being written or sent, which a run waits for before it continues as new. */
  pending(): readonly Promise<unknown>[] {
    const webhooks = this.onPhase ? [this.webhooksSent] : [];
    return [this.statusWrites, this.announcementsSent, ...webhooks];
  }
}
