import { CancellationScope } from '@temporalio/workflow';
import type { FleetReleaseSpec } from '../../schemas/fleet-release';
import { addressText, type FleetReleaseState, type FleetTargetState } from '../fleet-api';
import type { ClusterActivities } from './cluster-activities';

/**
 * Ending a release that must not go on: every revision it started that is still in flight, in every
 * cluster, is aborted (traffic back to the stable revision, by that Rollout's own workflow), and with
 * `rollback: completedWaves` every Rollout it had brought to Healthy gets its previous template back,
 * which its cluster's Siirto rolls out as a new revision. Rollouts it never reached are left alone.
 * Runs in a scope no cancellation reaches, so an abort always finishes what it began.
 */
export async function abortRelease(input: {
  state: FleetReleaseState;
  spec: FleetReleaseSpec;
  reason: string;
  by: string;
  activities(cluster: string): ClusterActivities;
  followIntervalMilliseconds: number;
  publish(): void;
}): Promise<void> {
  const { state, spec, reason, by, activities, publish } = input;
  await CancellationScope.nonCancellable(async () => {
    state.phase = 'Aborting';
    state.message = `aborting: ${reason}`;
    for (const wave of state.waves) if (wave.stage !== 'Done') wave.stage = 'Stopped';
    publish();
    const inFlight = state.targets.filter(
      (target): target is FleetTargetState & { templateHash: string } =>
        (target.phase === 'Progressing' || target.phase === 'Applying') && target.templateHash !== undefined,
    );
    await Promise.all(
      inFlight.map(async (target) => {
        target.message = await activities(target.cluster).calls.abortFleetRollout.executeWithOptions(
          { summary: `abort ${addressText(target)}` },
          [
            {
              target: address(target),
              templateHash: target.templateHash,
              reason: `fleet release ${state.release} aborted: ${reason}`,
              by,
            },
          ],
        );
        target.phase = 'Aborted';
        publish();
      }),
    );
    for (const target of state.targets) if (target.phase === 'Waiting') target.phase = 'Skipped';
    if (spec.rollback === 'completedWaves') {
      const completed = state.targets.filter(
        (target): target is FleetTargetState & { templateHash: string; previousTemplateHash: string } =>
          target.phase === 'Healthy' &&
          target.templateHash !== undefined &&
          target.previousTemplateHash !== undefined &&
          target.previousTemplateHash !== target.templateHash,
      );
      await Promise.all(completed.map((target) => rollBack(input, target)));
    }
    state.phase = 'Aborted';
    state.message = `aborted: ${reason}`;
    publish();
  });
}

async function rollBack(
  input: Parameters<typeof abortRelease>[0],
  target: FleetTargetState & { templateHash: string; previousTemplateHash: string },
): Promise<void> {
  const { calls, follow } = input.activities(target.cluster);
  target.phase = 'RollingBack';
  input.publish();
  try {
    const result = await calls.rollBackFleetRollout.executeWithOptions(
      { summary: `roll back ${addressText(target)} to ${target.previousTemplateHash}` },
      [
        {
          target: address(target),
          fromTemplateHash: target.templateHash,
          toTemplateHash: target.previousTemplateHash,
        },
      ],
    );
    target.message = result.message;
    if (!result.restored) {
      target.phase = 'Healthy';
      return;
    }
    const ended = await follow.followFleetRollout.executeWithOptions(
      {
        summary: `follow ${addressText(target)} back to ${target.previousTemplateHash}`,
        activityId: `rollback/${addressText(target)}`,
      },
      [
        {
          target: address(target),
          templateHash: target.previousTemplateHash,
          intervalMilliseconds: input.followIntervalMilliseconds,
        },
      ],
    );
    target.revision = ended.revision;
    target.workflowId = ended.workflowId;
    target.rolloutPhase = ended.phase;
    target.phase = ended.phase === 'Healthy' ? 'RolledBack' : 'Degraded';
    target.message =
      ended.phase === 'Healthy'
        ? `previous template ${target.previousTemplateHash} Healthy again`
        : ended.message;
  } catch (error) {
    target.phase = 'Degraded';
    target.message = `roll back failed: ${failureText(error)}`;
  }
  input.publish();
}

export function address(target: FleetTargetState): { cluster: string; namespace: string; name: string } {
  return { cluster: target.cluster, namespace: target.namespace, name: target.name };
}

/** An activity failure's own message (its cause's), not Temporal's wrapper. */
export function failureText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? error.cause.message : error.message;
}
