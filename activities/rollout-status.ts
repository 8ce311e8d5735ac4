import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import type { KubeClients } from '../kubernetes/client';
import { mergePatch } from '../kubernetes/merge-patch';
import { retryOnConflict } from '../kubernetes/retry-on-conflict';
import {
  RolloutConditionSchema,
  stepOfSteps,
  type RolloutCondition,
  type RolloutStatus,
} from '../schemas/rollout';
import type { RolloutRef } from '../workflows/rollout-api';
import { rethrowKubernetesError } from './kubernetes-failures';
import { describeRollout, readStoredRollout, rolloutPath } from './rollout-reader';

/**
 * Puts `incoming` in place of the condition of the same type. Its lastTransitionTime moves to `now`
 * only when its status changes, so it tells how long the Rollout has been in that state.
 */
export function mergeConditions(
  existing: RolloutCondition[],
  incoming: RolloutCondition[],
  now: string,
): RolloutCondition[] {
  const merged = [...existing];
  for (const condition of incoming) {
    const index = merged.findIndex((candidate) => candidate.type === condition.type);
    const previous = index >= 0 ? merged[index] : undefined;
    const lastTransitionTime =
      previous && previous.status === condition.status
        ? (previous.lastTransitionTime ?? now)
        : (condition.lastTransitionTime ?? now);
    const next = { ...condition, lastTransitionTime };
    if (index >= 0) merged[index] = next;
    else merged.push(next);
  }
  return merged;
}

const StoredConditionsSchema = z
  .object({ conditions: z.array(RolloutConditionSchema).catch([]) })
  .catch({ conditions: [] });

export async function writeRolloutStatus(
  kube: KubeClients,
  input: {
    rollout: RolloutRef;
    revision: number;
    status: Partial<RolloutStatus>;
    condition?: Omit<RolloutCondition, 'lastTransitionTime'>;
  },
): Promise<void> {
  const { conditions: givenConditions, ...given } = input.status;
  const fields =
    given.currentStepIndex !== undefined && given.stepCount !== undefined
      ? { ...given, step: stepOfSteps(given.currentStepIndex, given.stepCount) }
      : given;
  const incoming = [...(givenConditions ?? []), ...(input.condition ? [input.condition] : [])];

  // Two writers (the workflow and the bridge) each read, merge their condition and write with the
  // resourceVersion read; the later one gets a 409, reads the other's condition and merges again.
  await retryOnConflict(async () => {
    const stored = await readStoredRollout(kube, input.rollout);
    const current = (stored.status ?? {}) as Record<string, unknown>;
    // A revision that a newer one has replaced no longer speaks for the Rollout.
    if (typeof current.revision === 'number' && current.revision > input.revision) return;
    const existingConditions = StoredConditionsSchema.parse(stored.status ?? {}).conditions;
    const conditions = incoming.length
      ? mergeConditions(existingConditions, incoming, new Date().toISOString())
      : undefined;

    const changed = Object.entries(fields).some(([key, value]) => !isDeepStrictEqual(current[key], value));
    if (!changed && (!conditions || isDeepStrictEqual(conditions, existingConditions))) return;

    try {
      await kube.custom.patchNamespacedCustomObjectStatus(
        {
          ...rolloutPath(input.rollout),
          body: {
            metadata: { resourceVersion: stored.metadata.resourceVersion },
            status: { ...fields, ...(conditions ? { conditions } : {}) },
          },
        },
        mergePatch,
      );
    } catch (error) {
      rethrowKubernetesError(error, {
        action: `writing the status of ${describeRollout(input.rollout)}`,
        fix: 'The status Siirto wrote does not fit the Rollout CRD; apply the CRD of this Siirto version (deploy/crds/)',
      });
    }
  });
}
