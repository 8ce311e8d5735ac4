import { routedBy } from './canary-replica-weights';
import { CancellationScope, condition, isCancellation, log, patched } from '@temporalio/workflow';
import type { ReplicaSetSummary } from '../../activities/rollout-activities';
import { EventReason } from '../../reasons/rollout-reasons';
import type { TrafficWeights } from '../../schemas/rollout';
import type { CanaryRolloutInput } from '../rollout-api';
import { guards } from '../rollout-core/activity-options';
import { failureMessage, falseIfCanaryNotAvailable } from '../rollout-core/failures';
import type { Gates } from '../rollout-core/gates';
import { KEEP_ROUTE_WEIGHTS } from '../rollout-core/patches';
import type { RolloutLog } from '../rollout-core/rollout-log';
import type { RolloutRun } from '../rollout-core/rollout-run';

/** What the guard needs of the canary it guards. */
export interface GuardedCanary {
  run: RolloutRun<CanaryRolloutInput>;
  gates: Gates;
  rolloutLog: RolloutLog;
  /** The canary's pods last asked for. */
  canaryScale(): number | undefined;
  /** Settles once the Services select the right pods, as every traffic change waits for. */
  servicesPointed(): Promise<void>;
  /** The route write alone. */
  writeWeights(
    weights: TrafficWeights,
    summary: string,
    availableCanary?: { templateHash: string; replicas: number },
  ): Promise<void>;
  waitForCanaryPods(
    canaryReplicas: number,
    summary: string,
    activities: typeof guards,
  ): Promise<ReplicaSetSummary>;
}

/** The guard while it runs. */
export interface TrafficGuardHandle {
  /** Stops the guard and waits until it has; it guards again once the returned release is called. */
  standDown(): Promise<() => void>;
  /** Stops it for good, and waits until it has. */
  stop(): Promise<void>;
}

/**
 * A data plane sends a weighted backend its share even when none of its endpoints is Ready, so while
 * the canary has traffic, a guard activity watches its pods and, the moment none is Ready, the guard
 * moves that traffic to stable; it then waits for the pods and gives the weights back. With the route
 * watched too, weights someone else set there are set back at once. It stands down whenever the
 * workflow sets weights or scales the canary, and the change waits for any write of the guard's own
 * under way, so the two never write at once. Its own failure (the pods not back within the progress
 * deadline) aborts the steps.
 */
export class CanaryTrafficGuard {
  /**
   * True from the moment the guard trips (the canary's pods unready, or the weights changed by someone
   * else) until the weights are back: the route is written meanwhile, so the run cannot continue as new.
   */
  trafficMoved = false;

  constructor(private readonly canary: GuardedCanary) {}

  start(): TrafficGuardHandle {
    const { state } = this.canary.run;
    const scope = new CancellationScope();
    let standingDown = 0;
    let stopping = false;
    /** The watch under way, and its recovery if it tripped: what a stand-down cancels and waits for. */
    let turn: { scope: CancellationScope; ended: Promise<void> } | undefined;
    const mayGuard = () =>
      standingDown === 0 && state.weights.canary > 0 && (this.canary.canaryScale() ?? 0) > 0;

    const guarding = scope.run(async () => {
      for (;;) {
        await condition(mayGuard);
        // A stand-down may have begun between the condition holding and this continuation.
        if (!mayGuard()) continue;
        const turnScope = new CancellationScope();
        const guarded = turnScope.run(() => this.guardOnce({ ...state.weights }));
        turn = { scope: turnScope, ended: guarded.catch(() => undefined) };
        try {
          await guarded;
        } catch (error) {
          // Stood down (or stopped: then the next condition throws the cancellation).
          if (!(isCancellation(error) && turnScope.consideredCancelled)) throw error;
        } finally {
          turn = undefined;
        }
      }
    });
    guarding.catch((error: unknown) => {
      if (stopping || isCancellation(error)) return;
      this.canary.gates.interrupt({ kind: 'abort', reason: failureMessage(error) });
    });

    return {
      async standDown() {
        standingDown++;
        if (turn) {
          turn.scope.cancel();
          await turn.ended;
        }
        let released = false;
        return () => {
          if (!released) standingDown--;
          released = true;
        };
      },
      async stop() {
        stopping = true;
        scope.cancel();
        await guarding.catch(() => undefined);
      },
    };
  }

