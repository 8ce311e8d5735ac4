import type { CliContext } from './cli-context';
import { age, structured, table } from './output';
import { stepOfSteps } from '../schemas/rollout';
import { listRollouts } from './rollouts';
import { blueGreenTraffic } from './blue-green-view';
import { stepCount } from '../workflows/strategies/registry';

/** `siirto list`: one line per Rollout with phase, step, weights (blue-green: active/preview) and revision. */
export async function listCommand(context: CliContext): Promise<string> {
  const rollouts = await listRollouts(context);
  if (context.output !== 'table') return structured(rollouts, context.output);
  const headers = [
    ...(context.allNamespaces ? ['NAMESPACE'] : []),
    'NAME',
    'PHASE',
    'STEP',
    'WEIGHTS',
    'REVISION',
    'AGE',
  ];
  const rows = rollouts.map(({ metadata, spec, status }) => [
    ...(context.allNamespaces ? [metadata.namespace] : []),
    metadata.name,
    status?.phase ?? 'Pending',
    status?.currentStepIndex === undefined
      ? '-'
      : stepOfSteps(status.currentStepIndex, stepCount(spec.strategy)),
    spec.strategy?.blueGreen
      ? blueGreenTraffic(status ?? {})
      : status?.weights
        ? `${status.weights.stable}/${status.weights.canary}`
        : '-',
    status?.revision === undefined ? '-' : String(status.revision),
    age(metadata.creationTimestamp),
  ]);
  return rows.length
    ? table(headers, rows)
    : `No rollouts found in ${context.allNamespaces ? 'any namespace' : `namespace ${context.namespace}`}.`;
}
