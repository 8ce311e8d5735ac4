import type { V1ReplicaSet } from '@kubernetes/client-node';
import { POD_TEMPLATE_HASH_LABEL } from '../kubernetes/labels';
import type { JudgeStatus } from '../schemas/analysis';
import type { RolloutStatus } from '../schemas/rollout';
import { statusQuery, type RolloutState } from '../workflows/rollout-api';
import { chosenStrategy } from '../workflows/strategies/registry';
import { CliError, type CliContext } from './cli-context';
import { blueGreenRole, blueGreenTrafficLines } from './blue-green-view';
import { structured } from './output';
import { readRollout, type ShownRollout } from './rollouts';

const BAR_WIDTH = 30;
const FINISHED = { Healthy: 0, Degraded: 1, Invalid: 1 } as const;
const ANALYSIS_KINDS = ['step', 'background', 'prePromotion', 'postPromotion'] as const;
const ANALYSIS_NAMES = {
  background: 'background',
  prePromotion: 'pre-promotion',
  postPromotion: 'post-promotion',
};

export interface StatusView {
  rollout: ShownRollout;
  replicaSets: V1ReplicaSet[];
  workflow?: RolloutState;
  /** Why the workflow could not be asked for what only it knows (the time left in a pause). */
  workflowUnknown?: string;
}

