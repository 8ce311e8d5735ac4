import path from 'node:path';
import type { JudgeStatus } from '../../schemas/analysis';
import type { RolloutStatus } from '../../schemas/rollout';
import { run } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { latencyTemplate, patchRolloutSpec, routeHost } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';
import { startTraffic, type Traffic } from '../traffic/traffic';

const app = 'held';
const SIIRTO = path.join(stack.projectDir, 'cli', 'siirto');
/** Stable and canary pods at 50 %: 2 canary pods, so 2 baseline pods. */
const REPLICAS = 4;
/** 30 % slower than the stable: the latency is High, as in test/analysis/canary-judge.test.ts. */
const SLOWER = 1.3;

/** The mean latency of each pod over 4 s (three scrapes or more, one a second). */
const LATENCY_QUERY =
  'sum by (pod) (rate(http_request_duration_seconds_sum{ {{selector}} }[4s])) / ' +
  'sum by (pod) (rate(http_request_duration_seconds_count{ {{selector}} }[4s]))';
/** Each pod's share of requests answered 200: 1 on every pod of both sides, as the sample app fails none. */
const SUCCESS_QUERY =
  'sum by (pod) (rate(http_requests_total{ {{selector}}, code="200" }[4s])) / ' +
  'sum by (pod) (rate(http_requests_total{ {{selector}} }[4s]))';

/**
 * A slower canary whose successes pass: the High latency fails a metric that weighs 1 of 5, the
 * success ratio (weight 4) passes, so the score is 100 × 4 / 5 = 80, between marginal (75) and pass
 * (95): Inconclusive.
 */
const judge = {
  interval: '20s',
  step: '2s',
  thresholds: { pass: 95, marginal: 75 },
  metrics: [
    { name: 'latency', query: LATENCY_QUERY, direction: 'increase', allowedIncrease: 1.1, weight: 1 },
    { name: 'success', query: SUCCESS_QUERY, direction: 'decrease', weight: 4 },
  ],
};

/**
 * The judge's last judgement between marginal and pass holds the rollout as an inconclusive analysis
 * does: Paused with the judgement and score in the status, the route's weights where the steps put
 * them, the baseline still beside the canary, until a person promotes (the steps go on) or aborts
 * (traffic back to stable).
 */
