import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  setHandler,
} from '@temporalio/workflow';
import { FailureType, FAILURES_NAMING_THEIR_EVENT } from '../../reasons/rollout-reasons';
import { formatDuration, parsePauseDuration } from '../../schemas/duration';
import type { QuietPoint } from '../continue-as-new';
import {
  abortSignal,
  abortUpdate,
  analysisHoldSignal,
  promoteSignal,
  promoteUpdate,
  resizeSignal,
  retrySignal,
  retryUpdate,
  statusQuery,
  supersedeSignal,
  type AbortRequest,
  type AnalysisKind,
  type PromoteRequest,
  type ResizeRequest,
  type RetryRequest,
} from '../rollout-api';
import { permanentFailure } from './failures';
import { PROMOTE_ACTS_ON_CURRENT_GATE } from './patches';
import type { RolloutLog } from './rollout-log';
import type { RolloutRun } from './rollout-run';

/** Why the steps stopped before the end. */
export type Interruption =
  { kind: 'abort'; reason: string; eventReason?: string } | { kind: 'supersede'; revision: number };

/**
 * Waits at a quiet point until `done`, continuing as new whenever the history grows long meanwhile;
 * `until` (workflow time) ends the wait. Returns false when it did (quiet-points.ts).
 */
export type WaitQuietly = (
  done: () => boolean,
  at: QuietPoint,
  until?: number,
  summary?: (left: number) => string,
) => Promise<boolean>;

/**
 * What holds a rollout or lets it go on, whatever its strategy: pauses (timed, or until promoted),
 * promote (the current pause or hold, or with `full` every step left), abort, retry, a newer revision
 * superseding this one, and analyses holding it on inconclusive data. The commands come as signals
 * and as updates; an update is refused, with why, where a signal would be ignored.
 */
export class Gates {
  promotion: PromoteRequest | undefined;
  /** Who promoted last, for the Healthy message: a promote is consumed by its pause, the credit is not. */
  promotedBy: string | undefined;
  interruption: Interruption | undefined;
  retryRequested = false;
  /** The work an abort or supersede cuts short: the steps, or a promotion's wait for pods. */
  abortable: CancellationScope | undefined;
  /** Once the new revision is becoming stable there is no abort: traffic is already on its way to it. */
  promoting = false;
  /** Analyses holding the rollout on inconclusive data, with why; a promote lets it go on regardless. */
  readonly holds = new Map<AnalysisKind, string>();
  /** What a pause step says while it waits, to say again when a hold during it is lifted. */
  pauseMessage = '';
  /** True during a pause step, as opposed to a hold by an analysis. */
  pausing = false;
  /** Counts the tries of this revision (a retry after an abort is the next), so analyses get fresh IDs. */
  attempt = 1;
  /** Set when this run stands down for a newer revision, which takes over what it leaves. */
  standingDown = false;

  constructor(
    private readonly run: RolloutRun,
    private readonly rolloutLog: RolloutLog,
    private readonly waitQuietly: WaitQuietly,
  ) {
    const resuming = run.input.continued;
    if (resuming) {
      // Before any handler is set, as the state (rollout-run.ts).
      this.promotion = resuming.promotion;
      this.promotedBy = resuming.promotedBy;
      for (const [kind, why] of resuming.holds) this.holds.set(kind, why);
      this.pauseMessage = resuming.pauseMessage;
      this.attempt = resuming.attempt;
    }
  }

  /** True once a newer revision has come: this run stands down. */
  superseded(): boolean {
    return this.interruption?.kind === 'supersede';
  }

  // --- commands -------------------------------------------------------------------------------------
  /**
   * Where the run stands, for a refusal: its phase, or the abort or stand-down under way (the phase
   * says Paused or Progressing until the way back to stable is done).
   */
  private standing(): string {
    const { state, label } = this.run;
    const interruption = this.interruption;
    if (interruption?.kind === 'supersede') return `${label} is standing down for r${interruption.revision}`;
    if (interruption && state.phase !== 'Degraded') return `${label} is being aborted`;
    return `${label} is ${state.phase}`;
  }

  private refusePromote(request: PromoteRequest = {}): void {
    const { state, label } = this.run;
    if (this.interruption || !['Progressing', 'Paused'].includes(state.phase)) {
      throw new Error(`nothing to promote: ${this.standing()}`);
    }
    if (this.promoting) throw new Error(`nothing to promote: ${label} is already being promoted to stable`);
    if (!request.full && !state.paused) {
      throw new Error(`nothing to promote: ${label} is not paused; use full`);
    }
  }

