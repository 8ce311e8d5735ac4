import { workflowDetails, workflowSummary } from '../../k8s-bridge/workflow-summary';
import { CanaryStrategySchema } from '../../schemas/rollout';

const canary = CanaryStrategySchema.parse({
  stableService: 'checkout-stable',
  canaryService: 'checkout-canary',
  trafficRouting: { gatewayAPI: { httpRoute: 'checkout' } },
  steps: [{ setWeight: 20 }, { pause: { duration: '5m' } }, { setWeight: 50 }, { pause: {} }],
});

describe('workflow summary and details', () => {
  it('summarises a revision by the weights it passes through', () => {
    const plan = { namespace: 'shop', name: 'checkout', revision: 7, templateHash: '1a2b3c4d5e', canary };
    expect(workflowSummary(plan)).toBe('canary shop/checkout r7: 20→50→100');
  });

  it('lists the steps in markdown and what the revision replaces', () => {
    const details = workflowDetails({
      namespace: 'shop',
      name: 'checkout',
      revision: 7,
      templateHash: '1a2b3c4d5e',
      stableTemplateHash: '0f0f0f0f0f',
      canary,
    });
    expect(details).toContain('replaces stable template `0f0f0f0f0f`');
    expect(details).toContain('1. 20%\n2. pause 5m\n3. 50%\n4. pause until promoted');
  });
});
