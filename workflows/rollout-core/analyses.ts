import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { EventReason, FailureType } from '../../reasons/rollout-reasons';
import type { AnalysisRunStatus, BackgroundAnalysis, RolloutAnalysis } from '../../schemas/analysis';
import { analysisRun, type AnalysisCarryOver, type AnalysisGate } from '../analysis-run';
import type { BackgroundCarryOver, JudgeCarryOver } from '../continue-as-new';
import { concludeAnalysisSignal, handOverAnalysisSignal, type AnalysisKind } from '../rollout-api';
import { analyses } from './activity-options';
import { failureMessage } from './failures';
import type { Gates, WaitQuietly } from './gates';
import { BACKGROUND_JUDGE, CONCLUDE_BACKGROUND_ANALYSIS, FRESH_BACKGROUND_ANALYSIS_ID } from './patches';
import type { RolloutLog } from './rollout-log';
import type { RolloutRun } from './rollout-run';

export interface RunningAnalysis {
  /** Settles with the verdict, or rejects (cancelled, or the analysis could not run at all). */
  verdict: Promise<AnalysisRunStatus>;
  /** True once the verdict is in and Successful. */
  succeeded(): boolean;
  /** Asks a background analysis for its verdict: the steps are done. */
  conclude(): Promise<void>;
  /**
   * Asks it to stop and say where it stands, for the next run to go on from; undefined when it
   * could not say (it was cancelled, or could not run: what that means is handled as always).
   */
  handOver(): Promise<BackgroundCarryOver | undefined>;
  cancel(): void;
}

/** What a strategy's analyses measure: the background analysis, if any, and the Services compared. */
export interface AnalysisPlan {
  background?: {
    analysis: BackgroundAnalysis;
    field: string;
    /**
     * Starts its judge, when it has one (the canary's: canary-background-judge.ts), fresh or as the
     * run before handed it over.
     */
    judged?: (resumed?: JudgeCarryOver) => RunningAnalysis;
  };
  canaryService: string;
  stableService: string;
}

/**
 * A rollout's analyses, each a child workflow (analysis-run.ts): a step's, which gates its step, and
 * the background one, which runs beside the steps from its starting step, aborts them when it fails,
 * and must succeed once more before promotion. An analysis with too little data to go on holds the
 * rollout (gates.ts) until it has, or until a person promotes past it.
 */
export class Analyses {
  background: RunningAnalysis | undefined;
  /** Background analyses handed over from one run to the next, so each new one has an ID of its own. */
  handovers = 0;
  /**
   * Background analyses a promote past their hold stopped in this run, by attempt: one started again
   * in the same attempt has an ID of its own, as the stopped one may not have closed yet.
   */
  private readonly stoppedPastHold = new Map<number, number>();

  constructor(
    private readonly run: RolloutRun,
    private readonly gates: Gates,
    private readonly rolloutLog: RolloutLog,
    private readonly waitQuietly: WaitQuietly,
    private readonly plan: AnalysisPlan,
  ) {}

