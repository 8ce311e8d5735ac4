import type { RolloutStatus } from '../../schemas/rollout';
import {
  abTestingRollout,
  experimentRunning as experimentRunningOf,
  VARIANT_B_RULE,
  VARIANT_HEADER,
} from '../harness/ab-testing-fixtures';
import { writeFigures } from '../harness/figures';
import { isolate } from '../harness/isolation';
import { withoutWeights } from '../harness/observe';
import { annotateRollout, kubectlApply, routeHost } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { activitySummaries, recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { splitSettledAt, startTraffic, type Traffic } from '../traffic/traffic';
import type { HttpRouteRule } from '../../activities/traffic-routers/http-route';

const app = 'ab-latency';
const REPLICAS = 2;
/** A's pods answer after this long: slower than the first threshold, faster than the second. */
const A_LATENCY_MS = 300;

interface Variant {
  image: string;
  latencyMilliseconds: number;
  thresholdSeconds: number;
}

describe('an A/B experiment’s latency guardrail stops a slower B at once, and only a slower one', () => {
  const scope = isolate('ab-guardrails');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);
  const host = routeHost(namespace, app);
  const figures: Record<string, unknown> = {};
  let plain: Traffic;
  let withHeader: Traffic;
  let userRules: HttpRouteRule[];

  const rulesOf = () => scenario.see.routeRules(app);

  /** The Rollout with `image` answering after `latencyMilliseconds`, its guardrail at `thresholdSeconds`. */
  const manifest = (variant: Variant) =>
    abTestingRollout(namespace, app, {
      image: variant.image,
      env: { SAMPLE_APP_LATENCY_MILLISECONDS: variant.latencyMilliseconds },
      replicas: REPLICAS,
      maxDuration: '10m',
      analysis: {
        interval: '2s',
        // Only a guardrail can end these experiments within the test.
        minDuration: '5m',
        minSampleSize: 100,
        guardrails: {
          errorRate: { maxIncrease: 0.05 },
          latency: { thresholdSeconds: variant.thresholdSeconds, maxIncrease: 0.05 },
        },
      },
    });

  const experimentRunning = (revision: number, variant: Variant) =>
    experimentRunningOf(scenario, app, revision, manifest(variant));

  const ended = (revision: number, phase: RolloutStatus['phase']) => (status: RolloutStatus) =>
    status.revision === revision && status.phase === phase;

  beforeAll(async () => {
    await kubectlApply(
      manifest({
        image: `registry.example/${app}:1`,
        latencyMilliseconds: A_LATENCY_MS,
        thresholdSeconds: 0.5,
      }),
    );
    await scenario.waitForStatus('r1 to become Healthy', ended(1, 'Healthy'));
    userRules = await rulesOf();
    plain = startTraffic({ host, ratePerSecond: 30 });
    withHeader = startTraffic({ host, headers: { [VARIANT_HEADER]: 'b' }, ratePerSecond: 30 });
  });

  afterAll(async () => {
    await Promise.all([plain?.stop(), withHeader?.stop()]);
    writeFigures('ab-testing-guardrails', figures);
  });

  it('keeps a B as slow as A running look after look, though every request of both is over the threshold', async () => {
    // 0.25 s: every request of A and of B is slow; the guardrail compares B with A, not with the threshold.
    const { started } = await experimentRunning(2, {
      image: `registry.example/${app}:2`,
      latencyMilliseconds: A_LATENCY_MS,
      thresholdSeconds: 0.25,
    });
    await splitSettledAt(withHeader, { '2': 1 }, { tolerance: 0, window: 40 });
    const LOOKS = 8;
    const looked = await scenario.waitForStatus(
      `r2's look ${LOOKS} with over 100 requests of each`,
      (status) =>
        status.revision === 2 &&
        (status.phase !== 'Progressing' ||
          ((status.experiment?.looks ?? 0) >= LOOKS && (status.experiment?.variantB?.trials ?? 0) >= 100)),
      60_000,
    );
    figures.sameLatencyLooks = looked.experiment;
    figures.sameLatencyMs = Date.now() - started;
    expect(looked.phase).toBe('Progressing');
    expect(looked.experiment?.verdict).toBe('undecided');
    expect(looked.experiment?.guardrail).toBeUndefined();
    expect((await rulesOf()).some((rule) => rule.name === VARIANT_B_RULE)).toBe(true);
    await annotateRollout(namespace, app, 'siirto.dev/conclude=A');
    await scenario.waitForStatus('r2 to end with A kept', ended(2, 'Degraded'));
    await splitSettledAt(withHeader, { '1': 1 }, { tolerance: 0, window: 40 });
  });

  it('stops a B slower than the threshold at once, long before minDuration: the rule gone, its requests back on A', async () => {
    // 0.5 s: none of A's requests (300 ms) is slow, every one of B's (600 ms) is.
    const stable = (await scenario.see.rolloutStatus(app)).stableTemplateHash;
    const { started, hash: hashB } = await experimentRunning(3, {
      image: `registry.example/${app}:3`,
      latencyMilliseconds: 600,
      thresholdSeconds: 0.5,
    });
    const degraded = await scenario.waitForStatus(
      'r3 to be stopped by its latency guardrail',
      ended(3, 'Degraded'),
      60_000,
    );
    figures.latencyStopMs = Date.now() - started;
    figures.latencyStopExperiment = degraded.experiment;
    expect(degraded.experiment?.verdict).toBe('guardrail');
    expect(degraded.experiment?.guardrail).toBe('latency');
    expect(degraded.message).toMatch(
      /^guardrail latency: B's share of requests slower than 0\.5s is worse than A's by more than 0\.05 \(A \d+\/\d+, B \d+\/\d+; /,
    );
    expect(degraded.stableTemplateHash).toBe(stable);
    expect(withoutWeights(await rulesOf())).toBe(withoutWeights(userRules));
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    await splitSettledAt(withHeader, { '1': 1 }, { tolerance: 0, window: 40 });
    const events = await scenario.see.rolloutEvents(app);
    expect(events.map((event) => event.reason)).toContain('GuardrailBreached');
    await waitFor(
      "B's ReplicaSet scaled to 0",
      async () => (await scenario.see.replicasOf(app, hashB)) === 0,
    );
    // The history says which guardrail sent the traffic back.
    expect(await activitySummaries(degraded.workflowId ?? '')).toContain(
      'guardrail latency: all traffic to A',
    );
    await recordHistoryFixture(
      'ab-testing-latency-guardrail',
      scenario.client.workflow.getHandle(degraded.workflowId ?? ''),
    );
  });

  it('stops the experiment, naming the bounds there are, when the threshold is not a bucket bound', async () => {
    await experimentRunning(4, {
      image: `registry.example/${app}:4`,
      latencyMilliseconds: A_LATENCY_MS,
      thresholdSeconds: 0.33,
    });
    const degraded = await scenario.waitForStatus(
      'r4 to stop on its threshold',
      ended(4, 'Degraded'),
      60_000,
    );
    expect(degraded.message).toMatch(
      /spec\.strategy\.abTesting\.analysis\.guardrails\.latency\.thresholdSeconds: 0\.33 is not a bucket bound of http_request_duration_seconds for variant [AB]'s pods, whose bounds \(le\) are 0\.005, .*0\.3, 0\.35, .*2\.5; set thresholdSeconds to one of them/,
    );
    expect(withoutWeights(await rulesOf())).toBe(withoutWeights(userRules));
  });
});
