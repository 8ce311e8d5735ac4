import { patched } from '@temporalio/workflow';
import type { ClosedRollout } from '../../activities/workflow-handoff';
import { handoff } from './activity-options';
import { DELAYED_SCALE_DOWN } from './patches';
import type { RolloutRun } from './rollout-run';
import type { ScaleDowns } from './scale-downs';

/**
 * The revision this one supersedes: a new revision's run starts by waiting for it to stand down, then
 * starts from what it left serving, and scales down what it left waiting for its delay.
 */

/** Waits until the superseded revision's workflow has closed; its result says what it left. */
export function predecessorClosed(workflowId: string): Promise<ClosedRollout> {
  return handoff.waitForWorkflowToClose.executeWithOptions(
    { summary: `wait for ${workflowId} to stand down` },
    [{ workflowId }],
  );
}

/** Takes over what the superseded revision left: the stable it served, and its pending scale-downs. */
export function takeOverFrom(
  closed: ClosedRollout | undefined,
  run: RolloutRun,
  scaleDowns: ScaleDowns,
): void {
  const { state, templateHash } = run;
  // The bridge read the stable from the status while the superseded revision may still have been
  // promoting itself; what that workflow left serving is the stable this one starts from.
  if (closed?.stableTemplateHash) state.stableTemplateHash = closed.stableTemplateHash;
  if (closed?.scaleDowns?.length && patched(DELAYED_SCALE_DOWN)) {
    // Pods this revision is made of, or serves from, are its own to keep.
    scaleDowns.takeUp(
      closed.scaleDowns,
      (hash) => hash === templateHash || hash === state.stableTemplateHash,
    );
  }
}
