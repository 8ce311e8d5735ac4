import type { Strategy } from '../schemas/rollout';
import { chosenStrategy, type ChosenStrategy } from '../workflows/strategies/registry';

/**
 * What the Temporal UI and `temporal workflow describe` show for a rollout workflow before it has
 * run a step: a one-line summary and the plan as markdown, so an operator scanning the workflow
 * list knows what each run will do without opening its input.
 */

/** A revision's plan: the strategy's spec under its key, as in spec.strategy and the workflow's input. */
export type RolloutPlan = Strategy & {
  namespace: string;
  name: string;
  revision: number;
  templateHash: string;
  stableTemplateHash?: string;
};

function strategyOf(plan: RolloutPlan): ChosenStrategy {
  const chosen = chosenStrategy(plan);
  if (!chosen)
    throw new Error(`the plan of ${plan.namespace}/${plan.name} r${plan.revision} names no strategy`);
  return chosen;
}

/** Such as `canary shop/checkout r7: 20→50→100`. */
export function workflowSummary(plan: RolloutPlan): string {
  return strategyOf(plan).summary(plan);
}

/** Markdown: what the revision replaces, through which Services, and each step in order. */
export function workflowDetails(plan: RolloutPlan): string {
  const chosen = strategyOf(plan);
  const replaces = plan.stableTemplateHash
    ? `replaces stable template \`${plan.stableTemplateHash}\``
    : 'first revision, nothing stable to replace';
  const steps = chosen.steps.length
    ? chosen.steps.map((step, index) => `${index + 1}. ${step}`)
    : ['no steps: promoted at once'];
  return [
    `**${plan.namespace}/${plan.name}** revision ${plan.revision}, template \`${plan.templateHash}\`, ${replaces}`,
    ...chosen.details,
    ['**Steps**', ...steps].join('\n'),
    'Then the new revision becomes stable with 100% of the traffic.',
  ].join('\n\n');
}
