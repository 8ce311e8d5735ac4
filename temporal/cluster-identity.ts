import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { z } from 'zod';
import { ROLLOUT_UID_MEMO, SiirtoClusterKey } from '../workflows/search-attributes';

/**
 * Which cluster a Siirto installation serves, as Temporal sees it (`SIIRTO_CLUSTER_ID`). Clusters that
 * share one Temporal namespace (as on Temporal Cloud) each set their own: their workflow IDs begin
 * with it, their runs carry it as the `SiirtoCluster` search attribute, and the bridge and the CLI
 * only ever look at, signal or cancel runs of their own cluster. Two clusters may then both deploy
 * `shop/checkout`.
 *
 * Unset, everything is as before cluster IDs existed: IDs `<namespace>/<name>/r<revision>`, no
 * `SiirtoCluster` (so a Temporal namespace without that search attribute keeps working), and runs of
 * clusters that do set one are left alone.
 *
 * A run started before its cluster got an ID has neither the prefix nor the attribute. It stays this
 * cluster's when the Rollout it was started for (its uid, in the run's memo) is this cluster's: the
 * Rollout's status records its workflow ID, so it is still followed, promoted, superseded and
 * cancelled, while another cluster's such runs are never touched.
 */

/** The rule CDEvents have always applied to SIIRTO_CLUSTER_ID; it also keeps "/" out of workflow IDs. */
export const clusterIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    'must be a name of letters, digits, ".", "_" and "-", such as prod-eu-1',
  );

/** A run as the bridge and the CLI tell clusters apart: its cluster attribute and its Rollout's uid. */
export interface ClusterRun {
  /** Its `SiirtoCluster`; absent for runs started without a cluster ID. */
  cluster?: string;
  /** The uid of the Rollout it was started for; absent for runs Siirto's bridge did not start. */
  rolloutUid?: string;
}

export function clusterRunOf(
  info: Pick<WorkflowExecutionInfo, 'typedSearchAttributes' | 'memo'>,
): ClusterRun {
  const uid = info.memo?.[ROLLOUT_UID_MEMO];
  return {
    cluster: info.typedSearchAttributes.get(SiirtoClusterKey),
    rolloutUid: typeof uid === 'string' ? uid : undefined,
  };
}

/**
 * Whether a run is this cluster's: it carries this cluster's ID, or, with none, this cluster has no
 * ID either, or the run was started before this cluster had one for a Rollout (uid) of this cluster.
 */
export function isClusterRun(run: ClusterRun, clusterId: string | undefined, rolloutUid?: string): boolean {
  if (run.cluster !== undefined) return run.cluster === clusterId;
  if (clusterId === undefined) return true;
  return rolloutUid !== undefined && run.rolloutUid === rolloutUid;
}

/**
 * A visibility-query condition for the runs `isClusterRun` may keep, to be and-ed with the rest:
 * this cluster's and those without a cluster. Empty without a cluster ID, so the query needs no
 * `SiirtoCluster` attribute registered; such a cluster drops other clusters' runs after listing.
 */
export function clusterRunsCondition(
  clusterId: string | undefined,
  options: { withoutCluster: boolean },
): string {
  if (clusterId === undefined) return '';
  const own = `${SiirtoClusterKey.name} = ${quoteQueryValue(clusterId)}`;
  return options.withoutCluster ? ` AND (${own} OR ${SiirtoClusterKey.name} IS NULL)` : ` AND ${own}`;
}

/** Visibility queries quote strings with single quotes; Kubernetes names cannot hold one, but be safe. */
export function quoteQueryValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Whether an error from Temporal is its refusal of `SiirtoCluster` as a search attribute the namespace
 * does not have: a cluster ID cannot work without it.
 */
export function isClusterAttributeMissing(error: unknown): boolean {
  // The client wraps the server's answer ("column name 'SiirtoCluster' is not a valid search attribute").
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (
      cause.message.includes(SiirtoClusterKey.name) &&
      /not a valid search attribute|not defined/.test(cause.message)
    ) {
      return true;
    }
  }
  return false;
}

/** What to do when the namespace lacks the attribute, for messages that name `setting` (variable or flag). */
export function clusterAttributeFix(setting: string, clusterId: string, temporalNamespace: string): string {
  return (
    `${setting}=${clusterId} needs the search attribute ${SiirtoClusterKey.name} on Temporal namespace ` +
    `${temporalNamespace}, which does not have it: register it once with \`temporal operator search-attribute ` +
    `create --namespace ${temporalNamespace} --name ${SiirtoClusterKey.name} --type Keyword\` (on Temporal ` +
    `Cloud, add it to the namespace's search attributes), or unset ${setting}`
  );
}

/** A cluster ID on a Temporal namespace without `SiirtoCluster`: a setting to fix, named in the message. */
export class ClusterAttributeMissingError extends Error {
  override name = 'ClusterAttributeMissingError';
}

/**
 * With a cluster ID, fails naming the fix when the namespace lacks `SiirtoCluster`, rather than have
 * every start and listing fail later, far from the cause.
 */
export async function requireClusterAttribute(
  client: Client,
  clusterId: string | undefined,
  setting = 'SIIRTO_CLUSTER_ID',
): Promise<void> {
  if (clusterId === undefined) return;
  try {
    await client.workflow.count(`${SiirtoClusterKey.name} = ${quoteQueryValue(clusterId)}`);
  } catch (error) {
    if (!isClusterAttributeMissing(error)) throw error;
    throw new ClusterAttributeMissingError(
      clusterAttributeFix(setting, clusterId, client.options.namespace),
      {
        cause: error,
      },
    );
  }
}
