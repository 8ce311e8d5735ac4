import { RolloutAnalysisSchema } from '../../schemas/analysis';
import type { BlueGreenStrategy } from '../../schemas/rollout';
import { blueGreenSteps, previewReplicasFor } from '../../workflows/strategies/blue-green-plan';
import { chosenStrategy, strategyRunAs } from '../../workflows/strategies/registry';

const blueGreen: BlueGreenStrategy = {
  activeService: 'cart-active',
  previewService: 'cart-preview',
  trafficRouting: { gatewayAPI: { httpRoute: 'cart' } },
  autoPromotionEnabled: false,
  previewReplicaCount: 2,
  scaleDownDelaySeconds: 30,
  abortScaleDownDelaySeconds: 30,
};
const analysis = RolloutAnalysisSchema.parse({ builtIn: { errorRate: { max: 0.01 } } });

describe('the blue-green strategy in the registry', () => {
  it('is started as the blueGreenRollout workflow, whose runs count as blueGreen', () => {
    const chosen = chosenStrategy({ blueGreen });
    expect(chosen?.name).toBe('blueGreen');
    expect(chosen?.workflowType).toBe('blueGreenRollout');
    expect(chosen?.input).toEqual({ blueGreen });
    expect(strategyRunAs('blueGreenRollout')).toBe('blueGreen');
  });

  it('counts the steps the spec asks for, in the order they run', () => {
    expect(chosenStrategy({ blueGreen })?.steps).toEqual([
      'preview: 2 pods',
      'pause until promoted',
      'switch active',
    ]);
    const everything = {
      ...blueGreen,
      autoPromotionEnabled: true,
      autoPromotionSeconds: 300,
      prePromotionAnalysis: analysis,
      postPromotionAnalysis: analysis,
    };
    expect(chosenStrategy({ blueGreen: everything })?.steps).toEqual([
      'preview: 2 pods',
      'pre-promotion analysis',
      'pause 5m',
      'switch active',
      'post-promotion analysis',
    ]);
  });

  it('has no pause when it promotes on its own at once', () => {
    expect(blueGreenSteps({ ...blueGreen, autoPromotionEnabled: true })).toEqual(['preview', 'switch']);
  });

  it('says in its summary how the new revision becomes active', () => {
    const run = { namespace: 'store', name: 'cart', revision: 3 };
    expect(chosenStrategy({ blueGreen })?.summary(run)).toBe(
      'blue-green store/cart r3: preview, active on promote',
    );
    expect(chosenStrategy({ blueGreen: { ...blueGreen, autoPromotionEnabled: true } })?.summary(run)).toBe(
      'blue-green store/cart r3: preview, active at once',
    );
    expect(chosenStrategy({ blueGreen })?.details).toEqual([
      'Services: active `cart-active`, preview `cart-preview`, switched through the route',
    ]);
  });

  it('previews with previewReplicaCount pods, at most spec.replicas, or at full size', () => {
    expect(previewReplicasFor(2, 5)).toBe(2);
    expect(previewReplicasFor(8, 5)).toBe(5);
    expect(previewReplicasFor(undefined, 5)).toBe(5);
  });
});
