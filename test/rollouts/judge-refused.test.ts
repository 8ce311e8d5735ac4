import type { RolloutStatus } from '../../schemas/rollout';
import {
  activeService,
  blueGreenRolloutManifest,
  blueGreenServicesAndRoute,
  previewService,
} from '../harness/blue-green-fixtures';
import { isolate } from '../harness/isolation';
import { kubectlApply, patchRolloutSpec, sampleContainer } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { waitFor } from '../harness/wait';

const app = 'judged-beside';
const blueGreenApp = 'judged-preview';

const judge = {
  interval: '20s',
  step: '2s',
  metrics: [
    {
      name: 'latency',
      query:
        'sum by (pod) (rate(http_request_duration_seconds_sum{ {{selector}} }[4s])) / ' +
        'sum by (pod) (rate(http_request_duration_seconds_count{ {{selector}} }[4s]))',
    },
  ],
};

/**
 * A judge needs live traffic split between the canary and a baseline of the same size: a canary's
 * steps, or its background analysis beside them, with the canary at 50 % or less through Gateway API
 * (the baseline's share comes out of the stable's). Where a Rollout cannot give it that, the bridge refuses the Rollout before it
 * moves anything, naming the field and where a judge can run; before, the apiserver pruned the field
 * away and the revision rolled out unjudged.
 */
describe('a judge where a Rollout cannot judge against a baseline', () => {
  const scope = isolate('judge-refused');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);

  const statusOf = (name: string, description: string, accept: (status: RolloutStatus) => boolean) =>
    waitFor(description, async () => {
      const status = await scenario.see.rolloutStatus(name);
      return accept(status) && status;
    });

  /** Invalid, with the problem in the message and in the Valid condition and a Warning Event. */
  async function expectRefused(name: string, status: RolloutStatus, problem: string): Promise<void> {
    expect(status.phase).toBe('Invalid');
    expect(status.message).toContain(problem);
    expect(status.conditions).toContainEqual(
      expect.objectContaining({ type: 'Valid', status: 'False', message: expect.stringContaining(problem) }),
    );
    const events = await scenario.see.rolloutEvents(name);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'Warning', message: expect.stringContaining(problem) }),
    );
  }

  /** The new image was never started: the app's only ReplicaSet is the one of revision 1. */
  async function onlyTheFirstRevisionRuns(name: string, stableHash: string | undefined): Promise<void> {
    const replicaSets = await scenario.see.replicaSets(name);
    expect(replicaSets.map((replicaSet) => replicaSet.hash)).toEqual([stableHash]);
  }

  it('refuses a judge in a blue-green pre-promotion analysis: Invalid, nothing previewed, all traffic active', async () => {
    await kubectlApply(blueGreenServicesAndRoute(namespace, blueGreenApp));
    await kubectlApply(blueGreenRolloutManifest({ namespace, app: blueGreenApp, replicas: 2 }));
    const healthy = await statusOf(
      blueGreenApp,
      `${blueGreenApp} r1 Healthy`,
      (status) => status.phase === 'Healthy' && status.revision === 1,
    );

    await patchRolloutSpec(namespace, blueGreenApp, {
      template: { spec: { containers: [sampleContainer(`registry.example/${blueGreenApp}:2`)] } },
      strategy: { blueGreen: { prePromotionAnalysis: { judge } } },
    });
    const refused = await statusOf(blueGreenApp, `${blueGreenApp} Invalid`, (s) => s.phase === 'Invalid');
    await expectRefused(
      blueGreenApp,
      refused,
      'spec.strategy.blueGreen.prePromotionAnalysis.judge: a judge compares the new revision with a baseline ' +
        'of the old one on the same share of live traffic, and a blue-green Rollout never splits live traffic ' +
        'between them (the preview gets none before the switch, the active all of it after); judge the new ' +
        'revision by thresholds here (templates or builtIn), or use a canary strategy with the judge in an ' +
        'analysis step (spec.strategy.canary.steps[N].analysis.judge)',
    );
    expect(refused.stableTemplateHash).toBe(healthy.stableTemplateHash);
    expect(await scenario.see.routeWeights(blueGreenApp)).toEqual({
      [activeService(blueGreenApp)]: 100,
      [previewService(blueGreenApp)]: 0,
    });
    await onlyTheFirstRevisionRuns(blueGreenApp, healthy.stableTemplateHash);
  });

  it('refuses a background judge that would see the canary above 50 %: Invalid, no canary pod, all traffic stable', async () => {
    const healthy = await scenario.firstRevisionHealthy([]);
    await patchRolloutSpec(namespace, app, {
      template: { spec: { containers: [sampleContainer(`registry.example/${app}:2`)] } },
      strategy: { canary: { steps: [{ setWeight: 80 }, { pause: {} }], analysis: { judge } } },
    });
    const refused = await scenario.waitForStatus(`${app} Invalid`, (s) => s.phase === 'Invalid');
    await expectRefused(
      app,
      refused,
      'spec.strategy.canary.analysis.judge: the canary has 80 % of the traffic while the background judge ' +
        "runs, and the baseline can get the canary's share only from the stable's rest, which is smaller; keep " +
        'every setWeight from spec.strategy.canary.analysis.startingStep on at 50 or less, or judge in an ' +
        'analysis step after a setWeight of 50 or less instead',
    );
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    await onlyTheFirstRevisionRuns(app, healthy.stableTemplateHash);

    // The judge moved into a step after a setWeight of 50: the same revision rolls out, judged there.
    await patchRolloutSpec(namespace, app, {
      strategy: {
        canary: { steps: [{ setWeight: 50 }, { analysis: { judge } }, { pause: {} }], analysis: null },
      },
    });
    const accepted = await scenario.waitForStatus(
      `${app} r2 under way`,
      (s) => s.revision === 2 && s.phase !== 'Invalid',
    );
    expect(accepted.conditions).toContainEqual(expect.objectContaining({ type: 'Valid', status: 'True' }));
  });
});
