import { promoteUpdate } from '../../workflows/rollout-api';
import { isolate } from '../harness/isolation';
import { patchRolloutSpec, sampleContainer } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { waitFor } from '../harness/wait';
import { startWebhookReceiver } from '../harness/webhook-receiver';

const app = 'ledger';
/** The least the bridge takes: the rollback webhook's asks pass it within seconds. */
const HISTORY_LIMIT = 100;

describe('webhooks across a continue-as-new', () => {
  const scope = isolate('webhooks-can');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app, {
    bridgeEnvironment: { SIIRTO_WORKFLOW_HISTORY_LIMIT: String(HISTORY_LIMIT) },
  });
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    await scenario.firstRevisionHealthy([{ setWeight: 50 }]);
  });
  afterAll(async () => {
    await receiver?.close();
  });

  it('keep counting a webhook’s failures in the run that goes on from a pause', async () => {
    receiver.answer('/smoke', 500);
    receiver.answer('/stop', 404);
    const interval = '1s';
    await patchRolloutSpec(namespace, app, {
      template: { spec: { containers: [sampleContainer(`registry.example/${app}:2`)] } },
      strategy: {
        canary: {
          steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 40 }],
          webhooks: [
            { name: 'smoke', type: 'rollout', url: receiver.url('/smoke'), interval, failureLimit: 1 },
            { name: 'stop', type: 'rollback', url: receiver.url('/stop'), interval },
          ],
        },
      },
    });
    // The first ask fails (1 of the 1 tolerated); the next says yes.
    await waitFor('the first failed ask', () => receiver.calls.some((call) => call.path === '/smoke'));
    receiver.answer('/smoke', 200);
    const paused = await scenario.waitForStatus('the pause', (s) => s.revision === 2 && s.phase === 'Paused');
    const workflowId = paused.workflowId!;
    const runs = async () => {
      const found: string[] = [];
      for await (const run of scenario.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
        found.push(run.runId);
      }
      return found;
    };
    // The rollback webhook's asks grow the history past the limit: the run continues as new in the pause.
    await waitFor('a continue-as-new', async () => (await runs()).length >= 2, { timeoutMs: 60_000 });

    const failedBefore = receiver.calls.filter(
      (call) => call.path === '/smoke' && call.status === 500,
    ).length;
    expect(failedBefore).toBe(1);
    receiver.answer('/smoke', 500);
    await scenario.client.workflow
      .getHandle(workflowId)
      .executeUpdate(promoteUpdate, { args: [{ by: 'on-call' }] });
    const degraded = await scenario.waitForStatus(
      'the abort',
      (s) => s.revision === 2 && s.phase === 'Degraded',
    );
    // One more failure is one too many: the count from the run before still stands.
    expect(degraded.message).toBe("rollout hook 'smoke' failed 2 times (failureLimit 1): HTTP 500");
    expect(receiver.calls.filter((call) => call.path === '/smoke' && call.status === 500)).toHaveLength(2);
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
  });
});