async function collect(context: CliContext, name: string): Promise<StatusView> {
  const rollout = await readRollout(context, name);
  const listed = await context.kube.apps.listNamespacedReplicaSet({ namespace: context.namespace });
  const replicaSets = listed.items.filter((replicaSet) =>
    replicaSet.metadata?.ownerReferences?.some((owner) => owner.uid === rollout.metadata.uid),
  );
  const workflowId = rollout.status?.workflowId;
  const phase = rollout.status?.phase;
  if (!workflowId || (phase !== 'Paused' && phase !== 'Progressing')) return { rollout, replicaSets };
  // Only for the time left in a pause: the rest of the view stands on the Rollout's status, so it
  // still shows when Temporal cannot be reached or the workflow does not answer.
  try {
    const client = await context.temporal();
    const workflow = await client.workflow.getHandle(workflowId).query(statusQuery);
    return { rollout, replicaSets, workflow };
  } catch (error) {
    return { rollout, replicaSets, workflowUnknown: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * The live view: steps with the current one marked, a weight bar, pods Ready per ReplicaSet, the
 * latest analyses and the time left in a pause.
 */
export function renderStatus(
  { rollout, replicaSets, workflow, workflowUnknown }: StatusView,
  now = Date.now(),
): string {
  const status = rollout.status ?? {};
  const blueGreen = rollout.spec.strategy?.blueGreen;
  const steps = chosenStrategy(rollout.spec.strategy)?.steps ?? [];
  const current = status.currentStepIndex ?? 0;
  const weights = status.weights ?? { stable: 100, canary: 0 };
  const filled = Math.round((weights.canary / 100) * BAR_WIDTH);
  const lines = [
    `Rollout ${rollout.metadata.namespace}/${rollout.metadata.name}   revision ${status.revision ?? '-'}   ${status.phase ?? 'Pending'}`,
    `  ${status.message ?? ''}`,
  ];
  if (workflow?.pauseEndsAt) {
    const left = Math.max(0, Math.ceil((Date.parse(workflow.pauseEndsAt) - now) / 1000));
    lines.push(`  pause: ${left}s left (or until promoted)`);
  } else if (workflowUnknown && status.phase === 'Paused') {
    lines.push(`  pause: time left unknown (${workflowUnknown})`);
  }
  lines.push(
    ...(blueGreen
      ? blueGreenTrafficLines(status, blueGreen)
      : [
          `  weight  [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] canary ${weights.canary}% / stable ${weights.stable}%${byPods(rollout, replicaSets)}`,
        ]),
    ...experimentLines(status.experiment),
    '  steps',
    ...steps.map((step, index) => {
      const mark = status.phase === 'Healthy' || index < current ? '✓' : index === current ? '▶' : ' ';
      return `    ${mark} ${index + 1}. ${step}`;
    }),
    '  pods',
    ...replicaSets
      .filter((replicaSet) => (replicaSet.spec?.replicas ?? 0) > 0 || (replicaSet.status?.replicas ?? 0) > 0)
      .map((replicaSet) => {
        const hash = replicaSet.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL];
        const role = blueGreen
          ? blueGreenRole(status, hash)
          : hash === status.stableTemplateHash
            ? 'stable'
            : hash === status.currentTemplateHash
              ? 'canary'
              : 'old';
        return `    ${replicaSet.metadata?.name} (${role})  ${replicaSet.status?.readyReplicas ?? 0}/${replicaSet.spec?.replicas ?? 0} Ready`;
      }),
    ...renderAnalyses(status),
  );
  return lines.join('\n');
}

/**
 * Without a traffic router the weight is the canary's share of the Ready pods: says so, with the pods
 * it comes from.
 */
function byPods({ spec, status }: ShownRollout, replicaSets: V1ReplicaSet[]): string {
  const canary = spec.strategy?.canary;
  if (!canary || canary.trafficRouting) return '';
  const ready = (hash: string | undefined) =>
    replicaSets
      .filter((replicaSet) => hash && replicaSet.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL] === hash)
      .reduce((sum, replicaSet) => sum + (replicaSet.status?.readyReplicas ?? 0), 0);
  const stable = ready(status?.stableTemplateHash);
  const current =
    status?.currentTemplateHash === status?.stableTemplateHash ? 0 : ready(status?.currentTemplateHash);
  return ` by Ready pods (canary ${current}, stable ${stable}; no traffic router)`;
}

/** Each analysis of the current revision, and per metric its tally and the last measurement. */
function renderAnalyses(status: RolloutStatus): string[] {
  // An earlier revision's analysis stays in the status until this one's replaces it: not shown.
  const runs = ANALYSIS_KINDS.flatMap((kind) => {
    const run = status.analysis?.[kind];
    return run && run.revision === status.revision ? [{ kind, run }] : [];
  });
  if (runs.length === 0) return [];
  // An analysis writes itself Stopped when its rollout ends it, but one ended as its rollout completed
  // may not have had the time: once the rollout is no longer under way, Running means stopped.
  const underWay = status.phase === 'Progressing' || status.phase === 'Paused';
  const shown = (phase: string) => (phase === 'Running' && !underWay ? 'Stopped' : phase);
  return [
    '  analysis',
    ...runs.flatMap(({ kind, run }) => [
      `    ${kind === 'step' ? `step ${(run.stepIndex ?? 0) + 1}` : ANALYSIS_NAMES[kind]}: ${shown(run.phase)}${run.message ? ` — ${run.message}` : ''}`,
      ...run.metrics.map((metric) => {
        const last = metric.measurements.at(-1);
        const counts = `${metric.successful} successful, ${metric.failed} failed, ${metric.inconclusive} inconclusive, ${metric.errors} errors`;
        const measured = last
          ? `last ${last.verdict} ${last.value ?? '(no value)'}: ${last.message}`
          : 'not measured yet';
        return `      ${metric.name}  ${shown(metric.phase)}  ${counts}  ${measured}`;
      }),
      ...renderJudge(run.judge),
    ]),
  ];
}

/** A judged analysis: the latest judgement's score against the baseline, and each metric's class. */
function renderJudge(judge: JudgeStatus | undefined): string[] {
  if (!judge) return [];
  const critical = judge.criticalFailure ? `, critical metric ${judge.criticalFailure} failed` : '';
  return [
    `      judgement ${judge.judgement}/${judge.count} against ${judge.baseline}: score ${judge.score} (${judge.verdict}${critical})`,
    ...judge.metrics.map(
      (metric) =>
        `      ${metric.name}  ${metric.classification}${metric.failed ? ' (failed)' : ''}${metric.critical ? ' critical' : ''}  ${metric.reason}`,
    ),
  ];
}

/**
 * `siirto status NAME [--watch]`: prints the view once, or redraws it until the rollout is Healthy
 * (exit 0) or Degraded/Invalid (exit 1), like `kubectl argo rollouts status`.
 */
export async function statusCommand(
  context: CliContext,
  name: string,
  options: { watch?: boolean; timeoutSeconds?: number; write: (text: string) => void },
): Promise<number> {
  const deadline = Date.now() + (options.timeoutSeconds ?? 0) * 1000;
  let last = '';
  for (;;) {
    const view = await collect(context, name);
    const phase = view.rollout.status?.phase ?? 'Pending';
    const text =
      context.output === 'table' ? renderStatus(view) : structured(view.rollout.status ?? {}, context.output);
    if (text !== last) {
      // On a terminal the view redraws in place; piped, each change is appended.
      options.write(process.stdout.isTTY && options.watch ? `\x1b[H\x1b[2J${text}\n` : `${text}\n`);
      last = text;
    }
    const exitCode = (FINISHED as Record<string, number>)[phase];
    if (!options.watch) return exitCode ?? 0;
    if (exitCode !== undefined) return exitCode;
    if (options.timeoutSeconds && Date.now() > deadline) {
      throw new CliError(`rollout ${name} is still ${phase} after ${options.timeoutSeconds}s`, 2);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** An A/B experiment's counts, estimate and interval, as the status last recorded them. */
function experimentLines(experiment: RolloutStatus['experiment']): string[] {
  const { variantA, variantB } = experiment ?? {};
  if (!experiment || !variantA || !variantB) return [];
  const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(3)}`;
  const interval =
    experiment.estimate !== undefined && experiment.lower !== undefined && experiment.upper !== undefined
      ? `; B − A ${signed(experiment.estimate)} [${signed(experiment.lower)}, ${signed(experiment.upper)}]`
      : '';
  return [
    `  experiment  A ${variantA.successes}/${variantA.trials}, B ${variantB.successes}/${variantB.trials}${interval} → ${experiment.verdict ?? 'undecided'} (look ${experiment.looks ?? 0})`,
  ];
}
