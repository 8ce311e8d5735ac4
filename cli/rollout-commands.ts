import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { endedWithoutVerdict } from '../k8s-bridge/runs-without-verdict';
import {
  abortUpdate,
  concludeUpdate,
  promoteUpdate,
  retryUpdate,
  setWeightUpdate,
  type RolloutState,
} from '../workflows/rollout-api';
import { executeUpdateWhenReady } from '../temporal/update-when-ready';
import { CliError, type CliContext } from './cli-context';
import { retryThroughBridge } from './retry-through-bridge';
import { currentWorkflowId, readRollout } from './rollouts';

export type RolloutCommand = 'promote' | 'abort' | 'retry' | 'setWeight' | 'conclude';

/**
 * `siirto promote|abort|retry|set-weight NAME`: sent as a Temporal Update, so the rollout answers at once whether
 * it accepted the command; a refusal exits 1 with the rollout's reason.
 */
export async function rolloutCommand(
  context: CliContext,
  command: RolloutCommand,
  name: string,
  options: { full?: boolean; reason?: string; weight?: number; winner?: 'A' | 'B' },
): Promise<string> {
  const rollout = await readRollout(context, name);
  const workflowId = currentWorkflowId(rollout);
  const by = `${process.env.USER ?? 'someone'} (siirto CLI)`;
  // No run is left to answer: the bridge starts the revision's run again.
  if (command === 'retry' && endedWithoutVerdict(rollout.status))
    return retryThroughBridge(context, rollout, by);
  const handle = (await context.temporal()).workflow.getHandle(workflowId);
  let state: RolloutState;
  try {
    // A workflow whose last task failed or timed out takes no Update until its retry completes.
    state = await executeUpdateWhenReady((updateId) => {
      if (command === 'promote')
        return handle.executeUpdate(promoteUpdate, { args: [{ full: options.full, by }], updateId });
      if (command === 'abort')
        return handle.executeUpdate(abortUpdate, { args: [{ reason: options.reason, by }], updateId });
      if (command === 'conclude')
        return handle.executeUpdate(concludeUpdate, {
          args: [{ winner: options.winner ?? 'A', by }],
          updateId,
        });
      if (command === 'setWeight')
        return handle.executeUpdate(setWeightUpdate, {
          args: [{ weight: options.weight ?? 0, by }],
          updateId,
        });
      return handle.executeUpdate(retryUpdate, { args: [{ by }], updateId });
    });
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) {
      throw new CliError(`${command} refused: ${error.cause?.message ?? error.message}`);
    }
    if (error instanceof WorkflowNotFoundError) {
      throw new CliError(`${command} refused: ${workflowId} is not running`);
    }
    throw error;
  }
  if (command === 'setWeight') {
    return `weight ${options.weight}% set by ${workflowId} (stable ${state.weights.stable}% / canary ${state.weights.canary}%)`;
  }
  if (command === 'conclude') {
    const outcome = options.winner === 'B' ? 'B to be promoted' : 'B to be removed, A kept';
    return `conclude accepted by ${workflowId}: winner ${options.winner}, ${outcome} (was ${state.phase} at step ${state.currentStepIndex + 1}/${state.stepCount})`;
  }
  const what = command === 'promote' && options.full ? 'full promote' : command;
  return `${what} accepted by ${workflowId} (was ${state.phase} at step ${state.currentStepIndex + 1}/${state.stepCount})`;
}
