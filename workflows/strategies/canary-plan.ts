import { formatDuration, parsePauseDuration } from '../../schemas/duration';
import type { CanaryStep, CanaryStrategy, SetCanaryScale, StringMatch } from '../../schemas/rollout';
import type { StrategyPlan } from './registry';

/** Canary pods for a traffic weight: enough that each pod carries no more than its share. */
export function canaryReplicasFor(replicas: number, weight: number): number {
  return Math.ceil((replicas * weight) / 100);
}

/**
 * The canary's pods for `share`% of traffic: its share of `replicas`, or what a setCanaryScale asks
 * (at least one while it has traffic, so none of it meets a canary without pods); full size at 100%,
 * to become stable.
 */
export function canaryPods(replicas: number, share: number, scale?: SetCanaryScale): number {
  if (!scale || scale.matchTrafficWeight || share >= 100) return canaryReplicasFor(replicas, share);
  const pods = scale.replicas ?? canaryReplicasFor(replicas, scale.weight ?? share);
  return share > 0 ? Math.max(pods, 1) : pods;
}

/**
 * How a step reads in the Temporal UI and the CLI: `20%`, `pause 5m`, `pause until promoted`,
 * `header route beta: x-beta=1 to canary`, `remove header route beta`, `canary scale 2 pods`.
 */
export function describeStep(step: CanaryStep): string {
  if (step.setWeight !== undefined) return `${step.setWeight}%`;
  if (step.setCanaryScale) {
    const { replicas, weight } = step.setCanaryScale;
    if (replicas !== undefined) return `canary scale ${replicas} pod${replicas === 1 ? '' : 's'}`;
    if (weight !== undefined) return `canary scale ${weight}% of replicas`;
    return 'canary scale with traffic weight';
  }
  if (step.setHeaderRoute) {
    const { name, match } = step.setHeaderRoute;
    if (!match) return `remove header route ${name}`;
    return `header route ${name}: ${match.map((header) => `${header.headerName}${describeMatch(header.headerValue)}`).join(', ')} to canary`;
  }
  if (step.setMirrorRoute) {
    const { name, match, percentage = 100 } = step.setMirrorRoute;
    return match
      ? `mirror route ${name}: ${percentage}% of matched requests to canary`
      : `remove mirror route ${name}`;
  }
  if (step.pause?.external) return 'weight set from outside until promoted';
  if (step.pause) {
    if (step.pause.duration === undefined) return 'pause until promoted';
    const milliseconds = parsePauseDuration(step.pause.duration);
    return `pause ${milliseconds === undefined ? String(step.pause.duration) : formatDuration(milliseconds)}`;
  }
  return 'analysis';
}

function describeMatch(value: StringMatch): string {
  if (value.exact !== undefined) return `=${value.exact}`;
  if (value.prefix !== undefined) return ` starting ${value.prefix}`;
  return ` matching /${value.regex ?? ''}/`;
}

/**
 * The weights a canary passes through, as in `canary shop/checkout r7: 20→50→100`; a header or mirror
 * route shows where it is set, as `20→+beta→50→100`.
 */
export function weightPath(steps: CanaryStep[]): string {
  const marks = steps.flatMap((step): (number | string)[] => {
    if (step.setWeight !== undefined) return [step.setWeight];
    const managed = step.setHeaderRoute ?? step.setMirrorRoute;
    if (managed?.match) return [`+${managed.name}`];
    return managed ? [`-${managed.name}`] : [];
  });
  return [...marks, 100].filter((mark, index, all) => index === 0 || mark !== all[index - 1]).join('→');
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
