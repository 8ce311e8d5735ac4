import { promoteUpdate } from '../../workflows/rollout-api';
import { writeFigures } from '../harness/figures';
import { isolate } from '../harness/isolation';
import { setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'scaled';

describe('setCanaryScale sizes the canary apart from its traffic weight', () => {
  const scope = isolate('canary-scale');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);
  const figures: Record<string, unknown> = {};

  afterAll(() => writeFigures('canary-scale', figures));

  it('keeps one canary pod at 50% of traffic, then 75% of the replicas, then the traffic weight again', async () => {
    await scenario.firstRevisionHealthy(
      [
        { setCanaryScale: { replicas: 1 } },
        { setWeight: 50 },
        { pause: {} },
        { setCanaryScale: { weight: 75 } },
        { pause: {} },
        { setCanaryScale: { matchTrafficWeight: true } },
        { pause: {} },
      ],
      { replicas: 4 },
    );
    await setImage(namespace, app, `registry.example/${app}:2`);

    /**
     * At the pause of step `index`: the canary ReplicaSet's pods and the weights, once as many of its
     * pods are Ready (a pod scaled away may take a moment to go).
     */
    const atPause = async (index: number, pods: number) => {
      const status = await scenario.waitForStatus(
        `r2 paused at step ${index + 1}`,
        (s) => s.revision === 2 && s.phase === 'Paused' && s.currentStepIndex === index,
      );
      const hash = status.currentTemplateHash!;
      await waitFor(`${pods} canary pods Ready`, async () => (await scenario.see.readyPods(hash)) === pods, {
        timeoutMs: 10_000,
      });
      const seen = {
        canaryPods: await scenario.see.replicasOf(app, hash),
        weights: await scenario.see.routeWeights(app),
      };
      figures[`step${index + 1}`] = seen;
      return { status, seen };
    };
    const promote = async (workflowId: string | undefined) =>
      scenario.client.workflow
        .getHandle(workflowId ?? '')
        .executeUpdate(promoteUpdate, { args: [{ by: 'canary scale test' }] });
    const half = { [`${app}-stable`]: 50, [`${app}-canary`]: 50 };

    const first = await atPause(2, 1);
    expect(first.seen).toEqual({ canaryPods: 1, weights: half });
    await promote(first.status.workflowId);

    const second = await atPause(4, 3);
    expect(second.seen).toEqual({ canaryPods: 3, weights: half });
    await promote(second.status.workflowId);

    const third = await atPause(6, 2);
    expect(third.seen).toEqual({ canaryPods: 2, weights: half });
    await promote(third.status.workflowId);

    const healthy = await scenario.waitForStatus(
      'r2 Healthy',
      (s) => s.revision === 2 && s.phase === 'Healthy',
    );
    expect(await scenario.see.replicasOf(app, healthy.currentTemplateHash)).toBe(4);
    await recordHistoryFixture(
      'canary-scaled-apart-from-weight',
      scenario.client.workflow.getHandle(healthy.workflowId ?? ''),
    );
  });
});