  /**
   * Resolves an analysis's templates and runs it as a child workflow, in a scope of its own; `resumed`
   * is one that goes on from another's tallies after the rollout continued as new, under a new ID.
   */
  private start(
    analysis: RolloutAnalysis,
    kind: AnalysisKind,
    field: string,
    resumed?: { carriedOver: AnalysisCarryOver; handover: number },
    gate?: AnalysisGate,
  ): RunningAnalysis {
    const { rollout, revision, templateHash, state, label, input } = this.run;
    const scope = new CancellationScope();
    const stepIndex = kind === 'step' ? state.currentStepIndex : undefined;
    const stops = kind === 'background' && !resumed ? (this.stoppedPastHold.get(this.gates.attempt) ?? 0) : 0;
    const again = stops > 0 && patched(FRESH_BACKGROUND_ANALYSIS_ID) ? `/s${stops}` : '';
    let child: ChildWorkflowHandle<typeof analysisRun> | undefined;
    let settled = false;
    let succeeded = false;
    const verdict = scope.run(async () => {
      const metrics = await analyses.resolveAnalysis.executeWithOptions(
        { summary: `resolve ${gate?.name ?? `${kind} analysis`}` },
        [
          {
            rollout,
            analysis,
            field,
            mode: kind,
            context: {
              namespace: rollout.namespace,
              rollout: rollout.name,
              canaryHash: templateHash,
              stableHash: state.stableTemplateHash ?? templateHash,
              canaryService: this.plan.canaryService,
              stableService: this.plan.stableService,
            },
          },
        ],
      );
      const which = gate?.statusKey ?? (stepIndex === undefined ? 'background' : `step-${stepIndex + 1}`);
      const handover = resumed ? `/h${resumed.handover}` : '';
      const carriedOver = resumed ? { carriedOver: resumed.carriedOver } : {};
      child = await startChild(analysisRun, {
        workflowId: `${workflowInfo().workflowId}/analysis/${which}/a${this.gates.attempt}${handover}${again}`,
        args: [
          {
            rollout,
            revision,
            kind,
            stepIndex,
            metrics,
            historyLimit: input.analysisHistoryLimit,
            ...carriedOver,
            ...(gate ? { gate } : {}),
          },
        ],
        staticSummary: `${label}: ${gate?.name ?? `${kind} analysis`} of ${metrics.map((metric) => metric.name).join(', ')}`,
      });
      return child.result();
    });
    verdict.then(
      (outcome) => {
        settled = true;
        succeeded = outcome.phase === 'Successful';
      },
      () => (settled = true),
    );
    return {
      verdict,
      succeeded: () => succeeded,
      async conclude() {
        await condition(() => child !== undefined || settled);
        // An analysis that has just ended needs no word; its verdict speaks for it.
        if (!settled) await child?.signal(concludeAnalysisSignal).catch(() => undefined);
      },
      async handOver() {
        await condition(() => child !== undefined || settled);
        if (!settled) await child?.signal(handOverAnalysisSignal).catch(() => undefined);
        const outcome = await verdict.catch(() => undefined);
        if (!outcome) return undefined;
        return outcome.handedOver ? { carriedOver: outcome.handedOver } : { verdict: outcome };
      },
      cancel: () => scope.cancel(),
    };
  }

  /** An analysis whose verdict came in an earlier run. */
  private concluded(verdict: AnalysisRunStatus): RunningAnalysis {
    const succeeded = verdict.phase === 'Successful';
    return {
      verdict: Promise.resolve(verdict),
      succeeded: () => succeeded,
      conclude: () => Promise.resolve(),
      handOver: () => Promise.resolve({ verdict }),
      cancel: () => undefined,
    };
  }

  /** The analysis failed: as an abort, with the failing metric, its value and condition. */
  private failure(verdict: AnalysisRunStatus): ApplicationFailure {
    return ApplicationFailure.nonRetryable(
      `analysis failed: ${verdict.message ?? ''}`,
      FailureType.AnalysisFailed,
    );
  }

  /**
   * Waits for a step's analysis (`field` names it in the Rollout), or for one that gates a strategy's
   * step of its own (blue-green's pre- and post-promotion analyses); a promote while it holds on
   * inconclusive data skips the rest of it.
   */
  async analyseStep(analysis: RolloutAnalysis, field: string, gate?: AnalysisGate): Promise<void> {
    const { holds } = this.gates;
    const running = this.start(analysis, 'step', field, undefined, gate);
    let verdict: AnalysisRunStatus | undefined;
    let error: unknown;
    running.verdict.then(
      (settled) => (verdict = settled),
      (failure: unknown) => (error = failure ?? new Error('analysis failed')),
    );
    await condition(
      () =>
        verdict !== undefined ||
        error !== undefined ||
        this.gates.promotion?.full === true ||
        (holds.has('step') && this.gates.promotion !== undefined),
    );
    holds.delete('step');
    if (error !== undefined) {
      if (isCancellation(error)) throw error;
      throw ApplicationFailure.nonRetryable(
        `step analysis could not run: ${failureMessage(error)}`,
        FailureType.AnalysisFailed,
      );
    }
    if (!verdict) {
      running.cancel();
      this.goOnPastAnalysis();
      return;
    }
    if (verdict.phase === 'Failed') {
      this.rolloutLog.failedAnalysis = { kind: gate?.statusKey ?? 'step', verdict };
      throw this.failure(verdict);
    }
  }

