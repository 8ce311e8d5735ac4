import { patched } from '@temporalio/workflow';
import type { RolloutInput, RolloutRef, RolloutState } from '../rollout-api';
import { CONTINUE_AS_NEW } from './patches';

/**
 * What every part of one run of a rollout reads: the revision it rolls out, the state the status
 * query answers with, and spec.replicas as the bridge last said.
 */
export class RolloutRun<Input extends RolloutInput = RolloutInput> {
  readonly rollout: RolloutRef;
  readonly revision: number;
  readonly templateHash: string;
  /** `shop/checkout r7`, as logs and messages name the run. */
  readonly label: string;
  readonly state: RolloutState;
  /** spec.replicas, as the bridge last said: the stable's size, and what the canary's share is of. */
  replicas: number;
  /** Whether this run may continue as new when its history grows long (continue-as-new.ts). */
  readonly mayContinueAsNew: boolean;

  constructor(
    readonly input: Input,
    stepCount: number,
  ) {
    const { rollout, revision, templateHash } = input;
    this.rollout = rollout;
    this.revision = revision;
    this.templateHash = templateHash;
    this.replicas = input.replicas;
    this.state = {
      phase: 'Pending',
      revision,
      templateHash,
      stableTemplateHash: input.stableTemplateHash,
      currentStepIndex: 0,
      stepCount,
      weights: { stable: 100, canary: 0 },
      paused: false,
      message: '',
    };
    this.label = `${rollout.namespace}/${rollout.name} r${revision}`;
    this.mayContinueAsNew = patched(CONTINUE_AS_NEW);
    // Before any handler is set: a command that came while the run before continued as new is
    // delivered as this run starts, and must be judged against the state that run left.
    if (input.continued) Object.assign(this.state, input.continued.state);
  }

  /** `step 2/5`: the step under way, counted from 1. */
  currentStep(): string {
    return `step ${this.state.currentStepIndex + 1}/${this.state.stepCount}`;
  }
}
