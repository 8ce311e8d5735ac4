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
    if (command === 'promote') {
      state = await handle.executeUpdate(promoteUpdate, { args: [{ full: options.full, by }] });
    } else if (command === 'abort') {
      state = await handle.executeUpdate(abortUpdate, { args: [{ reason: options.reason, by }] });
    } else if (command === 'conclude') {
      state = await handle.executeUpdate(concludeUpdate, { args: [{ winner: options.winner ?? 'A', by }] });
    } else if (command === 'setWeight') {
      state = await handle.executeUpdate(setWeightUpdate, { args: [{ weight: options.weight ?? 0, by }] });
    } else {
      state = await handle.executeUpdate(retryUpdate, { args: [{ by }] });
    }
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
