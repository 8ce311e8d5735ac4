import type { WorkflowHandle } from '@temporalio/client';
import type { HttpRouteRule } from '../../activities/traffic-routers/http-route';
import { abortUpdate, promoteUpdate } from '../../workflows/rollout-api';
import { isolate } from '../harness/isolation';
import { withoutWeights } from '../harness/observe';
import { patchRolloutSpec, routeHost, sampleContainer, setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { writeFigures } from '../harness/figures';
import { recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { sampledShareTolerance, splitSettledAt, startTraffic, type Traffic } from '../traffic/traffic';

const app = 'beta-shop';
/**
 * As in traffic.test.ts: Traefik's weighted round robin blurs a window only at its edges, for a stream
 * that has its rule's round robin to itself.
 */
const SHARE_TOLERANCE = 0.03;

const steps = [
  { setWeight: 20 },
  { setHeaderRoute: { name: 'beta', match: [{ headerName: 'x-beta', headerValue: { exact: '1' } }] } },
  { pause: {} },
];

describe('a header route step sends the requests with its header to the canary, until the rollout ends', () => {
  const scope = isolate('header-routes');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);
  const host = routeHost(namespace, app);
  const figures: Record<string, unknown> = {};
  let plain: Traffic;
  let withHeader: Traffic;
  let userRules: HttpRouteRule[];
  /** The aborted revision's run, closed once a newer revision comes. */
  let aborted: WorkflowHandle | undefined;

  const rulesOf = () => scenario.see.routeRules(app);

  const handleOf = async () =>
    scenario.client.workflow.getHandle((await scenario.see.rolloutStatus(app)).workflowId ?? '');

  /**
   * Rolls out `image` and waits until it pauses with its header route: how long after the weight of 20
   * was on the route the header rule was there too.
   */
  async function pausedWithHeaderRoute(revision: number, image: string): Promise<void> {
    await setImage(namespace, app, image);
    let weightAt: number | undefined;
    let ruleAt: number | undefined;
    await waitFor(
      `r${revision}'s header rule on the route`,
      async () => {
        const rules = await rulesOf();
        const user = rules.find((rule) => rule.name === undefined);
        const canaryWeight = user?.backendRefs?.find((ref) => ref.name === `${app}-canary`)?.weight;
        const now = Date.now();
        if (canaryWeight === 20) weightAt ??= now;
        if (rules.some((rule) => rule.name === 'siirto.beta')) ruleAt ??= now;
        return ruleAt !== undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    figures[`r${revision}StepToRuleMs`] = weightAt === undefined ? 'weight not seen' : ruleAt! - weightAt;
    await scenario.waitForStatus(
      `r${revision} paused at its third step`,
      (status) => status.revision === revision && status.phase === 'Paused' && status.currentStepIndex === 2,
    );
  }

  /** How long after `since` the route's rules were the user's again. */
  async function msUntilUserRules(since: number): Promise<number> {
    await waitFor(
      "the route's rules to be the user's again",
      async () => withoutWeights(await rulesOf()) === withoutWeights(userRules),
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    return Date.now() - since;
  }

  beforeAll(async () => {
    await scenario.firstRevisionHealthy(steps);
    userRules = await rulesOf();
    // Rates whose requests interleave unevenly, so neither load falls in step with the round robin.
    plain = startTraffic({ host, ratePerSecond: 40 });
    withHeader = startTraffic({ host, headers: { 'x-beta': '1' }, ratePerSecond: 25 });
  });

  afterAll(async () => {
    await Promise.all([plain?.stop(), withHeader?.stop()]);
    writeFigures('header-routes', figures);
  });

  it('sends every request with the header to the canary and the rest 80/20, and takes the rule away after promotion', async () => {
    await pausedWithHeaderRoute(2, `registry.example/${app}:2`);
    const header = await splitSettledAt(withHeader, { '2': 1 }, { tolerance: 0, window: 200 });
    figures.headerRequestsOnCanary = header.shares['2'];
    const others = await splitSettledAt(
      plain,
      { '1': 0.8, '2': 0.2 },
      { tolerance: SHARE_TOLERANCE, window: 200, settleWindow: 40 },
    );
    figures.otherRequestsWhilePaused = others.shares;
    expect((await rulesOf()).map((rule) => rule.name)).toEqual(['siirto.beta', undefined]);
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-canary`]: 20, [`${app}-stable`]: 80 });

    const handle = await handleOf();
    const promotedAt = Date.now();
    await handle.executeUpdate(promoteUpdate, { args: [{ by: 'header routes test' }] });
    figures.cleanUpAfterPromotionMs = await msUntilUserRules(promotedAt);
    await scenario.waitForStatus('r2 to become Healthy', (s) => s.revision === 2 && s.phase === 'Healthy');
    expect(withoutWeights(await rulesOf())).toBe(withoutWeights(userRules));
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    // Promoted, the header route's requests go to the new stable as the rest.
    await splitSettledAt(withHeader, { '2': 1 }, { tolerance: 0, window: 100 });
    await recordHistoryFixture('canary-header-route-promoted', handle);
  });

  it("takes the header rule away on an abort, so the header's requests go to stable again", async () => {
    await pausedWithHeaderRoute(3, `registry.example/${app}:3`);
    await splitSettledAt(withHeader, { '3': 1 }, { tolerance: 0, window: 100 });

    const abortedAt = Date.now();
    aborted = await handleOf();
    await aborted.executeUpdate(abortUpdate, { args: [{ reason: 'beta testers unhappy' }] });
    figures.cleanUpAfterAbortMs = await msUntilUserRules(abortedAt);
    await scenario.waitForStatus('r3 to become Degraded', (s) => s.revision === 3 && s.phase === 'Degraded');
    expect(withoutWeights(await rulesOf())).toBe(withoutWeights(userRules));
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    const back = await splitSettledAt(withHeader, { '2': 1 }, { tolerance: 0, window: 100 });
    figures.headerRequestsOnStableAfterAbort = back.shares['2'];
  });

  it('takes the header rule away when a newer revision supersedes the canary', async () => {
    await pausedWithHeaderRoute(4, `registry.example/${app}:4`);
    if (aborted) await recordHistoryFixture('canary-header-route-aborted', aborted);
    const superseded = await handleOf();
    const supersededAt = Date.now();
    // The newer revision has no header route of its own, so the rule it finds is the superseded one's.
    await patchRolloutSpec(namespace, app, {
      template: { spec: { containers: [sampleContainer(`registry.example/${app}:5`)] } },
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } },
    });
    figures.cleanUpAfterSupersedeMs = await msUntilUserRules(supersededAt);
    await scenario.waitForStatus('r5 to pause', (s) => s.revision === 5 && s.phase === 'Paused');
    expect(withoutWeights(await rulesOf())).toBe(withoutWeights(userRules));
    // Without its own rule, the header's requests share the round robin with the others.
    const shares = { '2': 0.8, '5': 0.2 };
    const split = await splitSettledAt(withHeader, shares, {
      tolerance: sampledShareTolerance(shares, 300),
      window: 300,
      settleWindow: 40,
    });
    figures.headerRequestsAfterSupersede = split.shares;
    await recordHistoryFixture('canary-header-route-superseded', superseded);
    expect(plain.responses().gatewayErrors + withHeader.responses().gatewayErrors).toBe(0);
  });
});
