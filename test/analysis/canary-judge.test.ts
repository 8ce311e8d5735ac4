import path from 'node:path';
import type { Judgement } from '../../activities/canary-judge-activities';
import type { JudgeStatus } from '../../schemas/analysis';
import type { RolloutStatus } from '../../schemas/rollout';
import { run } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { latencyTemplate, patchRolloutSpec, routeHost } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import {
  activitySummaries,
  eventSummary,
  historyOf,
  recordHistoryFixture,
  type HistoryEvent,
} from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { sampledShareTolerance, splitSettledAt, startTraffic, type Traffic } from '../traffic/traffic';

const app = 'judged';
const SIIRTO = path.join(stack.projectDir, 'cli', 'siirto');
/** Stable and canary pods at 50 %: 2 canary pods, so 2 baseline pods. */
const REPLICAS = 4;
const STABLE_LATENCY_MILLISECONDS = 100;

/**
 * The mean latency of each pod, sampled every 2 s: the sample app's histogram sum over its count. The
 * judge writes each side's pod matchers for {{selector}} and the step for {{range}}; 4 s keeps at
 * least three scrapes (one a second) in every window.
 */
const LATENCY_QUERY =
  'sum by (pod) (rate(http_request_duration_seconds_sum{ {{selector}} }[4s])) / ' +
  'sum by (pod) (rate(http_request_duration_seconds_count{ {{selector}} }[4s]))';

const judgeStep = {
  analysis: {
    judge: {
      interval: '20s',
      step: '2s',
      metrics: [{ name: 'latency', query: LATENCY_QUERY, direction: 'increase', allowedIncrease: 1.1 }],
    },
  },
};

