import * as registeredWorkflows from '../../workflows';
import { CanaryStrategySchema, RolloutSpecSchema, STRATEGY_NAMES } from '../../schemas/rollout';
import {
  chosenStrategy,
  stepCount,
  strategyRunAs,
  STRATEGY_WORKFLOW_TYPES,
} from '../../workflows/strategies/registry';

const canary = CanaryStrategySchema.parse({
  stableService: 'checkout-stable',
  canaryService: 'checkout-canary',
  trafficRouting: { gatewayAPI: { httpRoute: 'checkout' } },
  steps: [{ setWeight: 20 }, { pause: { duration: '5m' } }, { setWeight: 50 }, { pause: {} }],
});

describe('the strategy registry', () => {
  it('has a workflow the worker registers for every strategy the schema accepts', () => {
    expect(STRATEGY_WORKFLOW_TYPES).toHaveLength(STRATEGY_NAMES.length);
    for (const workflowType of STRATEGY_WORKFLOW_TYPES) {
      expect(typeof (registeredWorkflows as Record<string, unknown>)[workflowType]).toBe('function');
    }
  });

  it('reads a canary: its workflow type, steps as people read them, summary and input', () => {
    const chosen = chosenStrategy({ canary });
    expect(chosen).toMatchObject({
      name: 'canary',
      workflowType: 'canaryRollout',
      steps: ['20%', 'pause 5m', '50%', 'pause until promoted'],
      input: { canary },
    });
    expect(chosen?.summary({ namespace: 'shop', name: 'checkout', revision: 7 })).toBe(
      'canary shop/checkout r7: 20→50→100',
    );
  });

  it('counts the steps of the strategy a spec names, and none when it names none', () => {
    expect(stepCount({ canary })).toBe(4);
    expect(stepCount(undefined)).toBe(0);
    expect(stepCount({})).toBe(0);
  });

  it('tells a Rollout shown by the CLI, whose steps may be missing, as having none', () => {
    const invalid = { canary: { stableService: 'a', canaryService: 'b' } } as unknown as typeof canary;
    expect(stepCount({ canary: invalid })).toBe(0);
  });

  it("tells a rollout workflow's strategy by its type, and an analysis as none", () => {
    expect(strategyRunAs('canaryRollout')).toBe('canary');
    expect(strategyRunAs('analysisRun')).toBeUndefined();
    expect(strategyRunAs(undefined)).toBeUndefined();
  });

  it('rejects a spec.strategy that names no strategy, naming the ones it may', () => {
    const result = RolloutSpecSchema.shape.strategy.safeParse({});
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe(`set exactly one of ${STRATEGY_NAMES.join(', ')}`);
  });
});
