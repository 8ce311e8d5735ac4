import { isNotFound } from '../kubernetes/errors';
import {
  ROLLOUT_GROUP,
  ROLLOUT_PLURAL,
  ROLLOUT_VERSION,
  type RolloutSpec,
  type RolloutStatus,
} from '../schemas/rollout';
import { CliError, type CliContext } from './cli-context';

/** A Rollout as the CLI shows it: loosely typed, since it may be Invalid and fail the schema. */
export interface ShownRollout {
  metadata: {
    name: string;
    namespace: string;
    creationTimestamp?: string;
    uid?: string;
    annotations?: Record<string, string>;
  };
  spec: Partial<RolloutSpec>;
  status?: RolloutStatus;
}

/** The Rollout resource's API coordinates, as client-node's custom-object calls take them. */
export const rolloutType = { group: ROLLOUT_GROUP, version: ROLLOUT_VERSION, plural: ROLLOUT_PLURAL };

export async function readRollout(context: CliContext, name: string): Promise<ShownRollout> {
  try {
    return (await context.kube.custom.getNamespacedCustomObject({
      ...rolloutType,
      namespace: context.namespace,
      name,
    })) as ShownRollout;
  } catch (error) {
    if (isNotFound(error)) {
      throw new CliError(
        `rollout ${name} not found in namespace ${context.namespace}; see \`siirto list\``,
        4,
      );
    }
    throw error;
  }
}

/** The Rollouts of the namespace (or all of them with `--all-namespaces`), those a label selector picks when given. */
export async function listRollouts(context: CliContext, labelSelector?: string): Promise<ShownRollout[]> {
  const list = (await (context.allNamespaces
    ? context.kube.custom.listClusterCustomObject({ ...rolloutType, labelSelector })
    : context.kube.custom.listNamespacedCustomObject({
        ...rolloutType,
        namespace: context.namespace,
        labelSelector,
      }))) as {
    items: ShownRollout[];
  };
  return list.items;
}

/** The workflow of the Rollout's current revision, or a clear error when it has none. */
export function currentWorkflowId(rollout: ShownRollout): string {
  const workflowId = rollout.status?.workflowId;
  if (!workflowId) {
    throw new CliError(
      `rollout ${rollout.metadata.name} has no revision running (phase ${rollout.status?.phase ?? 'none'}); ` +
        'see its Valid condition with `kubectl describe rollouts.siirto.dev`',
      4,
    );
  }
  return workflowId;
}
