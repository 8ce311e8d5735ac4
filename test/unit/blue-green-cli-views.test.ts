import type { V1ReplicaSet } from '@kubernetes/client-node';
import { blueGreenTraffic } from '../../cli/blue-green-view';
import { renderStatus } from '../../cli/rollout-status-view';
import type { RolloutStatus } from '../../schemas/rollout';

const blueGreen = {
  activeService: 'cart-active',
  previewService: 'cart-preview',
  trafficRouting: { gatewayAPI: { httpRoute: 'cart' } },
  autoPromotionEnabled: false,
  scaleDownDelaySeconds: 30,
  abortScaleDownDelaySeconds: 30,
};

const previewing: RolloutStatus = {
  phase: 'Paused',
  message: 'step 2/3: paused until promoted',
  currentStepIndex: 1,
  revision: 2,
  currentTemplateHash: 'bbbbbbbbbb',
  stableTemplateHash: 'aaaaaaaaaa',
  weights: { stable: 100, canary: 0 },
  blueGreen: { activeSelector: 'aaaaaaaaaa', previewSelector: 'bbbbbbbbbb' },
};

const replicaSet = (hash: string, replicas: number): V1ReplicaSet => ({
  metadata: { name: `cart-${hash}`, labels: { 'siirto.dev/pod-template-hash': hash } },
  spec: { replicas, selector: {} },
  status: { replicas, readyReplicas: replicas },
});

describe('siirto list and status for a blue-green Rollout', () => {
  it('lists which revision each Service selects instead of weights', () => {
    expect(blueGreenTraffic(previewing)).toBe('active aaaaaaaaaa / preview r2');
    expect(
      blueGreenTraffic({
        ...previewing,
        blueGreen: { activeSelector: 'bbbbbbbbbb', previewSelector: 'bbbbbbbbbb' },
      }),
    ).toBe('active r2');
    expect(blueGreenTraffic({})).toBe('-');
  });

  it('shows the active and preview Services, the route weights and each ReplicaSet by its role', () => {
    const text = renderStatus({
      rollout: {
        metadata: { name: 'cart', namespace: 'store' },
        spec: { strategy: { blueGreen } },
        status: previewing,
      },
      replicaSets: [replicaSet('aaaaaaaaaa', 4), replicaSet('bbbbbbbbbb', 2)],
    });
    expect(text).toContain('  active   cart-active → aaaaaaaaaa');
    expect(text).toContain('  preview  cart-preview → r2');
    expect(text).toContain('  weights  active 100% / preview 0%');
    expect(text).toContain('cart-aaaaaaaaaa (active)  4/4 Ready');
    expect(text).toContain('cart-bbbbbbbbbb (preview)  2/2 Ready');
    expect(text).toContain('1. preview: all pods');
    expect(text).toContain('2. pause until promoted');
    expect(text).toContain('3. switch active');
    expect(text).not.toContain('canary');
  });

  it('names a pre-promotion analysis as such', () => {
    const analysed: RolloutStatus = {
      ...previewing,
      analysis: {
        prePromotion: { revision: 2, phase: 'Failed', message: 'error-rate 0.5', metrics: [] },
      },
    };
    const text = renderStatus({
      rollout: {
        metadata: { name: 'cart', namespace: 'store' },
        spec: { strategy: { blueGreen } },
        status: analysed,
      },
      replicaSets: [],
    });
    expect(text).toContain('    pre-promotion: Failed — error-rate 0.5');
  });
});