describe('the canary judge: a canary compared with a baseline of the stable revision started beside it', () => {
  const scope = isolate('judge');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app, {
    workerEnvironment: () => ({ SIIRTO_PROMETHEUS_URL: stack.prometheusUrl }),
  });
  const { apps, core } = kubeClients();
  const siirto = (...args: string[]) => run(SIIRTO, [...args, '-n', namespace]);
  let traffic: Traffic | undefined;
  let imageCounter = 2;
  /** The stable revision's image: the baseline runs it. */
  let stableImage = `registry.example/${app}:2`;

  beforeAll(async () => {
    await scenario.firstRevisionHealthy([], { replicas: REPLICAS });
    // The stable answers in 100 ms: r2, straight to stable without steps.
    await patchRolloutSpec(namespace, app, {
      template: latencyTemplate(app, `registry.example/${app}:2`, STABLE_LATENCY_MILLISECONDS),
    });
    await scenario.waitForStatus(
      'r2 Healthy',
      (status) => status.phase === 'Healthy' && status.revision === 2,
    );
  });

  afterEach(async () => {
    await traffic?.stop();
    traffic = undefined;
  });

  async function rollOutJudged(latencyMilliseconds: number, interval = '20s', weight = 50) {
    const before = await scenario.see.rolloutStatus(app);
    traffic = startTraffic({ host: routeHost(namespace, app), ratePerSecond: 60 });
    await patchRolloutSpec(namespace, app, {
      template: latencyTemplate(app, `registry.example/${app}:${++imageCounter}`, latencyMilliseconds),
      strategy: {
        canary: {
          steps: [
            { setWeight: weight },
            { analysis: { judge: { ...judgeStep.analysis.judge, interval } } },
            { setWeight: 100 },
          ],
        },
      },
    });
    const revision = (before.revision ?? 0) + 1;
    return {
      revision,
      stableHash: before.stableTemplateHash ?? '',
      workflowId: `${namespace}/${app}/r${revision}`,
    };
  }

  /** The judgement the activity returned, as the history records it. */
  async function judgementsIn(workflowId: string): Promise<Judgement[]> {
    const events = await historyOf(workflowId);
    const scheduled = new Map<string, string | undefined>();
    for (const event of events) {
      if (event.eventType === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED')
        scheduled.set(String(event.eventId), eventSummary(event));
    }
    return events
      .filter((event) => event.eventType === 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED')
      .filter((event) => /^judge \d+\/\d+: /.test(scheduled.get(scheduledId(event)) ?? ''))
      .map((event) => {
        const attributes = event.activityTaskCompletedEventAttributes as {
          result: { payloads: { data: string }[] };
        };
        return JSON.parse(
          Buffer.from(attributes.result.payloads[0]!.data, 'base64').toString('utf8'),
        ) as Judgement;
      });
  }

  function scheduledId(event: HistoryEvent): string {
    return String(
      (event.activityTaskCompletedEventAttributes as { scheduledEventId: string }).scheduledEventId,
    );
  }

  async function baselineGone(stableHash: string): Promise<void> {
    await waitFor(
      `the baseline ReplicaSet ${app}-baseline-${stableHash} and its pods to be gone`,
      async () => {
        const replicaSet = await apps
          .readNamespacedReplicaSet({ name: `${app}-baseline-${stableHash}`, namespace })
          .then(
            () => true,
            () => false,
          );
        const pods = await core.listNamespacedPod({ namespace, labelSelector: 'siirto.dev/role=baseline' });
        return !replicaSet && pods.items.length === 0;
      },
    );
  }

  /** The route back to its two backends, the stable's weight whole again, and the baseline's Service gone. */
  async function baselineBackendGone(): Promise<void> {
    await waitFor(`the route back to two backends and Service ${app}-baseline gone`, async () => {
      const weights = await scenario.see.routeWeights(app);
      const service = await core.readNamespacedService({ name: `${app}-baseline`, namespace }).then(
        () => true,
        () => false,
      );
      return !service && Object.keys(weights).sort().join() === `${app}-canary,${app}-stable` && weights;
    });
  }

  /** What the Rollout status showed of the judge while the judged step ran: the baseline's pods, Ready. */
  async function baselineServedWhileJudged(stableHash: string, pods = 2): Promise<void> {
    const replicaSet = await waitFor(
      `the baseline ReplicaSet with ${pods} Ready pods`,
      async () => {
        const found = await apps
          .readNamespacedReplicaSet({ name: `${app}-baseline-${stableHash}`, namespace })
          .catch(() => undefined);
        return (found?.status?.readyReplicas ?? 0) === pods && found;
      },
      { timeoutMs: 60_000 },
    );
    expect(replicaSet.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Rollout', name: app, controller: true }),
    ]);
    expect(replicaSet.spec?.template?.spec?.containers[0]?.image).toBe(stableImage);
  }

  it('rolls back a canary 30 % slower than the baseline: High latency, score 0, baseline removed', async () => {
    const { revision, stableHash, workflowId } = await rollOutJudged(130);
    await baselineServedWhileJudged(stableHash);
    const degraded = await scenario.waitForStatus(
      `r${revision} rolled back by the judge`,
      (status) => status.phase === 'Degraded' && status.revision === revision,
      120_000,
    );
    expect(degraded.message).toMatch(
      /^analysis failed: judgement 1\/1: score 0 \(Failed\); latency High \(failed\): /,
    );
    expect(degraded.weights).toEqual({ stable: 100, canary: 0 });
    await baselineBackendGone();
    const judge = degraded.analysis?.step?.judge as JudgeStatus;
    expect(judge).toMatchObject({
      judgement: 1,
      count: 1,
      score: 0,
      verdict: 'Failed',
      baseline: `${app}-baseline-${stableHash}`,
    });
    expect(judge.metrics).toEqual([
      expect.objectContaining({ name: 'latency', classification: 'High', failed: true }),
    ]);
    await baselineGone(stableHash);

    const [judgement] = await judgementsIn(workflowId);
    expect(judgement).toMatchObject({ score: 0, verdict: 'Failed' });
    // Both sides' pods served requests through the gateway: samples on each side.
    expect(judgement?.samples[0]?.baseline).toBeGreaterThan(5);
    expect(judgement?.samples[0]?.canary).toBeGreaterThan(5);
    const summaries = await activitySummaries(workflowId);
    expect(summaries).toEqual(
      expect.arrayContaining([
        `start 2 baseline pods of stable ${stableHash}`,
        'judge 1/1: latency of canary vs baseline',
        `route the canary's share to baseline ${app}-baseline-${stableHash}`,
        `route baseline ${app}-baseline-${stableHash}'s share back to stable`,
        `remove baseline of stable ${stableHash}`,
        'abort: traffic back to stable',
      ]),
    );
    const shown = await siirto('status', app);
    expect(shown.stdout).toContain(`judgement 1/1 against ${app}-baseline-${stableHash}: score 0 (Failed)`);
    expect(shown.stdout).toMatch(/latency {2}High \(failed\) {2}canary /);
    await recordHistoryFixture('canary-judge-failed', scenario.client.workflow.getHandle(workflowId));
  });

  it('promotes a canary as fast as the baseline: latency Pass, score 100, baseline removed', async () => {
    const { revision, stableHash, workflowId } = await rollOutJudged(STABLE_LATENCY_MILLISECONDS);
    await baselineServedWhileJudged(stableHash);
    const judged = await scenario.waitForStatus(
      `r${revision} judged Successful`,
      (status) => status.analysis?.step?.revision === revision && status.analysis.step.phase === 'Successful',
      120_000,
    );
    const judge = judged.analysis?.step?.judge as JudgeStatus;
    expect(judge).toMatchObject({ judgement: 1, score: 100, verdict: 'Successful' });
    expect(judge.metrics).toEqual([
      expect.objectContaining({ name: 'latency', classification: 'Pass', failed: false }),
    ]);
    const shown = await siirto('status', app);
    expect(shown.stdout).toContain(`score 100 (Successful)`);
    const healthy = await scenario.waitForStatus(
      `r${revision} Healthy`,
      (status: RolloutStatus) => status.phase === 'Healthy' && status.revision === revision,
      60_000,
    );
    expect(healthy.stableTemplateHash).not.toBe(stableHash);
    stableImage = `registry.example/${app}:${imageCounter}`;
    await baselineGone(stableHash);
    await baselineBackendGone();
    const [judgement] = await judgementsIn(workflowId);
    expect(judgement).toMatchObject({ score: 100, verdict: 'Successful' });
    await recordHistoryFixture('canary-judge-successful', scenario.client.workflow.getHandle(workflowId));
  });

  /** Requests each pod has answered, by pod name, as Prometheus last scraped them from the pods themselves. */
  async function answeredByPod(): Promise<Map<string, number>> {
    const query = `sum by (pod) (http_requests_total{namespace="${namespace}"})`;
    const response = await fetch(`${stack.prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
    const body = (await response.json()) as {
      data: { result: { metric: { pod: string }; value: [number, string] }[] };
    };
    return new Map(body.data.result.map((result) => [result.metric.pod, Number(result.value[1])]));
  }

  it("gives the baseline the canary's share through the gateway: a backend of its own at the canary's weight, taken from the stable's", async () => {
    // 25 % of 4 pods: 1 canary pod, so 1 baseline pod. Sharing the stable Service, the baseline pod
    // would get 75/5 = 15 % of the requests against the canary pod's 25 %.
    const { revision, stableHash } = await rollOutJudged(STABLE_LATENCY_MILLISECONDS, '10m', 25);
    const stableVersion = stableImage.split(':')[1] ?? '';
    const canaryVersion = String(imageCounter);
    await baselineServedWhileJudged(stableHash, 1);
    const judging = await scenario.waitForStatus(
      `r${revision} judging`,
      (status) => status.analysis?.step?.revision === revision && status.analysis.step.phase === 'Running',
    );
    const canaryHash = judging.currentTemplateHash ?? '';

    expect(await scenario.see.routeWeights(app)).toEqual({
      [`${app}-stable`]: 50,
      [`${app}-canary`]: 25,
      [`${app}-baseline`]: 25,
    });
    const service = await core.readNamespacedService({ name: `${app}-baseline`, namespace });
    expect(service.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Rollout', name: app, controller: true }),
    ]);
    expect(service.spec?.selector).toMatchObject({
      'siirto.dev/pod-template-hash': `${stableHash}-baseline`,
      'siirto.dev/role': 'baseline',
    });
    // The stable Service leaves the baseline's pod out: its share is the baseline backend's alone.
    const stableSelector = await scenario.see.serviceSelector(`${app}-stable`);
    const stablePods = await core.listNamespacedPod({
      namespace,
      labelSelector: Object.entries(stableSelector)
        .map(([label, value]) => `${label}=${value}`)
        .join(','),
    });
    expect(stablePods.items.map((pod) => pod.metadata?.name)).toEqual(
      Array.from({ length: REPLICAS }, () => expect.stringMatching(new RegExp(`^${app}-${stableHash}-`))),
    );

    // Through the gateway, the stable version answers for the stable's pods and the baseline's alike.
    const window = 400;
    const expected = { [stableVersion]: 0.75, [canaryVersion]: 0.25 };
    await splitSettledAt(traffic!, expected, { tolerance: sampledShareTolerance(expected, window), window });

    // Per pod, from the pods' own counters: the baseline pod answers as many requests as the canary pod.
    const before = await answeredByPod();
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const after = await answeredByPod();
    const answered = (prefix: string) =>
      [...after]
        .filter(([pod]) => pod.startsWith(prefix))
        .map(([pod, count]) => count - (before.get(pod) ?? 0));
    const [baselineAnswered = 0] = answered(`${app}-baseline-${stableHash}-`);
    const [canaryAnswered = 0] = answered(`${app}-${canaryHash}-`);
    // 60 requests a second, a quarter each: about 300 in 20 s (measured: 300 and 300). On the stable
    // Service's share the baseline pod answered 0.6 of the canary pod's (measured: 180 against 300).
    expect(canaryAnswered).toBeGreaterThan(150);
    expect(baselineAnswered / canaryAnswered).toBeGreaterThan(0.8);
    expect(baselineAnswered / canaryAnswered).toBeLessThan(1.25);

    // The guard watching the route for weights set by someone else took the baseline's for no change.
    expect((await scenario.see.rolloutEvents(app)).map((event) => event.reason)).not.toContain(
      'TrafficWeightsRestored',
    );

    // Ended (here by an abort), the baseline's backend goes first, then its Service and pods.
    expect((await siirto('abort', app)).code).toBe(0);
    await scenario.waitForStatus(
      `r${revision} aborted`,
      (status) => status.phase === 'Degraded' && status.revision === revision,
    );
    await baselineBackendGone();
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    await baselineGone(stableHash);
  });

  it('removes the baseline when the judged step is aborted, the judge written Stopped', async () => {
    const { revision, stableHash } = await rollOutJudged(STABLE_LATENCY_MILLISECONDS, '10m');
    await baselineServedWhileJudged(stableHash);
    await scenario.waitForStatus(
      `r${revision} judging`,
      (status) => status.analysis?.step?.revision === revision && status.analysis.step.phase === 'Running',
    );
    const aborted = await siirto('abort', app);
    expect(aborted.code).toBe(0);
    const degraded = await scenario.waitForStatus(
      `r${revision} aborted`,
      (status) => status.phase === 'Degraded' && status.revision === revision,
    );
    expect(degraded.weights).toEqual({ stable: 100, canary: 0 });
    await baselineGone(stableHash);
    const stopped = await scenario.waitForStatus(
      'the judge written Stopped',
      (status) => status.analysis?.step?.phase === 'Stopped',
    );
    expect(stopped.analysis?.step?.message).toMatch(
      /^stopped by its rollout before a verdict; judging latency against /,
    );
  });

  it('removes the baseline when a newer revision supersedes the judged one', async () => {
    const { revision, stableHash, workflowId } = await rollOutJudged(STABLE_LATENCY_MILLISECONDS, '10m');
    await baselineServedWhileJudged(stableHash);
    await scenario.waitForStatus(
      `r${revision} judging`,
      (status) => status.analysis?.step?.revision === revision && status.analysis.step.phase === 'Running',
    );
    // The newer revision has no steps: straight to stable, with no baseline of its own.
    await patchRolloutSpec(namespace, app, {
      template: latencyTemplate(
        app,
        `registry.example/${app}:${++imageCounter}`,
        STABLE_LATENCY_MILLISECONDS,
      ),
      strategy: { canary: { steps: [] } },
    });
    await scenario.waitForStatus(
      `r${revision + 1} Healthy`,
      (status) => status.phase === 'Healthy' && status.revision === revision + 1,
    );
    await baselineGone(stableHash);
    expect(await activitySummaries(workflowId)).toContain(`remove baseline of stable ${stableHash}`);
  });
});