  private promote(request: PromoteRequest = {}): void {
    this.promotion = { full: request.full || this.promotion?.full, by: request.by };
    this.promotedBy = request.by ?? this.promotedBy;
    log.info('promote requested', { rollout: this.run.label, ...request });
  }

  private refuseAbort(_request?: AbortRequest): void {
    const { state, label } = this.run;
    if (this.interruption || !['Progressing', 'Paused'].includes(state.phase)) {
      throw new Error(`nothing to abort: ${this.standing()}`);
    }
    if (this.promoting) throw new Error(`too late to abort: ${label} is being promoted to stable`);
  }

  private abort(request: AbortRequest = {}): void {
    const reason = `aborted${request.by ? ` by ${request.by}` : ''}${request.reason ? `: ${request.reason}` : ''}`;
    this.interrupt({ kind: 'abort', reason });
  }

  private refuseRetry(_request?: RetryRequest): void {
    const { state } = this.run;
    if (this.interruption?.kind === 'abort' && state.phase !== 'Degraded') {
      throw new Error(`nothing to retry yet: ${this.standing()}; retry once it is Degraded`);
    }
    if (state.phase !== 'Degraded' || this.interruption?.kind === 'supersede') {
      throw new Error(`nothing to retry: ${this.standing()}`);
    }
  }

  /** Stops the abortable work for an abort or a newer revision; nothing replaces a supersede. */
  interrupt(reason: Interruption): void {
    if (this.interruption?.kind === 'supersede') return;
    this.interruption = reason;
    this.abortable?.cancel();
  }

  /**
   * Sets the handlers of every command, in the order recorded histories expect: a command that came
   * before the run started is delivered as its handler is set. `resize` takes spec.replicas changes.
   */
  register(resize: (request: ResizeRequest) => void): void {
    const { state, label } = this.run;
    setHandler(promoteSignal, (request) => {
      try {
        this.refusePromote(request);
        this.promote(request);
      } catch (refusal) {
        log.warn('promote signal ignored', { rollout: label, reason: String(refusal) });
      }
    });
    setHandler(abortSignal, (request) => {
      try {
        this.refuseAbort(request);
        this.abort(request);
      } catch (refusal) {
        log.warn('abort signal ignored', { rollout: label, reason: String(refusal) });
      }
    });
    setHandler(retrySignal, () => {
      if (state.phase === 'Degraded') this.retryRequested = true;
      else
        log.warn('retry signal ignored', { rollout: label, reason: `nothing to retry: ${this.standing()}` });
    });
    setHandler(supersedeSignal, ({ revision: newer }) =>
      this.interrupt({ kind: 'supersede', revision: newer }),
    );
    setHandler(resizeSignal, resize);
    setHandler(analysisHoldSignal, ({ kind, held, message }) => this.holdForAnalysis(kind, held, message));
    setHandler(
      promoteUpdate,
      (request) => {
        this.promote(request);
        return state;
      },
      { validator: (request) => this.refusePromote(request) },
    );
    setHandler(
      abortUpdate,
      (request) => {
        this.abort(request);
        return state;
      },
      { validator: (request) => this.refuseAbort(request) },
    );
    setHandler(
      retryUpdate,
      () => {
        this.retryRequested = true;
        return state;
      },
      { validator: (request) => this.refuseRetry(request) },
    );
    setHandler(statusQuery, () => state);
  }

  /**
   * An analysis holds the rollout (too many inconclusive measurements, or an inconclusive judgement of
   * the background judge) or lets it go on.
   */
  holdForAnalysis(kind: AnalysisKind, held: boolean, message: string): void {
    const { state } = this.run;
    if (this.interruption || !['Progressing', 'Paused'].includes(state.phase)) return;
    if (held) {
      this.holds.set(kind, `${kind} analysis inconclusive: ${message}; promote to go on, or abort`);
      state.paused = true;
      this.rolloutLog.enterPhase('Paused', this.holds.get(kind) ?? '');
    } else if (this.holds.delete(kind) && this.holds.size === 0) {
      state.paused = this.pausing;
      // A promote that came for the hold ends with it: it must not skip a later pause or the final check.
      if (!this.pausing && this.promotion && !this.promotion.full && patched(PROMOTE_ACTS_ON_CURRENT_GATE)) {
        this.promotion = undefined;
      }
      if (this.pausing) this.rolloutLog.enterPhase('Paused', this.pauseMessage);
      else
        this.rolloutLog.enterPhase(
          'Progressing',
          `${this.run.currentStep()}: ${kind} analysis conclusive again`,
        );
    }
  }

