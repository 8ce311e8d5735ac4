import type { WorkflowExecutionInfo } from '@temporalio/client';
import type { JudgeStatus } from '../../schemas/analysis';
import { promoteSignal } from '../../workflows/rollout-api';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { latencyTemplate, patchRolloutSpec, routeHost } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { historyOf, recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { startTraffic, type Traffic } from '../traffic/traffic';

const app = 'bghandover';
/** 25 % of 4 pods: 1 canary pod, so 1 baseline pod. */
const REPLICAS = 4;
/**
 * History events after which the rollout continues as new: low, so that a few judgements do what
 * days of them would do in production (the default is thousands).
 */
const HISTORY_LIMIT = 120;

const LATENCY_QUERY =
  'sum by (pod) (rate(http_request_duration_seconds_sum{ {{selector}} }[4s])) / ' +
  'sum by (pod) (rate(http_request_duration_seconds_count{ {{selector}} }[4s]))';

describe('a background judge across continue-as-new', () => {
  const scope = isolate('bghandover');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app, {
    workerEnvironment: () => ({ SIIRTO_PROMETHEUS_URL: stack.prometheusUrl }),
    bridgeEnvironment: { SIIRTO_WORKFLOW_HISTORY_LIMIT: String(HISTORY_LIMIT) },
  });
  const { apps, core } = kubeClients();
  let traffic: Traffic | undefined;

  afterAll(async () => {
    await traffic?.stop();
  });

  async function continuedRuns(workflowId: string): Promise<WorkflowExecutionInfo[]> {
    const infos: WorkflowExecutionInfo[] = [];
    const query = `WorkflowId = '${workflowId}' AND ExecutionStatus = 'ContinuedAsNew'`;
    for await (const info of scenario.client.workflow.list({ query })) infos.push(info);
    return infos;
  }

  it('keeps its baseline for the next run, which judges on against it, and removes it at promotion', async () => {
    await scenario.firstRevisionHealthy([], { replicas: REPLICAS });
    await patchRolloutSpec(namespace, app, {
      template: latencyTemplate(app, `registry.example/${app}:2`, 100),
    });
    const stable = await scenario.waitForStatus(
      'r2 Healthy',
      (s) => s.phase === 'Healthy' && s.revision === 2,
    );
    const stableHash = stable.stableTemplateHash ?? '';
    const baselineName = `${app}-baseline-${stableHash}`;

    traffic = startTraffic({ host: routeHost(namespace, app), ratePerSecond: 40 });
    await patchRolloutSpec(namespace, app, {
      template: latencyTemplate(app, `registry.example/${app}:3`, 100),
      strategy: {
        canary: {
          steps: [{ setWeight: 25 }, { pause: {} }],
          analysis: {
            startingStep: 1,
            judge: {
              interval: '8s',
              step: '1s',
              metrics: [
                { name: 'latency', query: LATENCY_QUERY, direction: 'increase', allowedIncrease: 1.1 },
              ],
            },
          },
        },
      },
    });
    const workflowId = `${namespace}/${app}/r3`;
    const first = await waitFor(
      'the baseline ReplicaSet with its pod Ready',
      async () => {
        const found = await apps
          .readNamespacedReplicaSet({ name: baselineName, namespace })
          .catch(() => undefined);
        return (found?.status?.readyReplicas ?? 0) === 1 && found;
      },
      { timeoutMs: 60_000 },
    );
    const uid = first.metadata?.uid;

    // Judged every 8 s while paused until promoted, the run passes its limit and continues as new.
    const seenJudgements: number[] = [];
    await waitFor(
      'the rollout to continue as new twice while its background judge judges',
      async () => {
        const status = await scenario.see.rolloutStatus(app);
        const judgement = (status.analysis?.background?.judge as JudgeStatus | undefined)?.judgement;
        if (judgement !== undefined) seenJudgements.push(judgement);
        // The same baseline all along, its backend on the route at the canary's weight.
        const replicaSet = await apps.readNamespacedReplicaSet({ name: baselineName, namespace });
        expect(replicaSet.metadata?.uid).toBe(uid);
        expect(status.phase).not.toBe('Degraded');
        return (await continuedRuns(workflowId)).length >= 2;
      },
      { timeoutMs: 240_000, intervalMs: 1_000 },
    );
    expect(await scenario.see.routeWeights(app)).toEqual({
      [`${app}-stable`]: 50,
      [`${app}-canary`]: 25,
      [`${app}-baseline`]: 25,
    });
    // The run before handed over the judgements it made, and the next run counts on from them.
    const [started] = await historyOf(workflowId);
    const attributes = started?.workflowExecutionStartedEventAttributes as {
      input: { payloads: { data: string }[] };
    };
    const input = JSON.parse(Buffer.from(attributes.input.payloads[0]!.data, 'base64').toString('utf8')) as {
      continued: { background: { judged: { judgements: number } } };
    };
    const handedOver = input.continued.background.judged.judgements;
    expect(handedOver).toBeGreaterThan(0);
    const before = Math.max(handedOver, ...seenJudgements);
    const judgedOn = await scenario.waitForStatus(
      'a judgement of the new run',
      (s) => ((s.analysis?.background?.judge as JudgeStatus | undefined)?.judgement ?? 0) > before,
      60_000,
    );
    expect(judgedOn.analysis?.background?.phase).toBe('Running');

    await scenario.client.workflow.getHandle(workflowId).signal(promoteSignal, { by: 'on-call' });
    await scenario.waitForStatus('r3 Healthy', (s) => s.phase === 'Healthy' && s.revision === 3, 90_000);
    await waitFor('the baseline, its Service and backend gone', async () => {
      const replicaSet = await apps.readNamespacedReplicaSet({ name: baselineName, namespace }).then(
        () => true,
        () => false,
      );
      const service = await core.readNamespacedService({ name: `${app}-baseline`, namespace }).then(
        () => true,
        () => false,
      );
      const weights = await scenario.see.routeWeights(app);
      return !replicaSet && !service && Object.keys(weights).sort().join() === `${app}-canary,${app}-stable`;
    });
    await recordHistoryFixture(
      'canary-background-judge-continued-as-new',
      scenario.client.workflow.getHandle(workflowId),
    );
  });
});
