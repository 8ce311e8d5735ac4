import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { promoteUpdate } from '../workflows/rollout-api';
import { executeUpdateWhenReady, isNotReadyYet } from '../temporal/update-when-ready';
import { CliError, type CliContext } from './cli-context';
import { listRollouts, type ShownRollout } from './rollouts';

/** Updates in flight at once: enough to promote thousands in seconds, few enough not to flood Temporal. */
const PROMOTES_AT_ONCE = 32;

/**
 * `siirto promote --all [-l SELECTOR] [--full]`: promotes every paused Rollout of the namespace (or of
 * all namespaces with -A) that the label selector picks, each with the same Update `siirto promote
 * NAME` sends. Rollouts not paused are left alone and named; a refusal fails the command (exit 1)
 * after all the others were tried.
 */
export async function promoteAllCommand(
  context: CliContext,
  options: { selector?: string; full?: boolean },
): Promise<string> {
  const rollouts = await listRollouts(context, options.selector);
  const paused = rollouts.filter(
    (rollout) => rollout.status?.phase === 'Paused' && rollout.status.workflowId,
  );
  const where = context.allNamespaces ? 'in any namespace' : `in namespace ${context.namespace}`;
  const picked = options.selector ? ` matching ${options.selector}` : '';
  if (paused.length === 0) return `no paused Rollout ${where}${picked} (${rollouts.length} looked at)`;
  const client = await context.temporal();
  const by = `${process.env.USER ?? 'someone'} (siirto CLI)`;
  const refused: string[] = [];
  let next = 0;
  const promoteNext = async (): Promise<void> => {
    while (next < paused.length) {
      const rollout = paused[next++] as ShownRollout;
      const workflowId = rollout.status?.workflowId ?? '';
      try {
        const handle = client.workflow.getHandle(workflowId);
        // Under load a rollout's workflow task can time out; Temporal then refuses Updates until the
        // task's retry completes, which is a wait, not a refusal by the rollout.
        await executeUpdateWhenReady((updateId) =>
          handle.executeUpdate(promoteUpdate, { args: [{ full: options.full, by }], updateId }),
        );
      } catch (error) {
        const notReady = isNotReadyYet(error);
        if (
          !(error instanceof WorkflowUpdateFailedError) &&
          !(error instanceof WorkflowNotFoundError) &&
          !notReady
        )
          throw error;
        // One rollout whose workflow could not take the Update in time must not stop the others.
        const reason =
          error instanceof WorkflowUpdateFailedError
            ? (error.cause?.message ?? error.message)
            : notReady
              ? `${workflowId} could not take the Update yet (its workflow task is being retried); run the command again`
              : `${workflowId} is not running`;
        refused.push(`${rollout.metadata.namespace}/${rollout.metadata.name}: ${reason}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PROMOTES_AT_ONCE, paused.length) }, promoteNext));
  const what = options.full ? 'full promote' : 'promote';
  const summary =
    `${what} accepted by ${paused.length - refused.length} of ${paused.length} paused Rollouts ${where}${picked}` +
    (rollouts.length > paused.length ? ` (${rollouts.length - paused.length} not paused, left alone)` : '');
  if (refused.length > 0) throw new CliError(`${summary}; refused: ${refused.join('; ')}`);
  return summary;
}
