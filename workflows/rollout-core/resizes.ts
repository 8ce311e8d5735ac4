import { condition, isCancellation, log, patched } from '@temporalio/workflow';
import type { ResizeRequest } from '../rollout-api';
import { RESIZE_WITHOUT_REVISION } from './patches';
import type { RolloutRun } from './rollout-run';

/**
 * Resizing without a new revision: a change of spec.replicas (kubectl scale, an autoscaler) comes as a
 * signal, and the strategy sizes the pods to it where the rollout is, one resize at a time.
 */
export class Resizes {
  /** Counts the resizes asked for, so a wait for pods can tell that its count is out of date. */
  asked = 0;
  /** The resizes taken up so far; fewer than `asked` while one asked for has not begun. */
  private applied = 0;
  /** True while a resize is applied: the run waits for it before it ends. */
  applying = false;

  constructor(private readonly run: RolloutRun) {}

  /** The resize signal's handler. */
  ask({ replicas: wanted }: ResizeRequest): void {
    const { run } = this;
    if (wanted === run.replicas || !Number.isInteger(wanted) || wanted < 0) return;
    log.info('resize requested', { rollout: run.label, from: run.replicas, to: wanted });
    run.replicas = wanted;
    this.asked++;
  }

  /** No resize waits to begin, and none is being applied. */
  settled(): boolean {
    return this.asked === this.applied && !this.applying;
  }

  /**
   * Applies each resize as it comes, for as long as the run goes on. A run superseded
   * (`leftToSuccessor`) leaves a resize to its successor, which starts from the spec as it is then.
   */
  keepApplying(apply: () => Promise<void>, leftToSuccessor: () => boolean): void {
    void (async () => {
      for (;;) {
        await condition(() => this.asked !== this.applied && !leftToSuccessor());
        this.applied = this.asked;
        if (!patched(RESIZE_WITHOUT_REVISION)) continue;
        this.applying = true;
        try {
          await apply();
        } catch (error) {
          if (isCancellation(error)) throw error;
          log.warn('could not resize', {
            rollout: this.run.label,
            replicas: this.run.replicas,
            error: String(error),
          });
        } finally {
          this.applying = false;
        }
      }
    })().catch(() => undefined);
  }
}
