import path from 'node:path';
import type { HttpRouteRule } from '../../activities/traffic-routers/http-route';
import type { RolloutStatus } from '../../schemas/rollout';
import {
  abTestingRollout,
  experimentRunning as experimentRunningOf,
  VARIANT_HEADER,
} from '../harness/ab-testing-fixtures';
import { run } from '../harness/commands';
import { writeFigures } from '../harness/figures';
import { isolate } from '../harness/isolation';
import { withoutWeights } from '../harness/observe';
import { annotateRollout, kubectlApply, routeHost } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { setBehaviour, splitSettledAt, startTraffic, type Traffic } from '../traffic/traffic';

const app = 'ab-shop';
const REPLICAS = 2;
const CLI_DIR = path.join(stack.projectDir, 'cli');
const CONCLUDE = 'siirto conclude ab-shop --winner B';

interface Experiment {
  image: string;
  errorRate: number;
  minDuration: string;
  maxDuration: string;
  minSampleSize?: number;
  guardrails?: Record<string, unknown>;
}

describe('an A/B experiment promotes B only when the confidence sequence says it is better', () => {
  const scope = isolate('ab-testing');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);
  const host = routeHost(namespace, app);
  const figures: Record<string, unknown> = {};
  let plain: Traffic;
  let withHeader: Traffic;
  let userRules: HttpRouteRule[];

  const rulesOf = () => scenario.see.routeRules(app);

  /** The Rollout with `image` answering 5xx at `errorRate`, run as an A/B experiment. */
  const manifest = (experiment: Experiment) =>
    abTestingRollout(namespace, app, {
      image: experiment.image,
      env: { SAMPLE_APP_ERROR_RATE: experiment.errorRate },
      replicas: REPLICAS,
      maxDuration: experiment.maxDuration,
      analysis: {
        interval: '2s',
        minDuration: experiment.minDuration,
        minSampleSize: experiment.minSampleSize ?? 100,
        ...(experiment.guardrails ? { guardrails: experiment.guardrails } : {}),
      },
    });

  const experimentRunning = (revision: number, experiment: Experiment) =>
    experimentRunningOf(scenario, app, revision, manifest(experiment));

  const ended = (revision: number, phase: RolloutStatus['phase']) => (status: RolloutStatus) =>
    status.revision === revision && status.phase === phase;

  beforeAll(async () => {
    await kubectlApply(
      manifest({ image: `registry.example/${app}:1`, errorRate: 0.3, minDuration: '0s', maxDuration: '1m' }),
    );
    await scenario.waitForStatus('r1 to become Healthy', ended(1, 'Healthy'));
    userRules = await rulesOf();
    plain = startTraffic({ host, ratePerSecond: 30 });
    withHeader = startTraffic({ host, headers: { [VARIANT_HEADER]: 'b' }, ratePerSecond: 30 });
  });

  afterAll(async () => {
    await Promise.all([plain?.stop(), withHeader?.stop()]);
    writeFigures('ab-testing', figures);
  });

  it('sends the matched requests to B alone while it runs, promotes a B with fewer errors, and scales A down', async () => {
    const hashA = (await scenario.see.rolloutStatus(app)).stableTemplateHash;
    const { started, hash: hashB } = await experimentRunning(2, {
      image: `registry.example/${app}:2`,
      errorRate: 0,
      // Long enough for the splits below to be measured while the experiment runs.
      minDuration: '20s',
      maxDuration: '2m',
    });
    expect(await scenario.see.replicasOf(app, hashB)).toBe(REPLICAS);
    // While the experiment runs: the header's requests on B only, the others on A (variantBWeight 0).
    const [header] = await Promise.all([
      splitSettledAt(withHeader, { '2': 1 }, { tolerance: 0, window: 60 }),
      splitSettledAt(plain, { '1': 1 }, { tolerance: 0, window: 60 }),
    ]);
    figures.headerRequestsOnB = header.shares['2'];
    expect((await scenario.see.rolloutStatus(app)).phase).toBe('Progressing');

    const healthy = await scenario.waitForStatus('r2 to win and become Healthy', ended(2, 'Healthy'), 90_000);
    figures.bWinsVerdictMs = Date.now() - started;
    figures.bWinsExperiment = healthy.experiment;
    expect(healthy.message).toMatch(/B wins/);
    expect(healthy.stableTemplateHash).toBe(hashB);
    expect(healthy.experiment?.verdict).toBe('B wins');
    expect(healthy.experiment?.lower).toBeGreaterThan(0);
    expect(healthy.experiment?.variantA?.trials).toBeGreaterThanOrEqual(100);
    expect(healthy.experiment?.variantB?.trials).toBeGreaterThanOrEqual(100);
    // Promoted: the route all to B through A's Service, Siirto's rule gone, A's pods scaled down.
    expect(withoutWeights(await rulesOf())).toBe(withoutWeights(userRules));
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    await splitSettledAt(plain, { '2': 1 }, { tolerance: 0, window: 60 });
    await waitFor(
      "A's ReplicaSet scaled to 0",
      async () => (await scenario.see.replicasOf(app, hashA)) === 0,
    );
    await recordHistoryFixture('ab-testing-b-wins', await handleOf(healthy));
  });

  it('ends an A/A experiment with no difference at maxDuration, the stable unchanged', async () => {
    // B as A: both answer 10% of requests with a 5xx.
    await setBehaviour(namespace, `registry.example/${app}:2`, { errorRate: 0.1 });
    const stable = (await scenario.see.rolloutStatus(app)).stableTemplateHash;
    const { started, hash: hashB } = await experimentRunning(3, {
      image: `registry.example/${app}:3`,
      errorRate: 0.1,
      minDuration: '4s',
      maxDuration: '16s',
    });
    await splitSettledAt(withHeader, { '3': 1 }, { tolerance: 0, window: 60 });
    const degraded = await scenario.waitForStatus(
      'r3 to end with no difference',
      ended(3, 'Degraded'),
      60_000,
    );
    figures.aaVerdictMs = Date.now() - started;
    figures.aaExperiment = degraded.experiment;
    expect(degraded.message).toMatch(/no difference by maxDuration 16s/);
    expect(degraded.experiment?.verdict).toBe('no difference');
    expect(degraded.experiment?.lower).toBeLessThanOrEqual(0);
    expect(degraded.experiment?.upper).toBeGreaterThanOrEqual(0);
    expect(degraded.stableTemplateHash).toBe(stable);
    expect(withoutWeights(await rulesOf())).toBe(withoutWeights(userRules));
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    // The header's requests are A's again.
    await splitSettledAt(withHeader, { '2': 1 }, { tolerance: 0, window: 60 });
    await waitFor(
      "B's ReplicaSet scaled to 0",
      async () => (await scenario.see.replicasOf(app, hashB)) === 0,
    );
    await recordHistoryFixture('ab-testing-no-difference', await handleOf(degraded));
  });

  it('stops a B that breaks the error-rate guardrail at once, long before minDuration', async () => {
    const { started } = await experimentRunning(4, {
      image: `registry.example/${app}:4`,
      errorRate: 0.7,
      minDuration: '5m',
      maxDuration: '10m',
      guardrails: { errorRate: { maxIncrease: 0.05 } },
    });
    // Well within minDuration: only the guardrail can end it this soon.
    const degraded = await scenario.waitForStatus(
      'r4 to be stopped by its guardrail',
      ended(4, 'Degraded'),
      60_000,
    );
    figures.guardrailStopMs = Date.now() - started;
    figures.guardrailExperiment = degraded.experiment;
    expect(degraded.experiment?.verdict).toBe('guardrail');
    expect(degraded.message).toMatch(/guardrail errorRate/);
    expect(withoutWeights(await rulesOf())).toBe(withoutWeights(userRules));
    await splitSettledAt(withHeader, { '2': 1 }, { tolerance: 0, window: 60 });
    const events = await scenario.see.rolloutEvents(app);
    expect(events.map((event) => event.reason)).toContain('GuardrailBreached');
  });

  it('promotes B when a person concludes with `siirto conclude --winner B`', async () => {
    const { hash } = await experimentRunning(5, {
      image: `registry.example/${app}:5`,
      errorRate: 0.1,
      minDuration: '5m',
      maxDuration: '10m',
    });
    // docs/ab-testing.md shows this command; the namespace comes from the context there.
    const result = await run('bash', ['-c', `${CONCLUDE} -n ${namespace}`], undefined, {
      PATH: `${CLI_DIR}:${process.env.PATH ?? ''}`,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/B/);
    const healthy = await scenario.waitForStatus('r5 to become Healthy', ended(5, 'Healthy'));
    expect(healthy.message).toMatch(/concluded by .*siirto CLI.*: B wins/);
    expect(healthy.stableTemplateHash).toBe(hash);
    expect(withoutWeights(await rulesOf())).toBe(withoutWeights(userRules));
    await splitSettledAt(plain, { '5': 1 }, { tolerance: 0, window: 60 });
  });

  it('keeps A and removes B when the Rollout is annotated siirto.dev/conclude=A', async () => {
    const stable = (await scenario.see.rolloutStatus(app)).stableTemplateHash;
    await experimentRunning(6, {
      image: `registry.example/${app}:6`,
      errorRate: 0,
      minDuration: '5m',
      maxDuration: '10m',
    });
    await annotateRollout(namespace, app, 'siirto.dev/conclude=A');
    const degraded = await scenario.waitForStatus('r6 to end with A kept', ended(6, 'Degraded'));
    expect(degraded.message).toMatch(/^concluded by kubectl annotation: A wins; B \(r6\) removed/);
    expect(degraded.stableTemplateHash).toBe(stable);
    expect(withoutWeights(await rulesOf())).toBe(withoutWeights(userRules));
    await splitSettledAt(withHeader, { '5': 1 }, { tolerance: 0, window: 60 });
    const events = await scenario.see.rolloutEvents(app);
    expect(events.map((event) => event.reason)).toEqual(
      expect.arrayContaining(['ConcludeRequested', 'ExperimentConcluded']),
    );
  });

  async function handleOf(status: RolloutStatus) {
    return scenario.client.workflow.getHandle(status.workflowId ?? '');
  }
});
