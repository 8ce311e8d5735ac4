import {
  checkRollout,
  fieldPath,
  parseRollout,
  type ClusterFacts,
} from '../../k8s-bridge/rollout-validation';
import type { Rollout } from '../../schemas/rollout';
import { rolloutManifest } from '../harness/rollout-fixtures';

const everythingExists: ClusterFacts = {
  existingServices: new Set(['checkout-stable', 'checkout-canary']),
  routingProblems: [],
  analysisTemplates: new Map(),
  templateProblems: [],
};

const defaultSteps = [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: { duration: '30s' } }];

interface Manifest {
  spec: {
    selector: Record<string, unknown>;
    template: { metadata: { labels: Record<string, string> } };
    strategy: { canary: Record<string, unknown> };
  };
}

/** The sample Rollout of the test harness, changed by `edit`, parsed as the bridge parses it. */
function parsed(steps: unknown[] = defaultSteps, edit: (manifest: Manifest) => void = () => {}): Rollout {
  const manifest = JSON.parse(rolloutManifest({ namespace: 'shop', app: 'checkout', steps })) as Manifest;
  edit(manifest);
  const result = parseRollout(manifest);
  if (!result.rollout) throw new Error(`fixture does not parse: ${result.problems.join('; ')}`);
  return result.rollout;
}

const problemsOf = (rollout: Rollout, facts: ClusterFacts = everythingExists) => checkRollout(rollout, facts);