  // --- pauses ---------------------------------------------------------------------------------------
  /** `resumed`: the run before this one continued as new in this pause; its state says the rest. */
  /**
   * `writtenByNextStep` says, as the pause ends, whether the step after it writes the status itself
   * right after its own cluster write: the end of the pause then leaves the status to it.
   */
  async pause(
    step: { duration?: string | number },
    resumed = false,
    writtenByNextStep?: () => boolean,
  ): Promise<void> {
    const { state } = this.run;
    const milliseconds = step.duration === undefined ? undefined : parsePauseDuration(step.duration);
    if (step.duration !== undefined && milliseconds === undefined) {
      throw ApplicationFailure.nonRetryable(
        `pause duration "${step.duration}" is not a duration`,
        FailureType.InvalidConfiguration,
      );
    }
    this.pausing = true;
    state.paused = true;
    if (!resumed) {
      // Workflow time, so replays agree: the CLI shows how long the pause has left.
      if (milliseconds !== undefined) state.pauseEndsAt = new Date(Date.now() + milliseconds).toISOString();
      const until =
        milliseconds === undefined ? 'until promoted' : `${formatDuration(milliseconds)} or until promoted`;
      this.pauseMessage = `${this.run.currentStep()}: paused ${until}`;
      this.rolloutLog.enterPhase('Paused', this.pauseMessage);
    }
    const promoted = () => this.promotion !== undefined;
    if (this.run.mayContinueAsNew) {
      // A timed pause ends at the deadline it was given, however many runs it spans.
      const endsAt = state.pauseEndsAt === undefined ? undefined : Date.parse(state.pauseEndsAt);
      const summary = (left: number) =>
        milliseconds === undefined || left === milliseconds
          ? `pause ${formatDuration(left)}`
          : `pause ${formatDuration(milliseconds)}: ${formatDuration(left)} left`;
      await this.waitQuietly(promoted, 'pause', endsAt, summary);
    } else if (milliseconds === undefined) {
      await condition(promoted);
    } else {
      await condition(promoted, milliseconds, { summary: `pause ${formatDuration(milliseconds)}` });
    }
    this.pausing = false;
    state.paused = this.holds.size > 0;
    state.pauseEndsAt = undefined;
    if (this.promotion && !this.promotion.full) this.promotion = undefined;
    // An analysis that began holding during the pause goes on holding after it.
    const [hold] = this.holds.values();
    if (hold !== undefined) this.rolloutLog.enterPhase('Paused', hold);
    else {
      const publish = !(writtenByNextStep?.() ?? false);
      this.rolloutLog.enterPhase('Progressing', `${this.run.currentStep()}: pause over`, undefined, publish);
    }
  }

  // --- interruptions --------------------------------------------------------------------------------
  /** What stopped abortable work: an abort or supersede, or a permanent failure handled like an abort. */
  interruptionBehind(error: unknown): Interruption {
    if (this.interruption && isCancellation(error)) return this.interruption;
    const failure = permanentFailure(error);
    if (failure?.type === FailureType.RevisionSuperseded) {
      return { kind: 'supersede', revision: this.run.revision + 1 };
    }
    // Any other permanent failure (deadline, missing Service or route) is handled like an abort.
    if (failure) {
      const eventReason = FAILURES_NAMING_THEIR_EVENT.includes(failure.type ?? '')
        ? (failure.type ?? undefined)
        : undefined;
      return { kind: 'abort', reason: failure.message, eventReason };
    }
    throw error;
  }

  /** Runs work that an abort or supersede may cut short, as the steps are; returns what did. */
  async abortably(work: () => Promise<void>): Promise<Interruption | undefined> {
    this.abortable = new CancellationScope();
    try {
      await this.abortable.run(work);
      return undefined;
    } catch (error) {
      return this.interruptionBehind(error);
    } finally {
      this.abortable = undefined;
    }
  }

  /** A retry begins the revision's next attempt: nothing of the last one's commands is left. */
  retried(): void {
    this.retryRequested = false;
    this.interruption = undefined;
    this.promotion = undefined;
    this.attempt++;
  }
}
