import type { Strategy, StrategyName } from '../../schemas/rollout';
import { abTestingPlan } from './ab-testing-plan';
import { blueGreenPlan } from './blue-green-plan';
import { canaryPlan } from './canary-plan';

/**
 * What Siirto's parts outside a strategy's workflow know of it: the bridge (which workflow to start,
 * with what), the status it writes and the CLI (how many steps, each as people read it), and the
 * Temporal UI (a run's summary and plan). They read it here, never from a strategy's own spec.
 * Pure, with no Node imports and no schemas at run time: workflow code reads the summaries too.
 */
export interface StrategyPlan<Spec> {
  /** The workflow type the worker registers for the strategy (workflows/index.ts). */
  workflowType: string;
  /** Each step as people read it, in order: `20%`, `pause 5m`, `analysis`. Tolerates a partial spec. */
  describeSteps(spec: Spec): string[];
  /** One line for a revision's run, such as `canary shop/checkout r7: 20→50→100`. */
  summary(spec: Spec, run: RunOfRollout): string;
  /** Markdown lines of the plan particular to the strategy, such as the Services it points. */
  details(spec: Spec): string[];
}

/** A revision's run of a Rollout, as a summary names it. */
export interface RunOfRollout {
  namespace: string;
  name: string;
  revision: number;
}

type SpecOf<Name extends StrategyName> = NonNullable<Strategy[Name]>;

/** Every strategy, by its key under spec.strategy (schemas/rollout.ts): a new one adds its line here. */
const STRATEGIES: { [Name in StrategyName]: StrategyPlan<SpecOf<Name>> } = {
  canary: canaryPlan,
  blueGreen: blueGreenPlan,
  abTesting: abTestingPlan,
};
/** The keys in the registry's order: the schema's, since the type above wants every one of them. */
const STRATEGY_NAMES = Object.keys(STRATEGIES) as StrategyName[];

/** The strategy a Rollout names, with its spec: what the bridge, the status and the CLI go by. */
export interface ChosenStrategy {
  /** Its key under spec.strategy, and the value of the RolloutStrategy search attribute. */
  name: StrategyName;
  workflowType: string;
  /** Each step as people read it. */
  steps: string[];
  /** Such as `canary shop/checkout r7: 20→50→100`, for the Rollout and revision given. */
  summary(run: RunOfRollout): string;
  details: string[];
  /** The strategy's part of its workflow's input: its spec, under its key, as in spec.strategy. */
  input: Strategy;
}

function choose<Name extends StrategyName>(name: Name, spec: SpecOf<Name>): ChosenStrategy {
  const plan: StrategyPlan<SpecOf<Name>> = STRATEGIES[name];
  return {
    name,
    workflowType: plan.workflowType,
    steps: plan.describeSteps(spec),
    summary: (run) => plan.summary(spec, run),
    details: plan.details(spec),
    input: { [name]: spec },
  };
}

/**
 * The strategy set in `strategies` (a Rollout's spec.strategy, or a workflow's input, which carries
 * its spec under the same key); undefined when none is.
 */
export function chosenStrategy(strategies: Strategy | undefined): ChosenStrategy | undefined {
  for (const name of STRATEGY_NAMES) {
    const spec = strategies?.[name];
    if (spec !== undefined && spec !== null) return choose(name, spec);
  }
  return undefined;
}

/** How many steps the strategy set in `strategies` runs; 0 when none is set. */
export function stepCount(strategies: Strategy | undefined): number {
  return chosenStrategy(strategies)?.steps.length ?? 0;
}

/** Every workflow type a strategy runs as: the worker registers each (workflows/index.ts). */
export const STRATEGY_WORKFLOW_TYPES = STRATEGY_NAMES.map((name) => STRATEGIES[name].workflowType);

/** The strategy a workflow type rolls out by; undefined for any other workflow (an analysis). */
export function strategyRunAs(workflowType: string | undefined): StrategyName | undefined {
  return STRATEGY_NAMES.find((name) => STRATEGIES[name].workflowType === workflowType);
}