describe('Rollout validation', () => {
  it('accepts a Rollout whose Services, route and steps are all in order', () => {
    expect(problemsOf(parsed())).toEqual([]);
  });

  it('spells zod paths as kubectl does', () => {
    expect(fieldPath(['spec', 'strategy', 'canary', 'steps', 2, 'setWeight'])).toBe(
      'spec.strategy.canary.steps[2].setWeight',
    );
  });

  it('names the field of a schema problem', () => {
    const broken = JSON.parse(
      rolloutManifest({ namespace: 'shop', app: 'checkout', steps: [{ setWeight: 'twenty' }] }),
    );
    expect(parseRollout(broken).problems).toEqual([
      expect.stringMatching(/^spec\.strategy\.canary\.steps\[0\]\.setWeight: .*expected number/),
    ]);
  });

  it('names a pause duration it cannot read and shows how to write one', () => {
    const rollout = parsed([{ setWeight: 10 }, { pause: { duration: '5 minutes' } }]);
    expect(problemsOf(rollout)).toEqual([
      'spec.strategy.canary.steps[1].pause.duration: "5 minutes" is not a duration; write it like 30s, 5m or 1h30m, or as whole seconds like 10, or leave it out to pause until promoted',
    ]);
  });

  it('refuses a step whose weight is set from outside with a duration, since a promote ends it', () => {
    expect(problemsOf(parsed([{ setWeight: 10 }, { pause: { external: true } }]))).toEqual([]);
    expect(problemsOf(parsed([{ pause: { external: true, duration: '5m' } }]))).toEqual([
      'spec.strategy.canary.steps[0].pause: external and duration do not go together; an external step lasts until promoted, so remove duration (or external, for a timed pause)',
    ]);
  });

  it('refuses a weight above 100', () => {
    expect(problemsOf(parsed([{ setWeight: 150 }]))).toEqual([
      expect.stringMatching(/^spec\.strategy\.canary\.steps\[0\]\.setWeight: 150 is above 100; /),
    ]);
  });

  it('checks an analysis as the worker will resolve it: durations, conditions, arguments', () => {
    const builtInWithBadWindow = parsed([
      { setWeight: 10 },
      { analysis: { builtIn: { errorRate: { max: 0.05 }, window: 'a minute' } } },
    ]);
    expect(problemsOf(builtInWithBadWindow)).toEqual([
      'spec.strategy.canary.steps[1].analysis.builtIn.window is "a minute", not a duration of at least 1s: write it like 30s, 1m or 5m',
    ]);

    const reference = { templateName: 'success-rate', clusterScope: false };
    const template = {
      reference,
      source: 'AnalysisTemplate shop/success-rate',
      spec: {
        args: [{ name: 'service' }],
        metrics: [
          {
            name: 'success-rate',
            interval: '30s',
            failureLimit: 0,
            inconclusiveLimit: 0,
            consecutiveErrorLimit: 4,
            successCondition: 'result >=',
            provider: { prometheus: { query: 'up{service="{{args.service}}"}' } },
          },
        ],
      },
    };
    const facts = { ...everythingExists, analysisTemplates: new Map([['namespace/success-rate', template]]) };
    const problems = problemsOf(
      parsed([{ setWeight: 10 }, { analysis: { templates: [{ templateName: 'success-rate' }] } }]),
      facts,
    );
    expect(problems.join('\n')).toMatch(/successCondition/);
    expect(problems.join('\n')).toMatch(/service/);
  });

  it('passes on what the lookup found wrong with a template', () => {
    const missing =
      'AnalysisTemplate shop/gone not found: create it or fix spec.strategy.canary.steps[1].analysis.templates[0].templateName';
    const facts = { ...everythingExists, templateProblems: [missing] };
    expect(
      problemsOf(parsed([{ setWeight: 10 }, { analysis: { templates: [{ templateName: 'gone' }] } }]), facts),
    ).toEqual([missing]);
  });

  it('passes on what the traffic router found wrong with the routes, after the other problems', () => {
    const routing =
      'spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute: HTTPRoute "checkout" not found in namespace shop; ' +
      'create it (gateway.networking.k8s.io/v1), or name an existing HTTPRoute';
    const facts = { ...everythingExists, routingProblems: [routing] };
    expect(problemsOf(parsed([{ setWeight: 150 }]), facts)).toEqual([
      expect.stringMatching(/^spec\.strategy\.canary\.steps\[0\]\.setWeight: /),
      routing,
    ]);
  });

  it('accepts header and mirror route steps, the steps that remove them, and canary scale steps', () => {
    const rollout = parsed([
      { setHeaderRoute: { name: 'beta', match: [{ headerName: 'X-Beta', headerValue: { exact: '1' } }] } },
      { setWeight: 20 },
      { setMirrorRoute: { name: 'shadow', percentage: 10, match: [{ path: { prefix: '/orders' } }] } },
      { setHeaderRoute: { name: 'beta' } },
      { setCanaryScale: { replicas: 1 } },
      { setCanaryScale: { matchTrafficWeight: true } },
    ]);
    expect(problemsOf(rollout)).toEqual([]);
  });

  it('names each missing Service with its field', () => {
    const facts = { ...everythingExists, existingServices: new Set<string>() };
    expect(problemsOf(parsed(), facts)).toEqual([
      'spec.strategy.canary.stableService: Service "checkout-stable" not found in namespace shop; create it, or name an existing Service',
      'spec.strategy.canary.canaryService: Service "checkout-canary" not found in namespace shop; create it, or name an existing Service',
    ]);
  });

  it('refuses one Service for both stable and canary', () => {
    const facts = {
      ...everythingExists,
      existingServices: new Set(['checkout']),
    };
    expect(
      problemsOf(
        parsed(defaultSteps, ({ spec }) =>
          Object.assign(spec.strategy.canary, { stableService: 'checkout', canaryService: 'checkout' }),
        ),
        facts,
      ),
    ).toEqual([
      expect.stringMatching(/^spec\.strategy\.canary\.canaryService: "checkout" is also the stableService; /),
    ]);
  });

  it('refuses a selector that does not match the template labels', () => {
    const rollout = parsed(defaultSteps, ({ spec }) => (spec.template.metadata.labels = { app: 'cart' }));
    expect(problemsOf(rollout)).toEqual([
      'spec.selector.matchLabels.app: selects "checkout" but spec.template.metadata.labels.app is "cart"; make the selector match the template labels',
    ]);
  });

  it('evaluates matchExpressions as the apiserver does', () => {
    const withExpressions = (matchExpressions: unknown[]) =>
      parsed(defaultSteps, ({ spec }) => (spec.selector = { matchExpressions }));
    expect(
      problemsOf(withExpressions([{ key: 'app', operator: 'In', values: ['checkout', 'cart'] }])),
    ).toEqual([]);
    expect(problemsOf(withExpressions([{ key: 'tier', operator: 'NotIn', values: ['db'] }]))).toEqual([]);
    expect(problemsOf(withExpressions([{ key: 'tier', operator: 'Exists' }]))).toEqual([
      expect.stringMatching(/^spec\.selector\.matchExpressions\[0\]: tier Exists does not hold /),
    ]);
  });

  it('refuses a background analysis starting beyond the last step, which would never run', () => {
    const withAnalysisFrom = (startingStep: number, steps: unknown[] = [{ setWeight: 20 }, { pause: {} }]) =>
      parsed(steps, (manifest) => {
        manifest.spec.strategy.canary.analysis = { startingStep, builtIn: { errorRate: { max: 0.05 } } };
      });
    expect(problemsOf(withAnalysisFrom(1))).toEqual([]);
    expect(problemsOf(withAnalysisFrom(2))).toEqual([
      'spec.strategy.canary.analysis.startingStep: 2 is beyond the last step; spec.strategy.canary.steps has ' +
        '2 steps (indices 0 to 1), so the background analysis would never run: set it to 0–1',
    ]);
    expect(problemsOf(withAnalysisFrom(0, []))).toEqual([
      'spec.strategy.canary.analysis.startingStep: 0 names a step, but spec.strategy.canary.steps has none, ' +
        'so the background analysis would never run: add steps for it to run beside, or remove ' +
        'spec.strategy.canary.analysis',
    ]);
  });

  it('refuses an empty selector, which would take every pod in the namespace', () => {
    expect(problemsOf(parsed(defaultSteps, ({ spec }) => (spec.selector = { matchLabels: {} })))).toEqual([
      expect.stringMatching(/^spec\.selector: is empty /),
    ]);
  });
});
