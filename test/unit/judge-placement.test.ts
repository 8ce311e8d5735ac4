import { loadYaml } from '@kubernetes/client-node';
import { parseRollout } from '../../k8s-bridge/rollout-validation';
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

const BACKGROUND_REFUSAL =
  'the background analysis does not judge against a baseline; put the judge in an analysis step after ' +
  'a setWeight step (spec.strategy.canary.steps[N].analysis.judge), where it holds the steps while it ' +
  'judges, or measure by thresholds here (templates or builtIn)';

const problemsOf = (manifest: string) => parseRollout(JSON.parse(manifest) as unknown).problems;

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

  it('refuses a judge in the canary’s background analysis, pointing at an analysis step', () => {
    const manifest = canaryWith({ steps: [{ setWeight: 50 }, { pause: {} }], analysis: { judge } });
    expect(problemsOf(manifest)).toEqual([`spec.strategy.canary.analysis.judge: ${BACKGROUND_REFUSAL}`]);
  });

  it('accepts a judge in a canary step’s analysis', () => {
    const manifest = canaryWith({ steps: [{ setWeight: 50 }, { analysis: { judge } }] });
    expect(problemsOf(manifest)).toEqual([]);
  });

  it('keeps a refused judge in the CRD, so the apiserver stores it for the bridge to refuse, not prunes it', () => {
    for (const analysis of ['prePromotionAnalysis', 'postPromotionAnalysis']) {
      expect(rolloutCrdProperties(['spec', 'strategy', 'blueGreen', analysis])).toContain('judge');
    }
    expect(rolloutCrdProperties(['spec', 'strategy', 'canary', 'analysis'])).toContain('judge');
  });
});
