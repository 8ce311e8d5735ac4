import { formatDuration, parseDuration } from '../../schemas/duration';
import type { CanaryStep, CanaryStrategy } from '../../schemas/rollout';
import type { StrategyPlan } from './registry';

/** Canary pods for a traffic weight: enough that each pod carries no more than its share. */
export function canaryReplicasFor(replicas: number, weight: number): number {
  return Math.ceil((replicas * weight) / 100);
}

/** How a step reads in the Temporal UI and the CLI: `20%`, `pause 5m`, `pause until promoted`. */
export function describeStep(step: CanaryStep): string {
  if (step.setWeight !== undefined) return `${step.setWeight}%`;
  if (step.pause) {
    if (step.pause.duration === undefined) return 'pause until promoted';
    const milliseconds = parseDuration(step.pause.duration);
    return `pause ${milliseconds === undefined ? step.pause.duration : formatDuration(milliseconds)}`;
  }
  return 'analysis';
}

/** The weights a canary passes through, as in `canary shop/checkout r7: 20→50→100`. */
export function weightPath(steps: CanaryStep[]): string {
  const weights = steps.flatMap((step) => (step.setWeight === undefined ? [] : [step.setWeight]));
  return [...weights, 100].filter((weight, index, all) => index === 0 || weight !== all[index - 1]).join('→');
}

/** The canary in the strategy registry (registry.ts). */
export const canaryPlan: StrategyPlan<CanaryStrategy> = {
  workflowType: 'canaryRollout',
  // A Rollout the CLI shows may be Invalid, its steps missing.
  describeSteps: (canary) => (canary.steps ?? []).map(describeStep),
  summary: (canary, run) =>
    `canary ${run.namespace}/${run.name} r${run.revision}: ${weightPath(canary.steps)}`,
  details: (canary) => [
    canary.trafficRouting
      ? `Services: stable \`${canary.stableService}\`, canary \`${canary.canaryService}\``
      : "no traffic router: weights by pod counts, the app's own Service spreading traffic over Ready pods",
  ],
};
