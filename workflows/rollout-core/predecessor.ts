import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  log,
  patched,
  setHandler,
} from '@temporalio/workflow';
import type { ClosedRollout } from '../../activities/workflow-handoff';
import { standDownUpdate } from '../rollout-api';
import type { Gates } from './gates';
import type { QuietPoints } from './quiet-points';
import { handoff } from './activity-options';
import { DELAYED_SCALE_DOWN } from './patches';
import type { RolloutRun } from './rollout-run';
import type { ScaleDowns } from './scale-downs';

/**
 * The revision this one supersedes: a new revision's run starts by waiting for it to stand down, then
 * starts from what it left serving, and scales down what it left waiting for its delay.
 */

/**
 * Waits until the superseded revision's workflow touches the cluster no more, or has closed: it answers
 * the activity's standDown Update at that moment (answerSuccessor below); its answer, or its result,
 * says what it left.
 */
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

/**
 * The superseded side of the handoff: the successor's run asks (standDownUpdate) as it starts, and is
 * answered the moment this run touches the cluster no more, instead of looking again and again. The
 * Update may come before the supersede signal (the bridge sends both at once): it waits for it too.
 * It fails while the run gets ready to continue as new (which waits for every handler); the
 * successor then falls back to looking.
 */
export function answerSuccessor(run: RolloutRun, gates: Gates, quietPoints: QuietPoints): void {
  const { state, label } = run;
  setHandler(standDownUpdate, async ({ successor }) => {
    log.info('the successor waits for this run to stand down', {
      rollout: label,
      successor,
      told: gates.superseded(),
    });
    await condition(() => state.finishedWithCluster === true || quietPoints.settling);
    if (!state.finishedWithCluster) {
      throw ApplicationFailure.create({
        message: `${label} is continuing as new; ask its next run`,
        nonRetryable: true,
      });
    }
    return state;
  });
}

/**
 * Before a run ends, cancelled (its Rollout deleted) or not: a successor asking whether it stood down
 * gets its answer first.
 */
export function successorAnswered(): Promise<void> {
  return CancellationScope.nonCancellable(() => condition(allHandlersFinished));
}
