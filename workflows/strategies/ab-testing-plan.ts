import type { AbTestingStrategy, SetHeaderRoute, VariantMatch } from '../../schemas/rollout';
import type { StrategyPlan } from './registry';

/**
 * An A/B experiment's plan, from its spec: its steps as the status counts them (`step 2/3`), the CLI
 * lists them and the workflow runs them, and the header route that sends variant B its requests.
 * Pure, with no Node imports: the workflow reads it.
 */
export type AbTestingStep = 'variantB' | 'experiment' | 'verdict';

export const AB_TESTING_STEPS: readonly AbTestingStep[] = ['variantB', 'experiment', 'verdict'];

/**
 * An experiment under way, as a run that continues as new between two looks leaves it: the next run
 * counts over the time since the same start, so every count goes on from the same baseline and the
 * confidence sequence, valid over every look, holds across runs.
 */
export interface ExperimentCarryOver {
  /** When Siirto's rule for B went on the route (workflow time, ms since the epoch). */
  startedAt: number;
  /** Looks taken so far. */
  looks: number;
  /** Variant A's pod-template hash. */
  variantA: string;
}

/** The name of the rule Siirto adds to the route for variant B (rules named siirto.* are Siirto's). */
export const VARIANT_B_ROUTE = 'ab-variant-b';

/** How a step reads in the Temporal UI and the CLI. */
export function describeAbTestingStep(step: AbTestingStep, abTesting: Partial<AbTestingStrategy>): string {
  switch (step) {
    case 'variantB':
      return 'variant B at full size';
    case 'experiment':
      return `experiment up to ${abTesting.maxDuration ?? '1h'} (${describeMatch(abTesting.variantBMatch)}, B ${abTesting.variantBWeight ?? 0}% of the rest)`;
    case 'verdict':
      return 'verdict: promote B, or keep A';
  }
}

/** `header X-Variant=b`, `cookie variant=b`. */
export function describeMatch(match: VariantMatch | undefined): string {
  if (match?.header) {
    const { name, value } = match.header;
    return value.exact !== undefined
      ? `header ${name}=${value.exact}`
      : `header ${name}~${value.regex ?? ''}`;
  }
  if (match?.cookie) return `cookie ${match.cookie.name}=${match.cookie.value}`;
  return 'no match';
}

/** Escapes a literal for a regular expression (RE2 and JavaScript alike). */
function regexLiteral(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/**
 * The header route that sends variant B its requests. A cookie is a regular expression on the Cookie
 * header, as Gateway API matches cookies: the name and value whole, between `;` separators.
 */
export function variantBRoute(match: VariantMatch): SetHeaderRoute {
  if (match.header) {
    return {
      name: VARIANT_B_ROUTE,
      match: [{ headerName: match.header.name, headerValue: match.header.value }],
    };
  }
  const { name, value } = match.cookie ?? { name: '', value: '' };
  return {
    name: VARIANT_B_ROUTE,
    match: [
      {
        headerName: 'Cookie',
        headerValue: { regex: `(^|.*;\\s*)${regexLiteral(name)}=${regexLiteral(value)}(;.*|$)` },
      },
    ],
  };
}

/** A/B testing in the strategy registry (registry.ts). */
export const abTestingPlan: StrategyPlan<AbTestingStrategy> = {
  workflowType: 'abTestingRollout',
  describeSteps: (abTesting) => AB_TESTING_STEPS.map((step) => describeAbTestingStep(step, abTesting)),
  summary: (abTesting, run) =>
    `A/B ${run.namespace}/${run.name} r${run.revision}: ${describeMatch(abTesting.variantBMatch)} to B, up to ${abTesting.maxDuration}`,
  details: (abTesting) => [
    `Services: A \`${abTesting.variantAService}\`, B \`${abTesting.variantBService}\`; ` +
      `B gets ${describeMatch(abTesting.variantBMatch)} and ${abTesting.variantBWeight}% of the rest`,
    `Verdict after ${abTesting.analysis.minDuration} and ${abTesting.analysis.minSampleSize} trials per variant, ` +
      `at ${abTesting.analysis.confidenceLevel} confidence, looking every ${abTesting.analysis.interval}`,
  ],
};