  /** One watch of the canary at `weights`; if it trips, the traffic stays on stable until its pods are back. */
  private async guardOnce(weights: TrafficWeights): Promise<void> {
    const { run, rolloutLog } = this.canary;
    const { rollout, templateHash, state, label } = run;
    const { canary } = run.input;
    const route = patched(KEEP_ROUTE_WEIGHTS)
      ? {
          rollout,
          ...routedBy(canary),
          weights,
        }
      : undefined;
    const tripped = await guards.guardCanaryTraffic.executeWithOptions(
      { summary: `guard canary traffic at ${weights.canary}%` },
      [{ rollout, templateHash, ...(route ? { route } : {}) }],
    );
    // The route is written now and until the weights are back: no continue-as-new meanwhile.
    this.trafficMoved = true;
    if (tripped.drift) {
      try {
        return await this.putWeightsBack(weights, tripped.message);
      } finally {
        this.trafficMoved = false;
      }
    }
    // A stand-down waits for this write rather than racing it.
    await CancellationScope.nonCancellable(() =>
      this.canary.writeWeights({ stable: 100, canary: 0 }, 'canary pods not Ready: set weight 0%'),
    );
    // The change that follows must know the canary has none, so it waits for pods before giving it any.
    state.weights = { stable: 100, canary: 0 };
    const said = state.message;
    const steps = canary.steps;
    const step = Math.min(state.currentStepIndex + 1, steps.length);
    const unready = `step ${step}/${steps.length}: canary pods not Ready: traffic moved back to stable, waiting for them (${tripped.message})`;
    state.message = unready;
    log.warn('canary unready: traffic moved back to stable', { rollout: label, ...tripped });
    rolloutLog.showDetails();
    rolloutLog.publishStatus(EventReason.CanaryUnready, 'Warning');
    try {
      await this.bringCanaryTrafficBack(weights);
    } finally {
      this.trafficMoved = false;
      // What the rollout said before, unless it has said something since.
      if (state.message === unready) state.message = said;
    }
    rolloutLog.showDetails();
    rolloutLog.publishStatus();
  }

  /** Someone else changed the weights (a GitOps sync of an older manifest): they are set back at once. */
  private async putWeightsBack(weights: TrafficWeights, changed: string): Promise<void> {
    const { canary } = this;
    // A stand-down waits for this write rather than racing it.
    await CancellationScope.nonCancellable(async () => {
      await canary.servicesPointed();
      await canary.writeWeights(weights, `weights changed by someone else: set back to ${weights.canary}%`);
    });
    log.warn('route weights changed under the rollout: set back', { rollout: canary.run.label, changed });
    canary.rolloutLog.publishStatus(
      EventReason.TrafficWeightsRestored,
      'Warning',
      `${changed}; Siirto set them back to stable ${weights.stable}% / canary ${weights.canary}%. Leave these ` +
        "weights out of what that tool applies (Argo CD: ignoreDifferences on the HTTPRoute's /spec/rules), " +
        'or the two keep undoing each other',
    );
  }

  /** Waits (within the progress deadline) for the canary's pods, then gives them back their weights. */
  private async bringCanaryTrafficBack(weights: TrafficWeights): Promise<void> {
    const { canary } = this;
    const pods = canary.canaryScale() ?? 0;
    for (;;) {
      await canary.waitForCanaryPods(pods, `wait for ${pods} canary pods Ready again`, guards);
      // A stand-down waits for this write rather than racing it; unready again since the wait, it waits again.
      const back = await CancellationScope.nonCancellable(async () => {
        await canary.servicesPointed();
        await canary.writeWeights(weights, `canary Ready again: set weight ${weights.canary}%`, {
          templateHash: canary.run.templateHash,
          replicas: pods,
        });
      }).then(() => true, falseIfCanaryNotAvailable);
      if (back) {
        canary.run.state.weights = weights;
        return;
      }
    }
  }
}
