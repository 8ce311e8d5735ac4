import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import type { KubeClients } from '../kubernetes/client';
import { isNotFound } from '../kubernetes/errors';
import {
  ROLLOUT_GROUP,
  ROLLOUT_PLURAL,
  ROLLOUT_VERSION,
  RolloutMetadataSchema,
  RolloutSchema,
  type Rollout,
} from '../schemas/rollout';
import type { RolloutRef } from '../workflows/rollout-api';
import { rethrowKubernetesError } from './kubernetes-failures';
import { FailureType } from '../reasons/rollout-reasons';

/** How messages name a Rollout: as `kubectl get rollout -n <namespace> <name>` would find it. */
export function describeRollout(rollout: RolloutRef): string {
  return `Rollout ${rollout.namespace}/${rollout.name}`;
}

/** Where the custom objects API finds a Rollout. */
export function rolloutPath(rollout: RolloutRef) {
  return {
    group: ROLLOUT_GROUP,
    version: ROLLOUT_VERSION,
    plural: ROLLOUT_PLURAL,
    namespace: rollout.namespace,
    name: rollout.name,
  };
}

/** The Rollout as stored, metadata checked and the rest left unparsed, for writers of its status. */
export interface StoredRollout {
  metadata: z.infer<typeof RolloutMetadataSchema>;
  spec?: unknown;
  status?: unknown;
}

const StoredRolloutSchema = z.looseObject({ metadata: RolloutMetadataSchema });

function rolloutGone(rollout: RolloutRef, why: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `${describeRollout(rollout)} (uid ${rollout.uid}) ${why}; this revision's work stops here`,
    FailureType.RolloutGone,
  );
}

/**
 * Reads the Rollout a workflow acts for. Fails non-retryably with type `RolloutGone` when it was
 * deleted, or deleted and created again under the same name (another uid): the workflow's revision
 * belongs to an object that no longer exists.
 */
export async function readStoredRollout(kube: KubeClients, rollout: RolloutRef): Promise<StoredRollout> {
  let object: unknown;
  try {
    object = await kube.custom.getNamespacedCustomObject(rolloutPath(rollout));
  } catch (error) {
    if (isNotFound(error)) throw rolloutGone(rollout, 'was deleted');
    rethrowKubernetesError(error, { action: `reading ${describeRollout(rollout)}` });
  }
  const stored = StoredRolloutSchema.parse(object);
  if (stored.metadata.uid !== rollout.uid) {
    throw rolloutGone(rollout, `was deleted and created again (now uid ${stored.metadata.uid})`);
  }
  return stored;
}

/** Reads and parses the Rollout; a spec the schema rejects fails non-retryably with type `RolloutInvalid`. */
export async function readRollout(kube: KubeClients, rollout: RolloutRef): Promise<Rollout> {
  const parsed = RolloutSchema.safeParse(await readStoredRollout(kube, rollout));
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `${describeRollout(rollout)} is not a valid Rollout: ${z.prettifyError(parsed.error)}. Fix it and apply it again.`,
      FailureType.RolloutInvalid,
    );
  }
  return parsed.data;
}
