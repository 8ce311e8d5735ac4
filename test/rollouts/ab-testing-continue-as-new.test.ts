import type { RolloutStatus } from '../../schemas/rollout';
import { abortUpdate } from '../../workflows/rollout-api';
import { abTestingRollout, VARIANT_B_RULE, VARIANT_HEADER } from '../harness/ab-testing-fixtures';
import { writeFigures } from '../harness/figures';
import { isolate } from '../harness/isolation';
import { withoutWeights } from '../harness/observe';
import { kubectlApply, routeHost } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { splitSettledAt, startTraffic, type Traffic } from '../traffic/traffic';
import type { HttpRouteRule } from '../../activities/traffic-routers/http-route';

const app = 'ab-long';
/** The least the bridge takes: an experiment looking every 2 s passes it in about five looks. */
const HISTORY_LIMIT = 100;
const RATE_PER_SECOND = 30;
const MIN_DURATION_SECONDS = 30;

describe('an A/B experiment longer than its history limit continues as new and counts on from its start', () => {
  const scope = isolate('ab-can');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app, {
    bridgeEnvironment: { SIIRTO_WORKFLOW_HISTORY_LIMIT: String(HISTORY_LIMIT) },
  });
  const host = routeHost(namespace, app);
  const figures: Record<string, unknown> = {};
  let traffic: Traffic[] = [];
  let userRules: HttpRouteRule[];

  const manifest = (image: string, errorRate: number) =>
    abTestingRollout(namespace, app, {
      image,
      env: { SAMPLE_APP_ERROR_RATE: errorRate },
      replicas: 2,
      maxDuration: '3m',
      analysis: { interval: '2s', minDuration: `${MIN_DURATION_SECONDS}s`, minSampleSize: 100 },
    });

  const ended = (revision: number, phase: RolloutStatus['phase']) => (status: RolloutStatus) =>
    status.revision === revision && status.phase === phase;

  /** The runs of a revision's workflow, the latest first. */
  async function runsOf(workflowId: string): Promise<string[]> {
    const runs: string[] = [];
    for await (const run of scenario.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      runs.push(run.runId);
    }
    return runs;
  }

  beforeAll(async () => {
    await kubectlApply(manifest(`registry.example/${app}:1`, 0.3));
    await scenario.waitForStatus('r1 to become Healthy', ended(1, 'Healthy'));
    userRules = await scenario.see.routeRules(app);
    traffic = [
      startTraffic({ host, ratePerSecond: RATE_PER_SECOND }),
      startTraffic({ host, headers: { [VARIANT_HEADER]: 'b' }, ratePerSecond: RATE_PER_SECOND }),
    ];
  });

  afterAll(async () => {
    await Promise.all(traffic.map((load) => load.stop()));
    writeFigures('ab-testing-continue-as-new', figures);
  });

  it('reaches its verdict in a later run, with the looks and counts of every run before', async () => {
    await kubectlApply(manifest(`registry.example/${app}:2`, 0));
    await waitFor("r2's rule for B on the route", async () =>
      (await scenario.see.routeRules(app)).some((rule) => rule.name === VARIANT_B_RULE),
    );
    const started = Date.now();
    const healthy = await scenario.waitForStatus(
      'r2 to win and become Healthy',
      ended(2, 'Healthy'),
      120_000,
    );
    figures.verdictMs = Date.now() - started;
    figures.experiment = healthy.experiment;
    const workflowId = healthy.workflowId ?? '';
    const runs = await runsOf(workflowId);
    figures.runs = runs.length;
    // Every 2 s from the start to past minDuration, over more than one run.
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(healthy.message).toMatch(/B wins/);
    expect(healthy.experiment?.verdict).toBe('B wins');
    // A run takes about five looks before it continues as new (HISTORY_LIMIT): these are every run's. A
    // look comes every 2 s after the one before is counted, so fewer than minDuration / 2 in all.
    expect(healthy.experiment?.looks).toBeGreaterThanOrEqual(MIN_DURATION_SECONDS / 3);
    // Counted since the rule went on, not since the last run began: A's requests over most of minDuration.
    expect(healthy.experiment?.variantA?.trials).toBeGreaterThan(
      RATE_PER_SECOND * MIN_DURATION_SECONDS * 0.6,
    );
    expect(withoutWeights(await scenario.see.routeRules(app))).toBe(withoutWeights(userRules));
    const handle = scenario.client.workflow.getHandle(workflowId);
    // The first run, which continued as new between two looks, and the last, which took it up.
    await recordHistoryFixture('ab-testing-continued-as-new', handle, runs[runs.length - 1]);
    await recordHistoryFixture('ab-testing-continued-verdict', handle);
  });

  it('takes B’s rule off the route when a run that took the experiment up is aborted', async () => {
    // B as A: no verdict before the abort.
    await kubectlApply(manifest(`registry.example/${app}:3`, 0));
    const running = await scenario.waitForStatus(
      'r3 experimenting',
      (status) => status.revision === 3 && (status.experiment?.looks ?? 0) >= 1,
      60_000,
    );
    const workflowId = running.workflowId ?? '';
    await waitFor('r3 to continue as new', async () => (await runsOf(workflowId)).length >= 2, {
      timeoutMs: 60_000,
    });
    const handle = scenario.client.workflow.getHandle(workflowId);
    await handle.executeUpdate(abortUpdate, { args: [{ reason: 'checking the way back', by: 'on-call' }] });
    const degraded = await scenario.waitForStatus('r3 to become Degraded', ended(3, 'Degraded'), 30_000);
    expect(degraded.message).toContain('aborted by on-call: checking the way back');
    expect(degraded.stableTemplateHash).toBe(running.stableTemplateHash);
    expect(withoutWeights(await scenario.see.routeRules(app))).toBe(withoutWeights(userRules));
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    await splitSettledAt(traffic[1]!, { '2': 1 }, { tolerance: 0, window: 40 });
  });
});
