import type { Client, WorkflowExecutionInfo, WorkflowExecutionStatusName } from '@temporalio/client';
import {
  ClusterAttributeMissingError,
  clusterRunOf,
  clusterRunsCondition,
  isClusterRun,
  quoteQueryValue as quote,
  requireClusterAttribute,
} from '../temporal/cluster-identity';
import {
  ROLLOUT_IMAGES_MEMO,
  RolloutNameKey,
  RolloutNamespaceKey,
  RolloutPhaseKey,
  RolloutRevisionKey,
} from '../workflows/search-attributes';
import { statusQuery, type RolloutState } from '../workflows/rollout-api';
import { CliError, type CliContext } from './cli-context';
import { age, structured, table } from './output';
import { readRollout } from './rollouts';

interface PastRollout {
  revision: number;
  image: string;
  workflowId: string;
  outcome: string;
  started: string;
  durationSeconds?: number;
  /** Who promoted or aborted it, as its message says. */
  by?: string;
  message: string;
  link: string;
}

/**
 * `siirto history NAME`: the Rollout's revisions as Temporal remembers them, newest first; those of this
 * cluster only, when clusters share the Temporal namespace (temporal/cluster-identity.ts).
 */
export async function historyCommand(context: CliContext, name: string): Promise<string> {
  const client = await context.temporal();
  await requireClusterAttribute(client, context.clusterId, context.clusterSetting).catch((error: unknown) => {
    throw error instanceof ClusterAttributeMissingError ? new CliError(error.message, 2) : error;
  });
  // Runs from before the cluster had an ID are its own when they were for its Rollout (by uid).
  const uid = context.clusterId === undefined ? undefined : await rolloutUid(context, name);
  const query =
    `${RolloutNamespaceKey.name} = ${quote(context.namespace)} AND ${RolloutNameKey.name} = ${quote(name)}` +
    clusterRunsCondition(context.clusterId, { withoutCluster: uid !== undefined });
  const runs: WorkflowExecutionInfo[] = [];
  for await (const run of client.workflow.list({ query })) {
    if (isClusterRun(clusterRunOf(run), context.clusterId, uid)) runs.push(run);
  }
  const past = await Promise.all(
    revisionRuns(runs).map(async ({ run, startTime }): Promise<PastRollout> => {
      const state = await lastState(client, run);
      const phase = run.typedSearchAttributes.get(RolloutPhaseKey);
      return {
        revision: Number(run.typedSearchAttributes.get(RolloutRevisionKey) ?? 0),
        image: imagesOf(run).join(', '),
        workflowId: run.workflowId,
        outcome:
          run.status.name === 'RUNNING'
            ? (phase ?? 'Progressing')
            : run.status.name === 'COMPLETED'
              ? (phase ?? 'done')
              : run.status.name.toLowerCase(),
        started: startTime.toISOString(),
        durationSeconds: run.closeTime
          ? Math.round((run.closeTime.getTime() - startTime.getTime()) / 1000)
          : undefined,
        by: state && decidedBy(state.message),
        message: state?.message ?? '',
        link: `${context.temporalUiUrl}/namespaces/${client.options.namespace}/workflows/${encodeURIComponent(run.workflowId)}`,
      };
    }),
  );
  past.sort((a, b) => b.revision - a.revision);
  if (context.output !== 'table') return structured(past, context.output);
  if (past.length === 0) return `No rollouts of ${context.namespace}/${name} in Temporal's history.`;
  return table(
    ['REVISION', 'IMAGE', 'OUTCOME', 'STARTED', 'DURATION', 'BY', 'MESSAGE', 'WEB UI'],
    past.map((run) => [
      `r${run.revision}`,
      run.image,
      run.outcome,
      `${age(run.started)} ago`,
      run.durationSeconds === undefined ? 'running' : `${run.durationSeconds}s`,
      run.by ?? '-',
      run.message,
      run.link,
    ]),
  );
}

/**
 * One entry per run of a revision as a person started it: a long rollout continues as new (a chain of
 * runs under its workflow ID), which is one rollout that started with the chain's first run and stands
 * where its last one does. A retry after a run ended without a verdict starts a chain of its own.
 */
export function revisionRuns<
  Run extends { workflowId: string; startTime: Date; status: { name: WorkflowExecutionStatusName } },
>(runs: Run[]): { run: Run; startTime: Date }[] {
  const chains: { run: Run; startTime: Date }[] = [];
  const chainStart = new Map<string, Date>();
  for (const run of [...runs].sort((a, b) => a.startTime.getTime() - b.startTime.getTime())) {
    const startTime = chainStart.get(run.workflowId) ?? run.startTime;
    if (run.status.name === 'CONTINUED_AS_NEW') {
      chainStart.set(run.workflowId, startTime);
      continue;
    }
    chainStart.delete(run.workflowId);
    chains.push({ run, startTime });
  }
  return chains;
}

/** The uid of the Rollout in this cluster; undefined once it is deleted, when its history is still wanted. */
async function rolloutUid(context: CliContext, name: string): Promise<string | undefined> {
  try {
    return (await readRollout(context, name)).metadata.uid;
  } catch (error) {
    if (error instanceof CliError && error.exitCode === 4) return undefined;
    throw error;
  }
}

/** How long a running rollout gets to answer: its worker may be down, and the history must not hang. */
const QUERY_DEADLINE_MS = 5_000;

/**
 * The state a run ended with (its result), or is in (the status query, as for a Degraded one waiting
 * for a retry); undefined for runs that failed, were cancelled, or do not answer.
 */
async function lastState(client: Client, run: WorkflowExecutionInfo): Promise<RolloutState | undefined> {
  const handle = client.workflow.getHandle(run.workflowId, run.runId);
  if (run.status.name === 'COMPLETED') return (await handle.result()) as RolloutState;
  if (run.status.name !== 'RUNNING') return undefined;
  return client.connection
    .withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(statusQuery))
    .catch(() => undefined);
}

/** The person or tool named in a rollout's message: `r2 is stable (promoted by X)`, `aborted by X: reason`. */
export function decidedBy(message: string): string | undefined {
  return /\(promoted by (.+)\)$/.exec(message)?.[1] ?? /^aborted by (.+?)(?:: |$)/.exec(message)?.[1];
}

function imagesOf(run: WorkflowExecutionInfo): string[] {
  const images = run.memo?.[ROLLOUT_IMAGES_MEMO];
  return Array.isArray(images) ? images.filter((image): image is string => typeof image === 'string') : [];
}
