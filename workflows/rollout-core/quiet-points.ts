import { condition, log, workflowInfo } from '@temporalio/workflow';
import {
  continueRolloutAsNew,
  historyTooLong,
  LAST_MOMENT_TO_CONTINUE,
  settleBeforeContinuing,
  type QuietPoint,
  type RolloutContinuation,
} from '../continue-as-new';
import type { Analyses } from './analyses';
import type { Gates } from './gates';
import type { Resizes } from './resizes';
import type { RolloutLog } from './rollout-log';
import type { RolloutRun } from './rollout-run';
import type { ScaleDowns } from './scale-downs';
import type { Webhooks } from './webhooks';

/** What a strategy adds to a run's quiet points: what keeps it busy, and what it carries over. */
export interface QuietStrategy {
  /** Something of the strategy's own under way whose outcome only this run would hear. */
  busy(): boolean;
  /** The strategy's own part of what the next run takes up. */
  carried(): Pick<RolloutContinuation, 'canaryScale' | 'canaryShare' | 'experiment'>;
}

/**
 * Continuing as new when the history grows long (continue-as-new.ts says when and why): a wait at a
 * quiet point continues as new once the history is past its limit, carrying all the next run needs.
 */
export class QuietPoints {
  /**
   * True while this run gets ready to continue as new: it waits for every handler to finish, so a
   * handler must not wait on the run meanwhile.
   */
  settling = false;

  constructor(
    private readonly run: RolloutRun,
    private readonly parts: {
      gates: Gates;
      analyses: Analyses;
      rolloutLog: RolloutLog;
      scaleDowns: ScaleDowns;
      resizes: Resizes;
      webhooks: Webhooks;
      strategy: QuietStrategy;
    },
  ) {}

  /** Takes up what every strategy carries over from the run before (the strategy takes up its own part). */
  takeUp(continued: RolloutContinuation): void {
    const { analyses, rolloutLog, scaleDowns } = this.parts;
    analyses.handovers = continued.handovers;
    rolloutLog.announcementCount = continued.announcementCount;
    scaleDowns.takeUp(continued.scaleDowns);
  }

  /** Nothing under way whose outcome only this run would hear, and no abort or newer revision to act on. */
  quiet(): boolean {
    const { gates, scaleDowns, resizes, strategy } = this.parts;
    return (
      gates.interruption === undefined &&
      !gates.promoting &&
      !strategy.busy() &&
      scaleDowns.underWay === 0 &&
      resizes.settled()
    );
  }

  /**
   * Waits at a quiet point until `done`, continuing as new whenever the history grows long meanwhile;
   * `until` (workflow time) ends the wait, however many runs it spans. Returns false when it did.
   */
  async waitQuietly(
    done: () => boolean,
    at: QuietPoint,
    until?: number,
    summary?: (left: number) => string,
  ): Promise<boolean> {
    // A wait about to end ends in this run: handing the analysis over could outlast what is left of it.
    const due = () =>
      this.quiet() &&
      historyTooLong(this.run.input.historyLimit) &&
      (until === undefined || until - Date.now() > LAST_MOMENT_TO_CONTINUE);
    for (;;) {
      if (until === undefined) {
        await condition(() => done() || due());
      } else {
        const left = until - Date.now();
        if (left <= 0) return false;
        if (!(await condition(() => done() || due(), left, { summary: summary?.(left) }))) return false;
      }
      if (done()) return true;
      await this.continueAsNewAt(at);
    }
  }

  /**
   * Continues as new, carrying all the next run needs to wait on exactly as this one would have;
   * returns, the run going on as it was, only if something came up meanwhile that this run must act on.
   * A strategy whose own wait is a quiet point (an A/B experiment between looks) calls it there.
   */
  async continueAsNewAt(at: QuietPoint): Promise<void> {
    const { run } = this;
    const { gates, analyses, rolloutLog, scaleDowns, webhooks, strategy } = this.parts;
    log.info('continuing as new', { rollout: run.label, at, historyLength: workflowInfo().historyLength });
    this.settling = true;
    let carried;
    try {
      carried = await analyses.background?.handOver();
      await settleBeforeContinuing(() => rolloutLog.pending());
    } finally {
      this.settling = false;
    }
    if (!this.quiet()) {
      // An abort or a newer revision came, or the canary's pods went unready: this run handles it.
      if (carried && gates.interruption === undefined) analyses.resumeBackground(carried);
      return;
    }
    const continued: RolloutContinuation = {
      runs: (run.input.continued?.runs ?? 0) + 1,
      at,
      state: { ...run.state },
      ...strategy.carried(),
      promotion: gates.promotion,
      promotedBy: gates.promotedBy,
      holds: [...gates.holds],
      pauseMessage: gates.pauseMessage,
      attempt: gates.attempt,
      background: carried,
      handovers: analyses.handovers,
      scaleDowns: scaleDowns.pending(),
      announcementCount: rolloutLog.announcementCount,
      ...(webhooks.carryOver() ? { webhooks: webhooks.carryOver() } : {}),
    };
    // The predecessor has stood down already; the number of pods is the one of this moment.
    const { supersedes: _handedOff, ...unchanged } = run.input;
    await continueRolloutAsNew({ ...unchanged, replicas: run.replicas, continued });
  }
}