describe('an Inconclusive judgement: the rollout held for a person to decide', () => {
  const scope = isolate('judge-hold');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app, {
    workerEnvironment: () => ({ SIIRTO_PROMETHEUS_URL: stack.prometheusUrl }),
  });
  const { apps, core } = kubeClients();
  const siirto = (...args: string[]) => run(SIIRTO, [...args, '-n', namespace]);
  let traffic: Traffic | undefined;
  let imageCounter = 2;
  /** The stable revision's latency: a promoted canary's becomes it. */
  let stableLatencyMilliseconds = 100;

  beforeAll(async () => {
    await scenario.firstRevisionHealthy([], { replicas: REPLICAS });
    await patchRolloutSpec(namespace, app, {
      template: latencyTemplate(app, `registry.example/${app}:2`, stableLatencyMilliseconds),
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

  /** Rolls out a slower canary through a judged step, and waits for the judge's hold. */
  async function heldByTheJudge(): Promise<{
    revision: number;
    stableHash: string;
    canaryLatencyMilliseconds: number;
    held: RolloutStatus;
  }> {
    const canaryLatencyMilliseconds = Math.round(stableLatencyMilliseconds * SLOWER);
    const before = await scenario.see.rolloutStatus(app);
    const revision = (before.revision ?? 0) + 1;
    const stableHash = before.stableTemplateHash ?? '';
    traffic = startTraffic({ host: routeHost(namespace, app), ratePerSecond: 60 });
    await patchRolloutSpec(namespace, app, {
      template: latencyTemplate(app, `registry.example/${app}:${++imageCounter}`, canaryLatencyMilliseconds),
      strategy: { canary: { steps: [{ setWeight: 50 }, { analysis: { judge } }, { setWeight: 100 }] } },
    });
    const held = await scenario.waitForStatus(
      `r${revision} held by the judge`,
      (status) => status.revision === revision && status.phase !== 'Progressing',
      120_000,
    );
    return { revision, stableHash, canaryLatencyMilliseconds, held };
  }

  function expectHeldInconclusive(held: RolloutStatus, revision: number, stableHash: string): void {
    expect(held).toMatchObject({ revision, phase: 'Paused', currentStepIndex: 1 });
    expect(held.message).toMatch(
      /step analysis inconclusive: judgement 1\/1: score 80 \(Inconclusive\); latency High \(failed\): .*; success Pass: /,
    );
    expect(held.message).toMatch(/; promote to go on, or abort$/);
    expect(held.weights).toEqual({ stable: 50, canary: 50 });
    expect(held.analysis?.step).toMatchObject({ revision, stepIndex: 1, phase: 'Inconclusive' });
    const judged = held.analysis?.step?.judge as JudgeStatus;
    expect(judged).toMatchObject({
      judgement: 1,
      count: 1,
      score: 80,
      verdict: 'Inconclusive',
      baseline: `${app}-baseline-${stableHash}`,
    });
    expect(judged.metrics).toEqual([
      expect.objectContaining({ name: 'latency', classification: 'High', failed: true }),
      expect.objectContaining({ name: 'success', classification: 'Pass', failed: false }),
    ]);
  }

  /**
   * The route while the judge holds at 50 %: the baseline's backend takes the canary's share from the
   * stable's, so the stable revision's half is served by the baseline's pods.
   */
  const heldWeights = () => ({ [`${app}-stable`]: 0, [`${app}-canary`]: 50, [`${app}-baseline`]: 50 });

  /** The weights on the HTTPRoute itself, not only as the status reports them. */
  async function routeWeights(): Promise<Record<string, number>> {
    return scenario.see.routeWeights(app);
  }

  async function baselineReadyPods(stableHash: string): Promise<number> {
    const replicaSet = await apps
      .readNamespacedReplicaSet({ name: `${app}-baseline-${stableHash}`, namespace })
      .catch(() => undefined);
    return replicaSet?.status?.readyReplicas ?? 0;
  }

  async function baselineGone(stableHash: string): Promise<void> {
    await waitFor(`the baseline ${app}-baseline-${stableHash} and its pods to be gone`, async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: 'siirto.dev/role=baseline' });
      const replicaSet = await apps
        .readNamespacedReplicaSet({ name: `${app}-baseline-${stableHash}`, namespace })
        .then(
          () => true,
          () => false,
        );
      return !replicaSet && pods.items.length === 0;
    });
  }

  it('holds at 50 % with the score 80 in the status, and a promote goes on to 100 %', async () => {
    const { revision, stableHash, canaryLatencyMilliseconds, held } = await heldByTheJudge();
    expectHeldInconclusive(held, revision, stableHash);
    expect(await routeWeights()).toEqual(heldWeights());
    // The judged step has not ended: the baseline stays beside the canary while the rollout is held.
    expect(await baselineReadyPods(stableHash)).toBe(2);
    const shown = await siirto('status', app);
    expect(shown.stdout).toContain(
      `judgement 1/1 against ${app}-baseline-${stableHash}: score 80 (Inconclusive)`,
    );

    // Held, not timed: a judge interval later it is still Paused at 50 %, with no further judgement.
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const still = await scenario.see.rolloutStatus(app);
    expect(still).toMatchObject({ revision, phase: 'Paused', currentStepIndex: 1 });
    expect(still.analysis?.step?.judge).toMatchObject({ judgement: 1, score: 80 });
    expect(await routeWeights()).toEqual(heldWeights());

    const promoted = await siirto('promote', app);
    expect(promoted.code).toBe(0);
    const healthy = await scenario.waitForStatus(
      `r${revision} Healthy after the promote`,
      (status) => status.phase === 'Healthy' && status.revision === revision,
    );
    expect(healthy.stableTemplateHash).not.toBe(stableHash);
    stableLatencyMilliseconds = canaryLatencyMilliseconds;
    expect(healthy.analysis?.step).toMatchObject({ revision, phase: 'Inconclusive' });
    await baselineGone(stableHash);
  });

  it('holds the same way, and an abort rolls back to stable and removes the baseline', async () => {
    const { revision, stableHash, held } = await heldByTheJudge();
    expectHeldInconclusive(held, revision, stableHash);
    expect(await routeWeights()).toEqual(heldWeights());

    const aborted = await siirto('abort', app);
    expect(aborted.code).toBe(0);
    const degraded = await scenario.waitForStatus(
      `r${revision} aborted`,
      (status) => status.phase === 'Degraded' && status.revision === revision,
    );
    expect(degraded.weights).toEqual({ stable: 100, canary: 0 });
    expect(await routeWeights()).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    expect(degraded.stableTemplateHash).toBe(stableHash);
    await baselineGone(stableHash);
  });
});
