import { CancellationScope, condition, isCancellation, log } from '@temporalio/workflow';
import { formatDuration } from '../../schemas/duration';
import type { PendingScaleDown } from '../rollout-api';
import { cluster } from './activity-options';
import type { RolloutRun } from './rollout-run';

/**
 * Scaling down once the traffic has surely left: pods that traffic leaves keep running for a delay,
 * since a gateway applies new weights a little later than they are written. What is still waiting
 * when a newer revision comes is left to it, in the run's result.
 */
export class ScaleDowns {
  /** ReplicaSets waiting to be scaled to 0, by template hash, with when they may be. */
  private readonly waiting = new Map<string, number>();
  /** Cancelled when this run stands down: the revision after it takes over what is still waiting. */
  private readonly scope = new CancellationScope();
  private readonly scalingDown: Promise<void>[] = [];
  /** Scale-downs whose time has come and which are being written now. */
  underWay = 0;

  constructor(private readonly run: RolloutRun) {}

  /**
   * Scales the ReplicaSet to 0 at `notBefore` (workflow time), unless its pods are wanted again by then:
   * it became stable, or a retry took it off the list.
   */
  later(hash: string, notBefore: number, what: string): void {
    const { rollout, state, label } = this.run;
    this.waiting.set(hash, notBefore);
    const wait = Math.max(0, notBefore - Date.now());
    const done = this.scope.run(async () => {
      if (wait > 0) {
        await condition(() => !this.waiting.has(hash), wait, {
          summary: `keep ${what} pods ${formatDuration(wait)} after the traffic left them`,
        });
      }
      if (!this.waiting.delete(hash) || hash === state.stableTemplateHash) return;
      this.underWay++;
      try {
        await cluster.scaleReplicaSet.executeWithOptions({ summary: `scale ${what} to 0` }, [
          { rollout, templateHash: hash, replicas: 0 },
        ]);
      } finally {
        this.underWay--;
      }
    });
    this.scalingDown.push(
      done.catch((error: unknown) => {
        if (isCancellation(error)) return;
        log.warn('could not scale down', { rollout: label, templateHash: hash, error: String(error) });
      }),
    );
  }

  /** A retry wants the pods again: a scale-down not begun is called off. */
  callOff(hash: string): void {
    this.waiting.delete(hash);
  }

  has(hash: string): boolean {
    return this.waiting.has(hash);
  }

  /** True once any scale-down was asked for in this run. */
  asked(): boolean {
    return this.scalingDown.length > 0;
  }

  /** What is still waiting, as a run hands it to the next. */
  pending(): PendingScaleDown[] {
    return [...this.waiting].map(([hash, notBefore]): PendingScaleDown => ({
      templateHash: hash,
      notBefore: new Date(notBefore).toISOString(),
    }));
  }

  /** Takes up what a run before left: the one continued from, or a superseded revision's. */
  takeUp(left: PendingScaleDown[], keep: (hash: string) => boolean = () => false): void {
    for (const { templateHash, notBefore } of left) {
      if (!keep(templateHash)) this.later(templateHash, Date.parse(notBefore), templateHash);
    }
  }

  /**
   * Before the run ends: what is still waiting to be scaled down is done, or, when a newer revision
   * has come (`leftToSuccessor`), left to it in the run's result.
   */
  async settle(leftToSuccessor: () => boolean): Promise<void> {
    await condition(() => this.waiting.size === 0 || leftToSuccessor());
    if (this.waiting.size > 0) {
      this.run.state.scaleDowns = this.pending();
      this.waiting.clear();
      this.scope.cancel();
    }
    await Promise.all(this.scalingDown);
  }
}
