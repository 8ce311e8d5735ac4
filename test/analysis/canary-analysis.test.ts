import type { AnalysisRunStatus } from '../../schemas/analysis';
import type { RolloutStatus } from '../../schemas/rollout';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { kubectlApply, patchRolloutSpec, routeHost, sampleContainer } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { activityCompletions, activitySummaries, historyOf, recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { setBehaviour, startTraffic, type Traffic } from '../traffic/traffic';
import { cdEventsValidator } from '../cdevents/cdevents-schemas';
import { CDEventsSink } from '../cdevents/cdevents-sink';

const app = 'shop';
const INTERVAL_SECONDS = 2;

/**
 * Thresholds on the canary's own series, over a window short enough for a test. The delay lets
 * Prometheus find the new pods (its discovery hands new targets to the scrapers every 5 s) and scrape
 * them twice, with room for a busy machine: at 8 s, a CI run once found no canary series yet.
 */
function builtIn(thresholds: Record<string, unknown>, policy: Record<string, unknown> = {}) {
  return {
    ...thresholds,
    window: '10s',
    interval: `${INTERVAL_SECONDS}s`,
    initialDelay: '12s',
    inconclusiveLimit: 2,
    ...policy,
  };
}

/** The sample app's image, misbehaving from its first request as its environment says. */
function template(image: string, behaviour: { errorRate?: number; latencyMilliseconds?: number } = {}) {
  const env: Record<string, number> = {};
  if (behaviour.errorRate !== undefined) env.SAMPLE_APP_ERROR_RATE = behaviour.errorRate;
  if (behaviour.latencyMilliseconds !== undefined)
    env.SAMPLE_APP_LATENCY_MILLISECONDS = behaviour.latencyMilliseconds;
  return { spec: { containers: [sampleContainer(image, env)] } };
}

describe('analysis: judging a canary from Prometheus with real traffic flowing', () => {
  const scope = isolate('analysis');
  const { namespace } = scope;
  let sink: CDEventsSink;
  beforeAll(async () => {
    sink = await CDEventsSink.start();
  });
  afterAll(async () => {
    await sink?.close();
  });
  const scenario = rolloutScenario(scope, app, {
    workerEnvironment: () => ({
      SIIRTO_PROMETHEUS_URL: stack.prometheusUrl,
      SIIRTO_CDEVENTS_SINK_URL: sink.url,
    }),
  });
  const { custom } = kubeClients();
  let traffic: Traffic | undefined;
  let imageCounter = 1;

  beforeAll(async () => {
    await scenario.firstRevisionHealthy([]);
  });

  afterEach(async () => {
    await traffic?.stop();
    traffic = undefined;
  });

  /**
   * Rolls out a new image with `steps`, with a steady load flowing through the gateway to the app's
   * pods: Prometheus discovers the canary's pods and the analysis reads what they served.
   */
  async function rollOutWithTraffic(
    steps: unknown[],
    canaryBehaviour: { errorRate?: number; latencyMilliseconds?: number } = {},
    canaryStrategy: Record<string, unknown> = {},
  ) {
    const before = await scenario.see.rolloutStatus(app);
    const image = `registry.example/${app}:${++imageCounter}`;
    traffic = startTraffic({ host: routeHost(namespace, app), ratePerSecond: 60 });
    await patchRolloutSpec(namespace, app, {
      template: template(image, canaryBehaviour),
      strategy: { canary: { steps, ...canaryStrategy } },
    });
    const revision = (before.revision ?? 0) + 1;
    return { revision, image, workflowId: `${namespace}/${app}/r${revision}` };
  }

  const stepAnalysis = (status: RolloutStatus): AnalysisRunStatus | undefined => status.analysis?.step;

  it('completes a healthy canary, with its measurements in the status and the history', async () => {
    const { revision, workflowId } = await rollOutWithTraffic([
      { setWeight: 50 },
      {
        analysis: {
          builtIn: builtIn({ errorRate: { max: 0.05 }, latencyP95: { maxSeconds: 0.3 } }, { count: 3 }),
        },
      },
    ]);
    const healthy = await scenario.waitForStatus(
      `r${revision} Healthy after its analysis`,
      (status) => status.phase === 'Healthy' && status.revision === revision,
      90_000,
    );
    const analysis = stepAnalysis(healthy);
    expect(analysis).toMatchObject({ revision, stepIndex: 1, phase: 'Successful' });
    for (const name of ['error-rate', 'latency-p95']) {
      const metric = analysis?.metrics.find((candidate) => candidate.name === name);
      expect(metric).toMatchObject({ phase: 'Successful', successful: 3, failed: 0 });
      expect(metric?.measurements.every((measurement) => measurement.verdict === 'Successful')).toBe(true);
      expect(Number(metric?.measurements.at(-1)?.value)).toBeLessThan(name === 'error-rate' ? 0.05 : 0.3);
    }
    expect(traffic?.responses().byStatus['200']).toBeGreaterThan(100);

    const child = `${workflowId}/analysis/step-2/a1`;
    const summaries = await activitySummaries(child);
    expect(summaries).toEqual(
      expect.arrayContaining([
        'measure error-rate 1/3',
        'measure latency-p95 3/3',
        expect.stringMatching(/^error-rate 3\/3: Successful — /),
      ]),
    );
    expect(await activitySummaries(workflowId)).toContain('resolve step analysis');
    await recordHistoryFixture('canary-analysis-successful', scenario.client.workflow.getHandle(workflowId));
    await recordHistoryFixture('analysis-run-successful', scenario.client.workflow.getHandle(child));
  });

  it('rolls a canary answering 30% errors back within one interval of the first failing measurement', async () => {
    const { revision, workflowId } = await rollOutWithTraffic(
      [
        { setWeight: 50 },
        { analysis: { builtIn: builtIn({ errorRate: { max: 0.05 } }, { count: 5 }) } },
        { setWeight: 100 },
      ],
      { errorRate: 0.3 },
    );
    const degraded = await scenario.waitForStatus(
      `r${revision} rolled back`,
      (status) => status.phase === 'Degraded' && status.revision === revision,
      90_000,
    );
    expect(degraded.message).toMatch(/^analysis failed: error-rate 0\.[1-5]\d*: /);
    expect(degraded.message).toContain('result <= 0.05');
    expect(degraded.weights).toEqual({ stable: 100, canary: 0 });

    const metric = stepAnalysis(degraded)?.metrics.find((candidate) => candidate.name === 'error-rate');
    const firstFailure = metric?.measurements.find((measurement) => measurement.verdict === 'Failed');
    expect(firstFailure).toBeDefined();
    // Both on the server's clock: a measurement's time is its workflow task's, as Temporal recorded
    // it, and the route write back to stable is an activity whose completion Temporal recorded.
    const failedAt = Date.parse(firstFailure?.measuredAt ?? '');
    const [backToStable] = activityCompletions(await historyOf(workflowId), 'abort: traffic back to stable');
    expect(backToStable).toBeDefined();
    expect(backToStable!.at - failedAt).toBeLessThan(INTERVAL_SECONDS * 1000);
    // The gateway follows the route: the canary stops receiving requests.
    await waitFor('the gateway to send everything to stable', async () => {
      const split = await traffic?.measureSplit(50);
      return split?.shares[String(imageCounter)] === undefined;
    });

    // The Event follows the status write that made the rollout Degraded.
    const events = await waitFor('the AnalysisFailed Event', async () => {
      const listed = await kubeClients().core.listNamespacedEvent({
        namespace,
        fieldSelector: `involvedObject.name=${app},reason=AnalysisFailed`,
      });
      return listed.items.length > 0 && listed.items;
    });
    expect(events.map((event) => event.message)).toEqual([expect.stringContaining('error-rate')]);
    // The pipeline hears of it as a roll-back, with the failed analysis as the reason.
    const rolledBack = await waitFor(`r${revision}'s rolledback CDEvent`, () =>
      sink.events
        .map(
          (event) =>
            event.data as { context: { type: string }; customData: { revision: number; reason?: string } },
        )
        .find(
          (event) =>
            event.customData.revision === revision &&
            event.context.type === 'dev.cdevents.service.rolledback.0.3.0',
        ),
    );
    expect(cdEventsValidator().problems(rolledBack)).toEqual([]);
    expect(rolledBack.customData.reason).toBe(degraded.message);
    await recordHistoryFixture('canary-analysis-failed', scenario.client.workflow.getHandle(workflowId));
  });

  it('catches a latency regression with the built-in latency-p95, warning at a tolerated failure', async () => {
    const { revision } = await rollOutWithTraffic(
      [
        { setWeight: 50 },
        {
          analysis: {
            builtIn: builtIn({ latencyP95: { maxSeconds: 0.2 } }, { count: 5, failureLimit: 1 }),
          },
        },
      ],
      { latencyMilliseconds: 400 },
    );
    const degraded = await scenario.waitForStatus(
      `r${revision} rolled back on latency`,
      (status) => status.phase === 'Degraded' && status.revision === revision,
      90_000,
    );
    expect(degraded.message).toMatch(/^analysis failed: latency-p95 0\.[3-9]\d*: /);
    expect(degraded.weights).toEqual({ stable: 100, canary: 0 });
    expect(stepAnalysis(degraded)?.metrics[0]).toMatchObject({ name: 'latency-p95', failed: 2 });
    // The first failure was within failureLimit: a Warning said so before the second rolled back.
    const warnings = await kubeClients().core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.name=${app},reason=AnalysisMeasurementFailed`,
    });
    expect(warnings.items.map((event) => [event.type, event.message])).toEqual([
      [
        'Warning',
        expect.stringMatching(new RegExp(`^r${revision} step 2 analysis: latency-p95 1/5: Failed — `)),
      ],
    ]);
  });

  it('promotes only once its background analysis has succeeded, however short the steps', async () => {
    // The steps are done long before the analysis's initial delay is over. The second needs no more
    // pods than the first (2 of 3 either way), so its route write checks their readiness itself.
    const { revision, workflowId } = await rollOutWithTraffic(
      [{ setWeight: 40 }, { setWeight: 50 }],
      {},
      { analysis: { startingStep: 0, builtIn: builtIn({ errorRate: { max: 0.05 } }) } },
    );
    const healthy = await scenario.waitForStatus(
      `r${revision} Healthy after its background analysis`,
      (status) => status.phase === 'Healthy' && status.revision === revision,
      60_000,
    );
    const background = healthy.analysis?.background;
    expect(background).toMatchObject({ revision, phase: 'Successful' });
    expect(background?.metrics[0]).toMatchObject({ name: 'error-rate', phase: 'Successful' });
    expect(background?.metrics[0]?.measurements.at(-1)?.verdict).toBe('Successful');
    const summaries = await activitySummaries(workflowId);
    expect(summaries).toContain(
      'status Progressing: step 2/2 done: waiting for the background analysis to succeed',
    );
    expect(summaries.filter((summary) => summary.startsWith('wait for 2 canary pods Ready'))).toHaveLength(1);
    await patchRolloutSpec(namespace, app, { strategy: { canary: { analysis: null } } });
    await recordHistoryFixture(
      'canary-background-analysis-concluded',
      scenario.client.workflow.getHandle(workflowId),
    );
  });

  it('rolls back when the background analysis sees the canary go bad during a pause', async () => {
    const { revision, image } = await rollOutWithTraffic(
      [{ setWeight: 50 }, { pause: {} }],
      {},
      { analysis: { startingStep: 1, builtIn: builtIn({ errorRate: { max: 0.05 } }) } },
    );
    const paused = await scenario.waitForStatus(
      `r${revision} paused with its background analysis measuring`,
      (status) =>
        status.revision === revision &&
        status.phase === 'Paused' &&
        (status.analysis?.background?.metrics[0]?.successful ?? 0) >= 2,
      60_000,
    );
    expect(paused.analysis?.background).toMatchObject({ revision, phase: 'Running' });
    await setBehaviour(namespace, image, { errorRate: 0.5 });
    const degraded = await scenario.waitForStatus(
      `r${revision} rolled back by its background analysis`,
      (status) => status.phase === 'Degraded' && status.revision === revision,
      60_000,
    );
    expect(degraded.message).toMatch(/^analysis failed: error-rate /);
    expect(degraded.weights).toEqual({ stable: 100, canary: 0 });
    expect(degraded.analysis?.background?.phase).toBe('Failed');
    await patchRolloutSpec(namespace, app, { strategy: { canary: { analysis: null } } });
  });

  it('runs an AnalysisTemplate with arguments and a ClusterAnalysisTemplate', async () => {
    const clusterTemplate = `${namespace}-request-volume`;
    await kubectlApply(
      JSON.stringify({
        apiVersion: 'siirto.dev/v1alpha1',
        kind: 'AnalysisTemplate',
        metadata: { name: 'success-rate', namespace },
        spec: {
          args: [{ name: 'error-codes' }, { name: 'window', value: '10s' }],
          metrics: [
            {
              name: 'success-rate',
              interval: '2s',
              count: 2,
              initialDelay: '4s',
              inconclusiveLimit: 2,
              successCondition: 'result >= 0.95',
              provider: {
                prometheus: {
                  query:
                    'sum(rate(http_requests_total{namespace="{{args.namespace}}",siirto_dev_pod_template_hash="{{args.canary-hash}}",code!~"{{args.error-codes}}"}[{{args.window}}])) / sum(rate(http_requests_total{namespace="{{args.namespace}}",siirto_dev_pod_template_hash="{{args.canary-hash}}"}[{{args.window}}]))',
                },
              },
            },
          ],
        },
      }),
    );
    await kubectlApply(
      JSON.stringify({
        apiVersion: 'siirto.dev/v1alpha1',
        kind: 'ClusterAnalysisTemplate',
        metadata: { name: clusterTemplate },
        spec: {
          metrics: [
            {
              name: 'request-volume',
              interval: '2s',
              count: 2,
              initialDelay: '4s',
              inconclusiveLimit: 2,
              successCondition: 'result > 1',
              failureCondition: 'result < 0.1',
              provider: {
                prometheus: {
                  query:
                    'sum(rate(http_requests_total{namespace="{{args.namespace}}",siirto_dev_pod_template_hash="{{args.canary-hash}}"}[10s]))',
                },
              },
            },
          ],
        },
      }),
    );
    try {
      const { revision } = await rollOutWithTraffic([
        { setWeight: 50 },
        {
          analysis: {
            templates: [
              { templateName: 'success-rate' },
              { templateName: clusterTemplate, clusterScope: true },
            ],
            args: [{ name: 'error-codes', value: '5..' }],
          },
        },
      ]);
      const healthy = await scenario.waitForStatus(
        `r${revision} Healthy after the templates' analysis`,
        (status) => status.phase === 'Healthy' && status.revision === revision,
        90_000,
      );
      expect(stepAnalysis(healthy)?.metrics.map((metric) => [metric.name, metric.phase])).toEqual([
        ['success-rate', 'Successful'],
        ['request-volume', 'Successful'],
      ]);
    } finally {
      await custom.deleteClusterCustomObject({
        group: 'siirto.dev',
        version: 'v1alpha1',
        plural: 'clusteranalysistemplates',
        name: clusterTemplate,
      });
    }
  });

  it('stops at a template that does not exist, naming it', async () => {
    const { revision } = await rollOutWithTraffic([
      { setWeight: 50 },
      { analysis: { templates: [{ templateName: 'no-such-template' }] } },
    ]);
    const status = await scenario.waitForStatus(
      `r${revision} to report the missing template`,
      (candidate) =>
        (candidate.phase === 'Degraded' || candidate.phase === 'Invalid') &&
        (candidate.message ?? '').includes('no-such-template'),
    );
    expect(status.message).toMatch(/AnalysisTemplate .*no-such-template.* not found/);
    expect(status.weights?.canary ?? 0).toBe(0);
  });

  it('rolls back on a query Prometheus cannot parse, with its message', async () => {
    await kubectlApply(
      JSON.stringify({
        apiVersion: 'siirto.dev/v1alpha1',
        kind: 'AnalysisTemplate',
        metadata: { name: 'broken-query', namespace },
        spec: {
          metrics: [
            {
              name: 'broken',
              interval: '2s',
              successCondition: 'result < 1',
              provider: { prometheus: { query: 'sum(rate(http_requests_total[10s]' } },
            },
          ],
        },
      }),
    );
    const { revision } = await rollOutWithTraffic([
      { setWeight: 50 },
      { analysis: { templates: [{ templateName: 'broken-query' }] } },
    ]);
    const degraded = await scenario.waitForStatus(
      `r${revision} to roll back on the unparsable query`,
      (status) => status.phase === 'Degraded' && status.revision === revision,
    );
    expect(degraded.message).toMatch(/broken/);
    expect(degraded.message).toMatch(/pars/i);
    expect(degraded.weights).toEqual({ stable: 100, canary: 0 });
  });
});
