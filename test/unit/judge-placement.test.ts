import { loadYaml } from '@kubernetes/client-node';
import { checkRollout, parseRollout } from '../../k8s-bridge/rollout-validation';
import { renderCrds } from '../../scripts/generate-crds';
import { blueGreenRolloutManifest } from '../harness/blue-green-fixtures';
import { rolloutManifestWith } from '../harness/rollout-fixtures';

const judge = {
  metrics: [
    {
      name: 'latency',
      query:
        'sum by (pod) (rate(http_request_duration_seconds_sum{ {{selector}} }[{{range}}])) / ' +
        'sum by (pod) (rate(http_request_duration_seconds_count{ {{selector}} }[{{range}}]))',
    },
  ],
};

const BLUE_GREEN_REFUSAL =
  'a judge compares the new revision with a baseline of the old one on the same share of live traffic, ' +
  'and a blue-green Rollout never splits live traffic between them (the preview gets none before the ' +
  'switch, the active all of it after); judge the new revision by thresholds here (templates or builtIn), ' +
  'or use a canary strategy with the judge in an analysis step (spec.strategy.canary.steps[N].analysis.judge)';

const problemsOf = (manifest: string) => parseRollout(JSON.parse(manifest) as unknown).problems;

/** The problems of a Rollout that parses, as the bridge checks it against a cluster with its Services. */
function checkedProblemsOf(manifest: string): string[] {
  const parsed = parseRollout(JSON.parse(manifest) as unknown);
  if (!parsed.rollout) return parsed.problems;
  return checkRollout(parsed.rollout, {
    existingServices: new Set(['checkout-stable', 'checkout-canary']),
    routingProblems: [],
    analysisTemplates: new Map(),
    templateProblems: [],
  });
}

function canaryWith(canary: Record<string, unknown>): string {
  return rolloutManifestWith(
    { namespace: 'shop', app: 'checkout' },
    {
      canary: {
        stableService: 'checkout-stable',
        canaryService: 'checkout-canary',
        trafficRouting: { gatewayAPI: { httpRoute: 'checkout' } },
        ...canary,
      },
    },
  );
}

type SchemaNode = { [key: string]: SchemaNode | undefined };

function rolloutCrdProperties(fields: string[]): string[] {
  const crd = loadYaml<SchemaNode>(renderCrds()['rollouts.siirto.dev.yaml'] ?? '');
  const versions = crd.spec?.versions as unknown as SchemaNode[];
  let node = versions[0]?.schema?.openAPIV3Schema;
  for (const field of fields) node = node?.properties?.[field];
  return Object.keys(node?.properties ?? {});
}

describe('where a Rollout may carry a judge', () => {
  it('refuses a judge in a blue-green pre-promotion analysis, naming the field and the fix', () => {
    const manifest = blueGreenRolloutManifest({
      namespace: 'shop',
      app: 'checkout',
      blueGreen: { prePromotionAnalysis: { judge } },
    });
    expect(problemsOf(manifest)).toEqual([
      `spec.strategy.blueGreen.prePromotionAnalysis.judge: ${BLUE_GREEN_REFUSAL}`,
    ]);
  });

  it('refuses a judge in a blue-green post-promotion analysis, even beside thresholds', () => {
    const manifest = blueGreenRolloutManifest({
      namespace: 'shop',
      app: 'checkout',
      blueGreen: { postPromotionAnalysis: { builtIn: { errorRate: { max: 0.01 } }, judge } },
    });
    expect(problemsOf(manifest)).toEqual([
      `spec.strategy.blueGreen.postPromotionAnalysis.judge: ${BLUE_GREEN_REFUSAL}`,
    ]);
  });

  it('accepts a judge in the canary’s background analysis, from its starting step on', () => {
    const manifest = canaryWith({
      steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }],
      analysis: { startingStep: 1, judge },
    });
    expect(checkedProblemsOf(manifest)).toEqual([]);
  });

  it('refuses a background judge beside a step judge: the two would share one baseline', () => {
    const manifest = canaryWith({
      steps: [{ setWeight: 25 }, { analysis: { judge } }],
      analysis: { startingStep: 1, judge },
    });
    expect(checkedProblemsOf(manifest)).toEqual([
      'spec.strategy.canary.analysis.judge: spec.strategy.canary.steps[1].analysis.judge judges against a ' +
        'baseline too, and the two would share one baseline; keep the judge in the background analysis or ' +
        'in the steps, not both',
    ]);
  });

  it('refuses a background judge through Gateway API while the canary has more than 50 % of the traffic', () => {
    const expected =
      'spec.strategy.canary.analysis.judge: the canary has 80 % of the traffic while the background judge ' +
      "runs, and the baseline can get the canary's share only from the stable's rest, which is smaller; keep " +
      'every setWeight from spec.strategy.canary.analysis.startingStep on at 50 or less, or judge in an ' +
      'analysis step after a setWeight of 50 or less instead';
    // A weight set after the starting step, and one in effect when the judge starts.
    const later = canaryWith({
      steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 80 }],
      analysis: { startingStep: 1, judge },
    });
    const before = canaryWith({
      steps: [{ setWeight: 80 }, { pause: {} }],
      analysis: { startingStep: 1, judge },
    });
    expect(checkedProblemsOf(later)).toEqual([expected]);
    expect(checkedProblemsOf(before)).toEqual([expected]);
    // Before the starting step, a weight above 50 the judge never sees is no matter.
    const unseen = canaryWith({
      steps: [{ setWeight: 80 }, { setWeight: 20 }, { pause: {} }],
      analysis: { startingStep: 2, judge },
    });
    expect(checkedProblemsOf(unseen)).toEqual([]);
  });

  it('refuses a background judge beside templates or builtIn, naming the fix', () => {
    const manifest = canaryWith({
      steps: [{ setWeight: 25 }, { pause: {} }],
      analysis: { startingStep: 1, builtIn: { errorRate: { max: 0.01 } }, judge },
    });
    expect(problemsOf(manifest)).toEqual([
      'spec.strategy.canary.analysis.judge: is set beside templates or builtIn: a judged analysis runs on ' +
        'its own; move the templates and builtIn to an analysis step of their own',
    ]);
  });

  it('accepts a judge in a canary step’s analysis', () => {
    const manifest = canaryWith({ steps: [{ setWeight: 50 }, { analysis: { judge } }] });
    expect(problemsOf(manifest)).toEqual([]);
  });

  it('keeps a judge in the CRD wherever an analysis is, so the apiserver stores a refused one for the bridge to refuse', () => {
    for (const analysis of ['prePromotionAnalysis', 'postPromotionAnalysis']) {
      expect(rolloutCrdProperties(['spec', 'strategy', 'blueGreen', analysis])).toContain('judge');
    }
    expect(rolloutCrdProperties(['spec', 'strategy', 'canary', 'analysis'])).toContain('judge');
  });
});
