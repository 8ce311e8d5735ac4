import path from 'node:path';
import { readFileSync } from 'node:fs';
import { RolloutSpecSchema } from '../../schemas/rollout';
import { podTemplateHash } from '../../schemas/pod-template-hash';
import { CRD_DIRECTORY, renderCrds } from '../../scripts/generate-crds';

const validSpec = {
  selector: { matchLabels: { app: 'checkout' } },
  template: {
    metadata: { labels: { app: 'checkout' } },
    spec: { containers: [{ name: 'app', image: 'checkout:1' }] },
  },
  strategy: {
    canary: {
      stableService: 'checkout-stable',
      canaryService: 'checkout-canary',
      trafficRouting: { gatewayAPI: { httpRoute: 'checkout' } },
      steps: [{ setWeight: 20 }, { pause: { duration: '5s' } }],
    },
  },
};

describe('the Rollout schema', () => {
  it('fills the defaults a user leaves out', () => {
    const spec = RolloutSpecSchema.parse(validSpec);
    expect(spec.replicas).toBe(1);
    expect(spec.progressDeadlineSeconds).toBe(600);
    expect(spec.strategy.canary?.scaleDownDelaySeconds).toBe(30);
  });

  it('names the step that is two things at once', () => {
    const result = RolloutSpecSchema.safeParse({
      ...validSpec,
      strategy: { canary: { ...validSpec.strategy.canary, steps: [{ setWeight: 20, pause: {} }] } },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({
      path: ['strategy', 'canary', 'steps', 0, 'pause'],
      message: 'set exactly one of setWeight, pause, analysis',
    });
  });

  it('takes a blue-green strategy with Argo Rollouts defaults: auto-promotion on, 30 s scale-down delays', () => {
    const spec = RolloutSpecSchema.parse({
      ...validSpec,
      strategy: { blueGreen: { activeService: 'checkout-active', previewService: 'checkout-preview' } },
    });
    expect(spec.strategy.blueGreen).toEqual({
      activeService: 'checkout-active',
      previewService: 'checkout-preview',
      autoPromotionEnabled: true,
      scaleDownDelaySeconds: 30,
      abortScaleDownDelaySeconds: 30,
    });
  });

  it('refuses a Rollout that asks for both a canary and a blue-green strategy, naming the second', () => {
    const result = RolloutSpecSchema.safeParse({
      ...validSpec,
      strategy: { ...validSpec.strategy, blueGreen: { activeService: 'checkout-active' } },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({
      path: ['strategy', 'blueGreen'],
      message: 'set exactly one of canary, blueGreen',
    });
  });

  it('refuses a blue-green strategy without an activeService', () => {
    const result = RolloutSpecSchema.safeParse({
      ...validSpec,
      strategy: { blueGreen: { previewService: 'checkout-preview' } },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['strategy', 'blueGreen', 'activeService']);
  });

  it('hashes equal templates equally, whatever their key order', () => {
    const reordered = { spec: validSpec.template.spec, metadata: validSpec.template.metadata };
    expect(podTemplateHash(reordered)).toBe(podTemplateHash(validSpec.template));
    const changed = { ...validSpec.template, spec: { containers: [{ name: 'app', image: 'checkout:2' }] } };
    expect(podTemplateHash(changed)).not.toBe(podTemplateHash(validSpec.template));
    expect(podTemplateHash(validSpec.template)).toMatch(/^[0-9a-f]{10}$/);
  });

  it('matches the committed CRDs (run `npm run crd:generate` after changing a schema)', () => {
    for (const [file, text] of Object.entries(renderCrds())) {
      expect(readFileSync(path.join(CRD_DIRECTORY, file), 'utf8')).toBe(text);
    }
  });
});
