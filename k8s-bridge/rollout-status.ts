import type * as k8s from '@kubernetes/client-node';
import { mergeConditions } from '../activities/rollout-status';
import { isConflict } from '../kubernetes/errors';
import { mergePatch } from '../kubernetes/merge-patch';
import {
  ROLLOUT_GROUP,
  ROLLOUT_PLURAL,
  ROLLOUT_VERSION,
  type RolloutCondition,
  type RolloutStatus,
} from '../schemas/rollout';

/**
 * The bridge's writes to a Rollout's status. Each carries the resourceVersion its decision was made
 * on: the workflow writes the same status and a second bridge may be deciding too, so a write based
 * on an old read must fail (Conflict) and be decided again from a fresh read.
 */

/** The condition the bridge owns: whether the spec can be rolled out at all. */
export const VALID_CONDITION = 'Valid';

export interface RolloutKey {
  namespace: string;
  name: string;
}

export type StatusWrite = 'written' | 'conflict';

export async function patchRolloutStatus(
  custom: k8s.CustomObjectsApi,
  rollout: RolloutKey & { resourceVersion: string },
  status: Partial<RolloutStatus>,
): Promise<StatusWrite> {
  try {
    await custom.patchNamespacedCustomObjectStatus(
      {
        group: ROLLOUT_GROUP,
        version: ROLLOUT_VERSION,
        plural: ROLLOUT_PLURAL,
        namespace: rollout.namespace,
        name: rollout.name,
        body: { metadata: { resourceVersion: rollout.resourceVersion }, status },
      },
      mergePatch,
    );
    return 'written';
  } catch (error) {
    if (isConflict(error)) return 'conflict';
    throw error;
  }
}

/**
 * The conditions with one set. A merge patch replaces the whole list, so the others are carried
 * over as read; the transition time moves only when the status flips.
 */
export function withCondition(
  conditions: RolloutCondition[] | undefined,
  condition: Omit<RolloutCondition, 'lastTransitionTime'>,
  now: Date = new Date(),
): RolloutCondition[] {
  return mergeConditions(conditions ?? [], [condition], now.toISOString());
}

export function findCondition(
  conditions: readonly RolloutCondition[] | undefined,
  type: string,
): RolloutCondition | undefined {
  return conditions?.find((condition) => condition.type === type);
}
