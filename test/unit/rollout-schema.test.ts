import path from 'node:path';
import { readFileSync } from 'node:fs';
import { RolloutSpecSchema } from '../../schemas/rollout';
import { podTemplateHash } from '../../schemas/pod-template-hash';
import { loadYaml } from '@kubernetes/client-node';
import { CRD_DIRECTORY, renderCrds } from '../../scripts/generate-crds';

type SchemaNode = { [key: string]: SchemaNode | undefined };

/** The generated Rollout CRD's schema node at `fields`, stepping into an array's items by `[]`. */
function rolloutCrdSchemaAt(fields: string[]): SchemaNode | undefined {
  const crd = loadYaml<SchemaNode>(renderCrds()['rollouts.siirto.dev.yaml'] ?? '');
  const versions = crd.spec?.versions as unknown as SchemaNode[];
  let node = versions[0]?.schema?.openAPIV3Schema;
  for (const field of fields) node = field === '[]' ? node?.items : node?.properties?.[field];
  return node;
}

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

  it('takes a pause duration as a duration string or, as Argo Rollouts does, a whole number of seconds', () => {
    const withPause = (duration: unknown) => ({
      ...validSpec,
      strategy: { canary: { ...validSpec.strategy.canary, steps: [{ pause: { duration } }] } },
    });
    expect(RolloutSpecSchema.parse(withPause(10)).strategy.canary?.steps).toEqual([
      { pause: { duration: 10 } },
    ]);
    expect(RolloutSpecSchema.parse(withPause('1h')).strategy.canary?.steps).toEqual([
      { pause: { duration: '1h' } },
    ]);
    for (const wrong of [-5, 2.5, true]) {
      const [issue] = RolloutSpecSchema.safeParse(withPause(wrong)).error?.issues ?? [];
      expect(issue?.message).toBe(
        'write a duration like 30s, 5m or 1h30m, or whole seconds like 10 (not negative)',
      );
      expect(issue?.path).toEqual(['strategy', 'canary', 'steps', 0, 'pause', 'duration']);
    }
  });

  it('types pause.duration as int-or-string in the CRD, so kubectl apply keeps 10 a number', () => {
    const duration = rolloutCrdSchemaAt(['spec', 'strategy', 'canary', 'steps', '[]', 'pause', 'duration']);
    expect(duration).toMatchObject({
      'x-kubernetes-int-or-string': true,
      anyOf: [{ type: 'integer' }, { type: 'string' }],
    });
    expect(duration).not.toHaveProperty('type');
  });

  it('is named sro for short, not ro, which Argo Rollouts uses', () => {
    const crd = loadYaml<{ spec: { names: { shortNames: string[] } } }>(
      renderCrds()['rollouts.siirto.dev.yaml'] ?? '',
    );
    expect(crd.spec.names.shortNames).toEqual(['sro']);
  });

  it('names the step that is two things at once', () => {
    const result = RolloutSpecSchema.safeParse({
      ...validSpec,
      strategy: { canary: { ...validSpec.strategy.canary, steps: [{ setWeight: 20, pause: {} }] } },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({
      path: ['strategy', 'canary', 'steps', 0, 'pause'],
      message:
        'set exactly one of setWeight, pause, analysis, setHeaderRoute, setMirrorRoute, setCanaryScale',
    });
  });

  it('reads header and mirror route steps as Argo Rollouts writes them, and names what is wrong in one', () => {
    const withSteps = (steps: unknown[]) =>
      RolloutSpecSchema.safeParse({
        ...validSpec,
        strategy: { canary: { ...validSpec.strategy.canary, steps } },
      });
    const argoShaped = withSteps([
      {
        setHeaderRoute: {
          name: 'beta',
          match: [{ headerName: 'X-Canary', headerValue: { prefix: 'beta' } }],
        },
      },
      {
        setMirrorRoute: {
          name: 'shadow',
          percentage: 35,
          match: [{ method: { exact: 'GET' }, path: { prefix: '/' } }],
        },
      },
      { setHeaderRoute: { name: 'beta' } },
    ]);
    expect(argoShaped.success).toBe(true);
    const wrong = withSteps([
      {
        setHeaderRoute: {
          name: 'Beta Route',
          match: [{ headerName: 'X-Canary', headerValue: { exact: '1', regex: '.*' } }],
        },
      },
      { setMirrorRoute: { name: 'shadow', percentage: 120 } },
    ]);
    expect(wrong.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      [
        'strategy.canary.steps.0.setHeaderRoute.name',
        'write the name in lower case letters, digits and dashes (a DNS label), such as canary-header',
      ],
      [
        'strategy.canary.steps.0.setHeaderRoute.match.0.headerValue.regex',
        'set exactly one of exact, prefix, regex',
      ],
      ['strategy.canary.steps.1.setMirrorRoute.percentage', expect.stringMatching(/100/)],
    ]);
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
      message: 'set exactly one of canary, blueGreen, abTesting',
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

  it('reads setCanaryScale as Argo Rollouts writes it: exactly one of replicas, weight or matchTrafficWeight', () => {
    const withSteps = (steps: unknown[]) =>
      RolloutSpecSchema.safeParse({
        ...validSpec,
        strategy: { canary: { ...validSpec.strategy.canary, steps } },
      });
    expect(
      withSteps([
        { setCanaryScale: { replicas: 1 } },
        { setCanaryScale: { weight: 25 } },
        { setCanaryScale: { matchTrafficWeight: true } },
      ]).success,
    ).toBe(true);
    const wrong = withSteps([
      { setCanaryScale: { replicas: 1, weight: 25 } },
      { setCanaryScale: { weight: 101 } },
    ]);
    expect(wrong.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      [
        'strategy.canary.steps.0.setCanaryScale.weight',
        'set exactly one of replicas, weight, matchTrafficWeight',
      ],
      ['strategy.canary.steps.1.setCanaryScale.weight', expect.stringMatching(/100/)],
    ]);
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
