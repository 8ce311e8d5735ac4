import type { BlueGreenStrategy } from '../schemas/rollout';

/** What the Temporal UI shows for a blue-green run before it has done anything (see workflow-summary.ts). */
export interface BlueGreenPlan {
  namespace: string;
  name: string;
  revision: number;
  templateHash: string;
  stableTemplateHash?: string;
  blueGreen: BlueGreenStrategy;
}

/** How the new revision becomes active: `on promote`, `after 60s`, `at once`. */
function promotion(blueGreen: BlueGreenStrategy): string {
  if (!blueGreen.autoPromotionEnabled) return 'on promote';
  if (blueGreen.autoPromotionSeconds !== undefined) return `after ${blueGreen.autoPromotionSeconds}s`;
  return 'at once';
}

/** Such as `blue-green shop/checkout r7: preview, active on promote`. */
export function blueGreenWorkflowSummary(plan: BlueGreenPlan): string {
  return `blue-green ${plan.namespace}/${plan.name} r${plan.revision}: preview, active ${promotion(plan.blueGreen)}`;
}

/** Markdown: what the revision replaces, through which Services, and what happens in order. */
export function blueGreenWorkflowDetails(plan: BlueGreenPlan): string {
  const { blueGreen } = plan;
  const replaces = plan.stableTemplateHash
    ? `replaces active template \`${plan.stableTemplateHash}\``
    : 'first revision, straight to active';
  const preview = blueGreen.previewService ? `, preview \`${blueGreen.previewService}\`` : '';
  const sequence = [
    `1. preview: ${blueGreen.previewReplicaCount ?? 'all'} pods Ready`,
    ...(blueGreen.prePromotionAnalysis ? ['2. pre-promotion analysis'] : []),
    `${blueGreen.prePromotionAnalysis ? 3 : 2}. active ${promotion(blueGreen)}, at full size`,
    ...(blueGreen.postPromotionAnalysis ? ['then: post-promotion analysis (a failure switches back)'] : []),
    `the previous pods go ${blueGreen.scaleDownDelaySeconds}s after the switch`,
  ];
  return [
    `**${plan.namespace}/${plan.name}** revision ${plan.revision}, template \`${plan.templateHash}\`, ${replaces}`,
    `Services: active \`${blueGreen.activeService}\`${preview}${blueGreen.trafficRouting ? ', switched through the route' : ''}`,
    sequence.join('\n'),
  ].join('\n\n');
}
