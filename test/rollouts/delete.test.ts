import { WorkflowFailedError } from '@temporalio/client';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { activitySummaries, recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'catalog';

describe('deleting a Rollout mid-canary', () => {
  const scope = isolate('delete');
  const scenario = rolloutScenario(scope, app);

  it('cancels its workflow, which hands the route back to stable, and its ReplicaSets go with it', async () => {
    await scenario.firstRevisionHealthy([{ setWeight: 40 }, { pause: {} }]);
    await setImage(scope.namespace, app, `registry.example/${app}:2`);
    const paused = await scenario.waitForStatus(
      'r2 to pause at 40%',
      (s) => s.revision === 2 && s.phase === 'Paused',
    );
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 60, [`${app}-canary`]: 40 });

    await runOrThrow('kubectl', ['delete', 'rollouts.siirto.dev', app, '-n', scope.namespace]);

    const handle = scenario.client.workflow.getHandle(paused.workflowId!);
    const failure = await handle.result().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect(await activitySummaries(handle.workflowId)).toContain('cancelled: traffic to stable');
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    await waitFor('the ReplicaSets to be collected with their Rollout', async () => {
      return (await scenario.see.replicaSets(app)).length === 0;
    });
    await recordHistoryFixture('canary-cancelled-by-delete', handle);
  });
});
