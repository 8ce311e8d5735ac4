import type { AnalysisRunStatus } from '../../schemas/analysis';
import { analysisRun } from '../../workflows/analysis-run';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { historyOf, recordHistoryFixture } from '../harness/temporal';

const app = 'ledger';
const MEASUREMENTS = 15;
const HISTORY_LIMIT = 50;

describe('a long analysis', () => {
  const scope = isolate('long-analysis');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app, {
    workerEnvironment: () => ({ SIIRTO_PROMETHEUS_URL: stack.prometheusUrl }),
  });

  it('continues as new before its history grows past the limit, keeping its tally', async () => {
    await scenario.firstRevisionHealthy([]);
    const rollout = (await kubeClients().custom.getNamespacedCustomObject({
      group: 'siirto.dev',
      version: 'v1alpha1',
      namespace,
      plural: 'rollouts',
      name: app,
    })) as { metadata: { uid: string } };
    const workflowId = `${scope.workflowIdPrefix}-long-analysis`;
    const handle = await scenario.client.workflow.start(analysisRun, {
      workflowId,
      taskQueue: scope.workflowIdPrefix,
      args: [
        {
          rollout: { namespace, name: app, uid: rollout.metadata.uid },
          revision: 1,
          kind: 'background',
          historyLimit: HISTORY_LIMIT,
          metrics: [
            {
              name: 'always-fine',
              source: 'test',
              query: 'vector(0)',
              successCondition: 'result < 1',
              intervalMilliseconds: 1_000,
              count: MEASUREMENTS,
              initialDelayMilliseconds: 0,
              failureLimit: 0,
              inconclusiveLimit: 0,
              consecutiveErrorLimit: 4,
            },
          ],
        },
      ],
    });
    const result: AnalysisRunStatus = await handle.result();
    expect(result.phase).toBe('Successful');
    expect(result.metrics[0]).toMatchObject({ successful: MEASUREMENTS, failed: 0 });

    const runs = [];
    for await (const run of scenario.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      runs.push(run);
    }
    expect(runs.length).toBeGreaterThanOrEqual(3);
    const lastRun = await historyOf(workflowId);
    expect(lastRun.length).toBeLessThanOrEqual(HISTORY_LIMIT + 20);
    const status = await scenario.see.rolloutStatus(app);
    expect(status.analysis?.background?.metrics[0]).toMatchObject({ successful: MEASUREMENTS });
    await recordHistoryFixture('analysis-run-continued-as-new', handle);
  });
});
