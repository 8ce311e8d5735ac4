import { ApplicationFailure, condition, log, setHandler } from '@temporalio/workflow';
import { setWeightUpdate, type SetWeightRequest } from '../rollout-api';
import { failureMessage } from '../rollout-core/failures';
import type { Gates } from '../rollout-core/gates';
import type { RolloutLog } from '../rollout-core/rollout-log';
import type { RolloutRun } from '../rollout-core/rollout-run';

/** Failure type of a setWeight accepted but not carried out: the step ended first, or the move failed. */
export const WEIGHT_NOT_SET = 'WeightNotSet';

interface AskedWeight {
  request: SetWeightRequest;
  settled: boolean;
  /** Why the weight was not set, once settled without it. */
  failure?: string;
}

/**
 * A canary step `pause: { external: true }`: a pause during which an outside system (a release
 * pipeline, an experimentation platform) sets the canary's weight with the setWeight Update, until a
 * promote ends it as it ends a pause. The weights move one at a time in the steps themselves, so an
 * abort cuts a move short as it cuts a setWeight step, and nothing writes the route beside them.
 */
export class ExternalWeights {
  /** True while an external step runs: only then is a weight from outside taken. */
  private active = false;
  private readonly asked: AskedWeight[] = [];

  constructor(
    private readonly run: RolloutRun,
    private readonly gates: Gates,
    private readonly rolloutLog: RolloutLog,
  ) {}

  /** The setWeight Update: answered once the weight is on the route, refused outside an external step. */
  register(): void {
    setHandler(
      setWeightUpdate,
      async (request) => {
        const asked: AskedWeight = { request, settled: false };
        this.asked.push(asked);
        await condition(() => asked.settled);
        if (asked.failure !== undefined) throw ApplicationFailure.nonRetryable(asked.failure, WEIGHT_NOT_SET);
        return this.run.state;
      },
      { validator: (request) => this.refuse(request) },
    );
  }

  private refuse(request: SetWeightRequest | undefined): void {
    const weight = request?.weight;
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 100) {
      throw new Error(`weight must be a whole number from 0 to 100, not ${JSON.stringify(weight)}`);
    }
    const { state, label } = this.run;
    if (!this.active || this.gates.interruption || this.gates.promoting) {
      throw new Error(
        `nothing to set: ${label} is not at a step that takes its weight from outside ` +
          `(pause: {external: true}); it is ${state.phase}: ${state.message}`,
      );
    }
    if (this.gates.promotion) {
      throw new Error(`too late to set a weight: ${label} was promoted past its external step`);
    }
  }

  /** Runs the step: each weight asked for is set in turn with `setWeight`, until a promote. */
  async runStep(setWeight: (weight: number) => Promise<void>): Promise<void> {
    const { run, gates, rolloutLog } = this;
    const { state } = run;
    const waiting = () =>
      `${run.currentStep()}: canary at ${state.weights.canary}%, its weight set from outside until promoted`;
    this.active = true;
    gates.pausing = true;
    state.paused = true;
    gates.pauseMessage = waiting();
    rolloutLog.enterPhase('Paused', gates.pauseMessage);
    try {
      for (;;) {
        await condition(() => gates.promotion !== undefined || this.asked.length > 0);
        const next = this.asked.shift();
        if (!next) break;
        try {
          await setWeight(next.request.weight);
        } catch (error) {
          next.failure = `the weight was not set: ${failureMessage(error)}`;
          throw error;
        } finally {
          next.settled = true;
        }
        log.info('weight set from outside', { rollout: run.label, ...next.request });
        gates.pauseMessage = `${waiting()} (${next.request.weight}% set by ${next.request.by ?? 'someone'})`;
        // An analysis holding the rollout keeps saying so; its end says the pause's message again.
        if (gates.holds.size === 0) rolloutLog.enterPhase('Paused', gates.pauseMessage);
      }
    } finally {
      this.active = false;
      gates.pausing = false;
      for (const left of this.asked.splice(0)) {
        left.failure = `the external step ended before the weight was set (${state.phase}: ${state.message})`;
        left.settled = true;
      }
    }
    state.paused = gates.holds.size > 0;
    if (gates.promotion && !gates.promotion.full) gates.promotion = undefined;
    const [hold] = gates.holds.values();
    if (hold !== undefined) rolloutLog.enterPhase('Paused', hold);
    else rolloutLog.enterPhase('Progressing', `${run.currentStep()}: external weights over`);
  }
}
