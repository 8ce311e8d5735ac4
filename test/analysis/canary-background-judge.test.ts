import type { JudgeStatus } from '../../schemas/analysis';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { latencyTemplate, patchRolloutSpec, routeHost } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { activitySummaries, recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { startTraffic, type Traffic } from '../traffic/traffic';

const app = 'bgjudged';
/** 25 % of 4 pods is 1 canary pod, 50 % is 2: the baseline follows. */
const REPLICAS = 4;
const STABLE_LATENCY_MILLISECONDS = 100;

/** Each pod's mean latency, as in canary-judge.test.ts: the judge fills in {{selector}}. */
const LATENCY_QUERY =
  'sum by (pod) (rate(http_request_duration_seconds_sum{ {{selector}} }[4s])) / ' +
  'sum by (pod) (rate(http_request_duration_seconds_count{ {{selector}} }[4s]))';

const judge = {
  interval: '20s',
  step: '2s',
  metrics: [{ name: 'latency', query: LATENCY_QUERY, direction: 'increase', allowedIncrease: 1.1 }],
};

describe('the background judge: the canary judged against a baseline beside the steps, from startingStep', () => {
  const scope = isolate('bgjudge');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app, {
    workerEnvironment: () => ({ SIIRTO_PROMETHEUS_URL: stack.prometheusUrl }),
  });
  const { apps, core } = kubeClients();
  let traffic: Traffic | undefined;
  let imageCounter = 2;
  /** Every set of route weights seen while a rollout ran, as `name=weight` lists. */
  let routeSeen: Set<string>;
  let watching = false;

  beforeAll(async () => {
    await scenario.firstRevisionHealthy([], { replicas: REPLICAS });
    await patchRolloutSpec(namespace, app, {
      template: latencyTemplate(app, `registry.example/${app}:2`, STABLE_LATENCY_MILLISECONDS),
    });
    await scenario.waitForStatus(
      'r2 Healthy',
      (status) => status.phase === 'Healthy' && status.revision === 2,
    );
  });

  afterEach(async () => {
    watching = false;
    await traffic?.stop();
    traffic = undefined;
  });

  function watchRoute(): void {
    routeSeen = new Set();
    watching = true;
    void (async () => {
      while (watching) {
        const weights = await scenario.see.routeWeights(app).catch(() => ({}));
        routeSeen.add(
          Object.entries(weights)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([name, weight]) => `${name}=${weight}`)
            .join(','),
        );
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
  }

  async function rollOut(latencyMilliseconds: number, steps: unknown[]) {
    const before = await scenario.see.rolloutStatus(app);
    traffic = startTraffic({ host: routeHost(namespace, app), ratePerSecond: 60 });
    watchRoute();
    await patchRolloutSpec(namespace, app, {
      template: latencyTemplate(app, `registry.example/${app}:${++imageCounter}`, latencyMilliseconds),
      strategy: { canary: { steps, analysis: { startingStep: 1, judge } } },
    });
    const revision = (before.revision ?? 0) + 1;
    return {
      revision,
      stableHash: before.stableTemplateHash ?? '',
      workflowId: `${namespace}/${app}/r${revision}`,
    };
  }

  async function baselineReady(stableHash: string, pods: number): Promise<void> {
    await waitFor(
      `the baseline ReplicaSet with ${pods} Ready pods`,
      async () => {
        const found = await apps
          .readNamespacedReplicaSet({ name: `${app}-baseline-${stableHash}`, namespace })
          .catch(() => undefined);
        return (found?.status?.readyReplicas ?? 0) === pods && (found?.spec?.replicas ?? 0) === pods;
      },
      { timeoutMs: 60_000 },
    );
  }

  /** The baseline's backend off the route, its Service, ReplicaSet and pods gone. */
  async function baselineGone(stableHash: string): Promise<void> {
    await waitFor(`the baseline of ${stableHash} gone, and the route back to two backends`, async () => {
      const weights = await scenario.see.routeWeights(app);
      const service = await core.readNamespacedService({ name: `${app}-baseline`, namespace }).then(
        () => true,
        () => false,
      );
      const replicaSet = await apps
        .readNamespacedReplicaSet({ name: `${app}-baseline-${stableHash}`, namespace })
        .then(
          () => true,
          () => false,
        );
      const pods = await core.listNamespacedPod({ namespace, labelSelector: 'siirto.dev/role=baseline' });
      return (
        !service &&
        !replicaSet &&
        pods.items.length === 0 &&
        Object.keys(weights).sort().join() === `${app}-canary,${app}-stable`
      );
    });
  }

  it('rolls back a canary 30 % slower than the baseline: traffic back to stable, Degraded, baseline removed', async () => {
    // The pause lasts until promoted: only the background judge can end this rollout.
    const { revision, stableHash, workflowId } = await rollOut(130, [{ setWeight: 25 }, { pause: {} }]);
    await baselineReady(stableHash, 1);
    const degraded = await scenario.waitForStatus(
      `r${revision} rolled back by the background judge`,
      (status) => status.phase === 'Degraded' && status.revision === revision,
      120_000,
    );
    expect(degraded.message).toMatch(
      /^analysis failed: judgement 1: score 0 \(Failed\); latency High \(failed\): /,
    );
    expect(degraded.weights).toEqual({ stable: 100, canary: 0 });
    const judged = degraded.analysis?.background;
    expect(judged?.phase).toBe('Failed');
    expect(judged?.judge as JudgeStatus).toMatchObject({
      judgement: 1,
      score: 0,
      verdict: 'Failed',
      baseline: `${app}-baseline-${stableHash}`,
    });
    await baselineGone(stableHash);
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    // While it judged, the baseline had a backend of its own at the canary's weight.
    expect(routeSeen).toContain(`${app}-baseline=25,${app}-canary=25,${app}-stable=50`);
    expect(await activitySummaries(workflowId)).toEqual(
      expect.arrayContaining([
        `start 1 baseline pods of stable ${stableHash}`,
        'background judgement 1: latency of canary vs baseline',
        `route baseline ${app}-baseline-${stableHash}'s share back to stable`,
        `remove baseline of stable ${stableHash}`,
        'abort: traffic back to stable',
      ]),
    );
    await recordHistoryFixture(
      'canary-background-judge-failed',
      scenario.client.workflow.getHandle(workflowId),
    );
  });

  it('promotes a canary as fast as the baseline, the baseline resized with the canary and removed at the end', async () => {
    const { revision, stableHash, workflowId } = await rollOut(STABLE_LATENCY_MILLISECONDS, [
      { setWeight: 25 },
      { pause: { duration: '5s' } },
      { setWeight: 50 },
      { pause: { duration: '10s' } },
    ]);
    await baselineReady(stableHash, 1);
    // Before its next judgement the baseline has as many pods as the canary at 50 %.
    await baselineReady(stableHash, 2);
    const healthy = await scenario.waitForStatus(
      `r${revision} Healthy`,
      (status) => status.phase === 'Healthy' && status.revision === revision,
      120_000,
    );
    expect(healthy.analysis?.background?.phase).toBe('Successful');
    expect(healthy.analysis?.background?.judge as JudgeStatus).toMatchObject({ verdict: 'Successful' });
    await baselineGone(stableHash);
    expect(routeSeen).toContain(`${app}-baseline=25,${app}-canary=25,${app}-stable=50`);
    expect(routeSeen).toContain(`${app}-baseline=50,${app}-canary=50,${app}-stable=0`);
    const summaries = await activitySummaries(workflowId);
    expect(summaries).toEqual(
      expect.arrayContaining([
        `resize baseline ${app}-baseline-${stableHash} to 2 pods`,
        `remove baseline of stable ${stableHash}`,
      ]),
    );
    // The baseline went before the canary became stable.
    expect(summaries.indexOf(`remove baseline of stable ${stableHash}`)).toBeLessThan(
      summaries.indexOf('set weight 100% on new stable'),
    );
    await recordHistoryFixture(
      'canary-background-judge-successful',
      scenario.client.workflow.getHandle(workflowId),
    );
  });
});
