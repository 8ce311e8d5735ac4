import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { ROLLOUT_IMAGES_MEMO, RolloutPhaseKey, RolloutRevisionKey } from '../workflows/search-attributes';
import { statusQuery, type RolloutState } from '../workflows/rollout-api';
import type { CliContext } from './cli-context';
import { age, structured, table } from './output';

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

/** `siirto history NAME`: the Rollout's revisions as Temporal remembers them, newest first. */
export async function historyCommand(context: CliContext, name: string): Promise<string> {
  const client = await context.temporal();
  const query = `RolloutNamespace = '${context.namespace}' AND RolloutName = '${name}'`;
  const runs: WorkflowExecutionInfo[] = [];
  for await (const run of client.workflow.list({ query })) runs.push(run);
  const past = await Promise.all(
    runs.map(async (run): Promise<PastRollout> => {
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
        started: run.startTime.toISOString(),
        durationSeconds: run.closeTime
          ? Math.round((run.closeTime.getTime() - run.startTime.getTime()) / 1000)
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
