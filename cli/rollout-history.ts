import type { WorkflowExecutionInfo } from '@temporalio/client';
import { ROLLOUT_IMAGES_MEMO, RolloutPhaseKey, RolloutRevisionKey } from '../workflows/search-attributes';
import type { RolloutState } from '../workflows/rollout-api';
import type { CliContext } from './cli-context';
import { age, structured, table } from './output';

interface PastRollout {
  revision: number;
  image: string;
  workflowId: string;
  outcome: string;
  started: string;
  durationSeconds?: number;
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
      const state =
        run.status.name === 'COMPLETED'
          ? ((await client.workflow.getHandle(run.workflowId, run.runId).result()) as RolloutState)
          : undefined;
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
        message: state?.message ?? '',
        link: `${context.temporalUiUrl}/namespaces/${client.options.namespace}/workflows/${encodeURIComponent(run.workflowId)}`,
      };
    }),
  );
  past.sort((a, b) => b.revision - a.revision);
  if (context.output !== 'table') return structured(past, context.output);
  if (past.length === 0) return `No rollouts of ${context.namespace}/${name} in Temporal's history.`;
  return table(
    ['REVISION', 'IMAGE', 'OUTCOME', 'STARTED', 'DURATION', 'MESSAGE', 'WEB UI'],
    past.map((run) => [
      `r${run.revision}`,
      run.image,
      run.outcome,
      `${age(run.started)} ago`,
      run.durationSeconds === undefined ? 'running' : `${run.durationSeconds}s`,
      run.message,
      run.link,
    ]),
  );
}

function imagesOf(run: WorkflowExecutionInfo): string[] {
  const images = run.memo?.[ROLLOUT_IMAGES_MEMO];
  return Array.isArray(images) ? images.filter((image): image is string => typeof image === 'string') : [];
}
