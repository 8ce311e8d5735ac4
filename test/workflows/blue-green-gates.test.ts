import {
  abortSignal,
  abortUpdate,
  promoteSignal,
  promoteUpdate,
  retryUpdate,
  statusQuery,
} from '../../workflows/rollout-api';
import {
  activitySummaries,
  closedStatus,
  expectCompletedCleanly,
  failedRuns,
  GateScenario,
  historyOf,
  signalsReceived,
  timers,
  updatesAccepted,
  type RolloutHandle,
} from './gate-scenario';
import { workflowEnvironment } from './workflow-environment';

const REPLICAS = 3;

/**
 * The gates of a blue-green rollout (the pause before the switch, promote, abort, retry, a newer
 * revision, a pre-promotion analysis holding it) and their combinations, run by the real workflow
 * code on a Temporal server of its own with the cluster faked: seconds per case.
 */
describe('the blue-green workflow’s gates', () => {
  const environment = workflowEnvironment('workflow-gates-blue-green');
  const { cluster } = environment;

  function blueGreen(
    name: string,
    options: { autoPromotionSeconds?: number; prePromotionAnalysis?: string } = {},
  ): GateScenario {
    const { autoPromotionSeconds, prePromotionAnalysis } = options;
    return new GateScenario(
      environment,
      name,
      {
        blueGreen: {
          activeService: `${name}-active`,
          previewService: `${name}-preview`,
          ...(autoPromotionSeconds === undefined
            ? { autoPromotionEnabled: false }
            : { autoPromotionEnabled: true, autoPromotionSeconds }),
          ...(prePromotionAnalysis
            ? { prePromotionAnalysis: { templates: [{ templateName: prePromotionAnalysis }] } }
            : {}),
          scaleDownDelaySeconds: 1,
          abortScaleDownDelaySeconds: 1,
        },
      },
      REPLICAS,
    );
  }

  const pausedAt = (scenario: GateScenario, handle: RolloutHandle, stepIndex: number) =>
    scenario.waitForState(
      handle,
      `paused at step ${stepIndex + 1}`,
      (state) => state.phase === 'Paused' && state.currentStepIndex === stepIndex,
    );

  /** Active on the new revision: both Services on it, the previous revision's pods gone after their delay. */
  async function expectSwitched(scenario: GateScenario, handle: RolloutHandle, revision = 2) {
    const result = await handle.result();
    const hash = scenario.hash(revision);
    expect(result).toMatchObject({
      phase: 'Healthy',
      stableTemplateHash: hash,
      blueGreen: { activeSelector: hash, previewSelector: hash },
    });
    const { app, ref } = scenario;
    expect(app.selectors.get(`${ref.name}-active`)).toBe(hash);
    expect(app.selectors.get(`${ref.name}-preview`)).toBe(hash);
    expect(app.replicaSets.get(hash)).toMatchObject({ replicas: REPLICAS, available: REPLICAS });
    expect(app.replicas(scenario.hash(1))).toBeUndefined();
    expect(app.status).toMatchObject({ phase: 'Healthy', stableTemplateHash: hash });
    const history = await historyOf(handle);
    expectCompletedCleanly(history);
    expect(await failedRuns(environment, ref)).toEqual([]);
    return { result, history };
  }

  /** Degraded on an abort: the active Service never left the previous revision, the new pods gone. */
  async function expectStillOnPrevious(scenario: GateScenario, revision = 2) {
    const hash = scenario.hash(revision);
    const previous = scenario.hash(1);
    const app = await scenario.waitForCluster(
      'the new revision scaled to 0',
      (seen) => seen.replicas(hash) === 0 && seen.status.phase === 'Degraded',
    );
    expect(app.selectors.get(`${scenario.ref.name}-active`)).toBe(previous);
    expect(app.selectors.get(`${scenario.ref.name}-preview`)).toBe(previous);
    expect(app.replicaSets.get(previous)).toMatchObject({ replicas: REPLICAS, available: REPLICAS });
    expect(app.changes).not.toContain(`${scenario.ref.name}-active → ${hash}`);
    return app;
  }

  it('keeps the new revision as preview at the pause until promoted by signal, then switches the active Service to it', async () => {
    const scenario = blueGreen('pause-promote');
    const handle = await scenario.start(2);
    const paused = await pausedAt(scenario, handle, 1);
    expect(paused.message).toBe('step 2/3: paused until promoted');
    expect(paused.blueGreen).toEqual({ activeSelector: scenario.hash(1), previewSelector: scenario.hash(2) });
    expect(scenario.app.selectors.get('pause-promote-active')).toBe(scenario.hash(1));

    await handle.signal(promoteSignal, { by: 'on-call' });
    const { result, history } = await expectSwitched(scenario, handle);
    expect(result.message).toBe('r2 is active (promoted by on-call)');
    expect(signalsReceived(history)).toEqual(['promote']);
    expect(scenario.app.phases).toEqual(['Progressing', 'Paused', 'Progressing', 'Healthy']);
  });

  it('switches on its own once autoPromotionSeconds have passed by the server’s clock', async () => {
    const scenario = blueGreen('timed-pause', { autoPromotionSeconds: 1 });
    const handle = await scenario.start(2);
    const paused = await pausedAt(scenario, handle, 1);
    expect(paused.message).toBe('step 2/3: paused 1s or until promoted');
    const { history } = await expectSwitched(scenario, handle);
    expect(
      timers(history).find((timer) => timer.summary === 'pause 1s')?.firedAfterMs,
    ).toBeGreaterThanOrEqual(1_000);
    expect(signalsReceived(history)).toEqual([]);
  });

  it('skips the pre-promotion analysis and the pause on promote --full while the preview waits for its pods', async () => {
    const scenario = blueGreen('promote-full', { prePromotionAnalysis: 'smoke' });
    cluster.capReadyPods(scenario.ref, scenario.hash(2), 1);
    const handle = await scenario.start(2);
    await scenario.waitForActivity(handle, 'wait for 3 preview pods Ready');

    await handle.executeUpdate(promoteUpdate, { args: [{ full: true }] });
    cluster.capReadyPods(scenario.ref, scenario.hash(2), undefined);
    const { history } = await expectSwitched(scenario, handle);
    expect(activitySummaries(history)).not.toContain('resolve pre-promotion analysis');
    expect(scenario.app.measured.size).toBe(0);
    expect(scenario.app.phases).not.toContain('Paused');
  });

  it('holds on an inconclusive pre-promotion analysis until a promote, which is spent on the hold and never skips the pause', async () => {
    const scenario = blueGreen('hold-promote', { prePromotionAnalysis: 'smoke' });
    cluster.setVerdict(scenario.ref, 'smoke', 'Inconclusive');
    const handle = await scenario.start(2);
    const held = await pausedAt(scenario, handle, 1);
    expect(held.message).toMatch(/^step analysis inconclusive: .*; promote to go on, or abort$/);

    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    const paused = await pausedAt(scenario, handle, 2);
    expect(paused.message).toBe('step 3/4: paused until promoted');
    expect(scenario.app.selectors.get('hold-promote-active')).toBe(scenario.hash(1));
    expect(await closedStatus(environment, `${handle.workflowId}/analysis/prePromotion/a1`)).toBe(
      'CANCELLED',
    );

    await handle.signal(promoteSignal);
    await expectSwitched(scenario, handle);
  });

  it('leaves the active Service on the previous revision on an abort at the pause, and points the preview back', async () => {
    const scenario = blueGreen('abort-pause');
    const handle = await scenario.start(2);
    await pausedAt(scenario, handle, 1);

    const accepted = await handle.executeUpdate(abortUpdate, { args: [{ reason: 'bad build', by: 'qa' }] });
    expect(accepted.phase).toBe('Paused');
    await expectStillOnPrevious(scenario);
    expect(await handle.query(statusQuery)).toMatchObject({
      phase: 'Degraded',
      message: 'aborted by qa: bad build',
    });
    expect(scenario.events('RolloutAborted')).toEqual(['r2: aborted by qa: bad build']);
    await expect(handle.executeUpdate(promoteUpdate, { args: [{}] })).rejects.toMatchObject({
      cause: { message: 'nothing to promote: gates/abort-pause r2 is Degraded' },
    });
  });

  it('leaves the active Service untouched on an abort while the preview waits for its pods', async () => {
    const scenario = blueGreen('abort-step');
    cluster.capReadyPods(scenario.ref, scenario.hash(2), 0);
    const handle = await scenario.start(2);
    await scenario.waitForActivity(handle, 'wait for 3 preview pods Ready');

    await handle.signal(abortSignal, { reason: 'image pull errors' });
    await expectStillOnPrevious(scenario);
    expect(await handle.query(statusQuery)).toMatchObject({
      phase: 'Degraded',
      currentStepIndex: 0,
      message: 'aborted: image pull errors',
    });
  });

  it('leaves the active Service untouched on an abort while the pre-promotion analysis holds, and stops the analysis', async () => {
    const scenario = blueGreen('abort-hold', { prePromotionAnalysis: 'smoke' });
    cluster.setVerdict(scenario.ref, 'smoke', 'Inconclusive');
    const handle = await scenario.start(2);
    await pausedAt(scenario, handle, 1);

    await handle.executeUpdate(abortUpdate, { args: [{}] });
    await expectStillOnPrevious(scenario);
    expect(await closedStatus(environment, `${handle.workflowId}/analysis/prePromotion/a1`)).toBe(
      'CANCELLED',
    );
    expect(await failedRuns(environment, scenario.ref)).toEqual([]);
  });

  it('stands down for a newer revision at the pause, and the newer one scales its pods down once their delay is up', async () => {
    const scenario = blueGreen('supersede-pause');
    const second = await scenario.start(2);
    await pausedAt(scenario, second, 1);

    const third = await scenario.start(3, second);
    expect(await second.result()).toMatchObject({
      message: 'superseded by r3',
      scaleDowns: [{ templateHash: scenario.hash(2) }],
    });
    expectCompletedCleanly(await historyOf(second));
    const paused = await pausedAt(scenario, third, 1);
    expect(paused.blueGreen).toEqual({ activeSelector: scenario.hash(1), previewSelector: scenario.hash(3) });
    await scenario.waitForCluster('r2 scaled to 0 by r3', (app) => app.replicas(scenario.hash(2)) === 0);
    expect(scenario.app.selectors.get('supersede-pause-active')).toBe(scenario.hash(1));

    await third.signal(promoteSignal);
    await expectSwitched(scenario, third, 3);
  });

  it('stands down for a newer revision while the pre-promotion analysis holds, the active Service untouched', async () => {
    const scenario = blueGreen('supersede-hold', { prePromotionAnalysis: 'smoke' });
    cluster.setVerdict(scenario.ref, 'smoke', 'Inconclusive');
    const second = await scenario.start(2);
    await pausedAt(scenario, second, 1);

    cluster.setVerdict(scenario.ref, 'smoke', 'Successful');
    const third = await scenario.start(3, second);
    expect(await second.result()).toMatchObject({ message: 'superseded by r3' });
    expectCompletedCleanly(await historyOf(second));
    expect(['CANCELLED', 'TERMINATED']).toContain(
      await closedStatus(environment, `${second.workflowId}/analysis/prePromotion/a1`),
    );
    await pausedAt(scenario, third, 2);
    await scenario.waitForCluster('r2 scaled to 0 by r3', (app) => app.replicas(scenario.hash(2)) === 0);
    expect(scenario.app.selectors.get('supersede-hold-active')).toBe(scenario.hash(1));
    await third.executeUpdate(promoteUpdate, { args: [{}] });
    await expectSwitched(scenario, third, 3);
  });

  it('runs from the preview again on a retry after an abort, and a promote then switches', async () => {
    const scenario = blueGreen('abort-retry');
    const handle = await scenario.start(2);
    await pausedAt(scenario, handle, 1);
    await handle.executeUpdate(abortUpdate, { args: [{}] });
    await expectStillOnPrevious(scenario);

    await handle.executeUpdate(retryUpdate, { args: [{ by: 'qa' }] });
    const again = await pausedAt(scenario, handle, 1);
    expect(again.blueGreen?.previewSelector).toBe(scenario.hash(2));
    expect(scenario.app.replicaSets.get(scenario.hash(2))).toMatchObject({ replicas: 3, available: 3 });
    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    const { history } = await expectSwitched(scenario, handle);
    expect(updatesAccepted(history)).toEqual(['abort', 'retry', 'promote']);
    expect(scenario.app.phases).toEqual([
      'Progressing',
      'Paused',
      'Degraded',
      'Progressing',
      'Paused',
      'Progressing',
      'Healthy',
    ]);
  });

  it('acts once on a promote or an abort sent twice', async () => {
    const promoted = blueGreen('promote-twice');
    const first = await promoted.start(2);
    await pausedAt(promoted, first, 1);
    await first.executeUpdate(promoteUpdate, { args: [{}] });
    await expect(first.executeUpdate(promoteUpdate, { args: [{}] })).rejects.toMatchObject({
      cause: { message: expect.stringContaining('nothing to promote: gates/promote-twice r2') },
    });
    await expectSwitched(promoted, first);

    const aborted = blueGreen('abort-twice');
    const second = await aborted.start(2);
    await pausedAt(aborted, second, 1);
    await second.signal(abortSignal, { reason: 'first' });
    await second.signal(abortSignal, { reason: 'second' });
    await expectStillOnPrevious(aborted);
    expect((await second.query(statusQuery)).message).toBe('aborted: first');
    expect(aborted.events('RolloutAborted')).toEqual(['r2: aborted: first']);
  });

  // Last: what every case above left on the server.
  it('ends no run of any case above Failed, rollouts and analyses alike', async () => {
    expect(await failedRuns(environment)).toEqual([]);
  });
});
