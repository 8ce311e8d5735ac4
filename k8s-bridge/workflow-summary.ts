import type { CanaryStrategy } from '../schemas/rollout';
import { describeStep, weightPath } from '../workflows/canary-plan';

/**
 * What the Temporal UI and `temporal workflow describe` show for a rollout workflow before it has
 * run a step: a one-line summary and the plan as markdown, so an operator scanning the workflow
 * list knows what each run will do without opening its input.
 */

export interface RolloutPlan {
  namespace: string;
  name: string;
  revision: number;
  templateHash: string;
  stableTemplateHash?: string;
  canary: CanaryStrategy;
}

/** Such as `canary shop/checkout r7: 20→50→100`. */
export function workflowSummary(plan: RolloutPlan): string {
  return `canary ${plan.namespace}/${plan.name} r${plan.revision}: ${weightPath(plan.canary.steps)}`;
}

/** Markdown: what the revision replaces, through which Services, and each step in order. */
export function workflowDetails(plan: RolloutPlan): string {
  const { canary } = plan;
  const replaces = plan.stableTemplateHash
    ? `replaces stable template \`${plan.stableTemplateHash}\``
    : 'first revision, nothing stable to replace';
  const steps = canary.steps.length
    ? canary.steps.map((step, index) => `${index + 1}. ${describeStep(step)}`)
    : ['no steps: promoted at once'];
  return [
    `**${plan.namespace}/${plan.name}** revision ${plan.revision}, template \`${plan.templateHash}\`, ${replaces}`,
    `Services: stable \`${canary.stableService}\`, canary \`${canary.canaryService}\``,
    ['**Steps**', ...steps].join('\n'),
    'Then the new revision becomes stable with 100% of the traffic.',
  ].join('\n\n');
}
