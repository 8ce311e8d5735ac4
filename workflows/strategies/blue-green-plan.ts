import { formatDuration } from '../../schemas/duration';
import type { BlueGreenStrategy } from '../../schemas/rollout';
import type { StrategyPlan } from './registry';

/**
 * A blue-green revision's steps, from its spec: what the status counts (`step 2/4`), the CLI lists and
 * the workflow runs, in order. Steps the spec does not ask for are left out.
 */
export type BlueGreenStep = 'preview' | 'prePromotionAnalysis' | 'pause' | 'switch' | 'postPromotionAnalysis';

/** The preview's pods: `previewReplicaCount`, at most spec.replicas (an autoscaler may have sized it below). */
export function previewReplicasFor(previewReplicaCount: number | undefined, replicas: number): number {
  return Math.min(previewReplicaCount ?? replicas, replicas);
}

/** Seconds of the pause before the switch: undefined for one until promoted, 0 for none. */
export function pauseSeconds(blueGreen: Partial<BlueGreenStrategy>): number | undefined {
  if (blueGreen.autoPromotionEnabled === false) return undefined;
  return blueGreen.autoPromotionSeconds ?? 0;
}

export function blueGreenSteps(blueGreen: Partial<BlueGreenStrategy>): BlueGreenStep[] {
  return [
    'preview',
    ...(blueGreen.prePromotionAnalysis ? (['prePromotionAnalysis'] as const) : []),
    ...(pauseSeconds(blueGreen) !== 0 ? (['pause'] as const) : []),
    'switch',
    ...(blueGreen.postPromotionAnalysis ? (['postPromotionAnalysis'] as const) : []),
  ];
}

/** How a step reads in the Temporal UI and the CLI: `preview: 2 pods`, `pause until promoted`. */
export function describeBlueGreenStep(step: BlueGreenStep, blueGreen: Partial<BlueGreenStrategy>): string {
  switch (step) {
    case 'preview':
      return `preview: ${blueGreen.previewReplicaCount ?? 'all'} pods`;
    case 'prePromotionAnalysis':
      return 'pre-promotion analysis';
    case 'pause': {
      const seconds = pauseSeconds(blueGreen);
      return seconds === undefined ? 'pause until promoted' : `pause ${formatDuration(seconds * 1000)}`;
    }
    case 'switch':
      return 'switch active';
    case 'postPromotionAnalysis':
      return 'post-promotion analysis';
  }
}

/** How the new revision becomes active: `on promote`, `after 5m`, `at once`. */
function promotion(blueGreen: BlueGreenStrategy): string {
  const seconds = pauseSeconds(blueGreen);
  if (seconds === undefined) return 'on promote';
  return seconds > 0 ? `after ${formatDuration(seconds * 1000)}` : 'at once';
}

/** Blue-green in the strategy registry (registry.ts). */
export const blueGreenPlan: StrategyPlan<BlueGreenStrategy> = {
  workflowType: 'blueGreenRollout',
  describeSteps: (blueGreen) =>
    blueGreenSteps(blueGreen).map((step) => describeBlueGreenStep(step, blueGreen)),
  summary: (blueGreen, run) =>
    `blue-green ${run.namespace}/${run.name} r${run.revision}: preview, active ${promotion(blueGreen)}`,
  details: (blueGreen) => [
    `Services: active \`${blueGreen.activeService}\`` +
      (blueGreen.previewService ? `, preview \`${blueGreen.previewService}\`` : '') +
      (blueGreen.trafficRouting ? ', switched through the route' : ''),
  ],
};