  /** Starts the background analysis once the steps reach its starting step; a failure aborts them. */
  startBackgroundFrom(stepIndex: number): void {
    const background = this.plan.background;
    if (!background || this.background || stepIndex < background.analysis.startingStep) return;
    if (background.judged && patched(BACKGROUND_JUDGE)) return this.watchBackground(background.judged());
    this.watchBackground(this.start(background.analysis, 'background', background.field));
  }

  /** The background analysis as the run before left it (continue-as-new.ts). */
  resumeBackground(carried: BackgroundCarryOver): void {
    const background = this.plan.background;
    if (!background) return;
    if ('verdict' in carried) {
      this.background = this.concluded(carried.verdict);
      return;
    }
    if ('judged' in carried) {
      if (background.judged) this.watchBackground(background.judged(carried.judged));
      return;
    }
    this.handovers++;
    this.watchBackground(
      this.start(background.analysis, 'background', background.field, {
        carriedOver: carried.carriedOver,
        handover: this.handovers,
      }),
    );
  }

  private watchBackground(running: RunningAnalysis): void {
    this.background = running;
    running.verdict.then(
      (verdict) => {
        if (verdict.phase !== 'Failed') return;
        this.rolloutLog.failedAnalysis = { kind: 'background', verdict };
        this.gates.interrupt({
          kind: 'abort',
          reason: this.failure(verdict).message,
          eventReason: EventReason.AnalysisFailed,
        });
      },
      (error: unknown) => {
        if (isCancellation(error)) return;
        this.gates.interrupt({
          kind: 'abort',
          reason: `background analysis could not run: ${failureMessage(error)}`,
        });
      },
    );
  }

  /**
   * The steps are done: a background analysis must have seen the new revision do well before it is promoted,
   * however short the steps were against its delay and interval. A failure aborts as at any time; a
   * person may promote past the wait.
   */
  async concludeBackground(): Promise<void> {
    const running = this.background;
    const { gates, run } = this;
    if (running && !gates.promotion?.full && patched(CONCLUDE_BACKGROUND_ANALYSIS)) {
      if (gates.holds.size === 0) {
        const { stepCount } = run.state;
        run.state.message = `step ${stepCount}/${stepCount} done: waiting for the background analysis to succeed`;
        this.rolloutLog.showDetails();
        this.rolloutLog.publishStatus();
      }
      await running.conclude();
      await condition(() => running.succeeded() || gates.promotion !== undefined);
      if (!running.succeeded()) this.goOnPastAnalysis();
    }
    this.stopBackground();
  }

  stopBackground(): void {
    this.background?.cancel();
    this.background = undefined;
    this.gates.holds.delete('background');
  }

  /** Between steps: no step starts while an analysis holds, unless a person promotes past it. */
  async waitWhileHeld(): Promise<void> {
    const { holds } = this.gates;
    if (holds.size === 0) return;
    const released = () => holds.size === 0 || this.gates.promotion !== undefined;
    if (this.run.mayContinueAsNew) await this.waitQuietly(released, 'hold');
    else await condition(released);
    if (holds.size === 0) return;
    if (this.background) {
      const { attempt } = this.gates;
      this.stoppedPastHold.set(attempt, (this.stoppedPastHold.get(attempt) ?? 0) + 1);
    }
    this.stopBackground();
    holds.clear();
    this.goOnPastAnalysis();
  }

  /** A person promoted while an analysis held the rollout: the promote is spent on the analysis. */
  private goOnPastAnalysis(): void {
    const { gates, run } = this;
    if (!gates.promotion?.full) gates.promotion = undefined;
    run.state.paused = gates.pausing;
    this.rolloutLog.enterPhase('Progressing', `${run.currentStep()}: promoted past the analysis`);
  }
}
