import type { z } from 'zod';
import type { CanaryStepSchema } from '../../schemas/rollout';
import {
  abortSignal,
  abortUpdate,
  promoteSignal,
  promoteUpdate,
  retrySignal,
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
  recordHistoryFixture,
  signalsReceived,
  timers,
  updatesAccepted,
  type RolloutHandle,
} from './gate-scenario';
import { workflowEnvironment } from './workflow-environment';

const REPLICAS = 4;

/**
 * The gates of a canary rollout (pauses, promote, abort, retry, a newer revision, analyses holding it)
 * and every combination of them, run by the real workflow code on a Temporal server of its own, with
 * the cluster faked: seconds per case, where the end-to-end tests under test/rollouts take a minute.
 */
describe('the canary workflow’s gates', () => {
  const environment = workflowEnvironment('workflow-gates-canary');
  const { cluster } = environment;

  function canary(name: string, steps: z.input<typeof CanaryStepSchema>[], analysis?: string): GateScenario {
    return new GateScenario(
      environment,
      name,
      {
        canary: {
          stableService: `${name}-stable`,
          canaryService: `${name}-canary`,
          trafficRouting: { gatewayAPI: { httpRoute: name } },
          steps,
          ...(analysis ? { analysis: { templates: [{ templateName: analysis }] } } : {}),
          scaleDownDelaySeconds: 1,
          abortScaleDownDelaySeconds: 1,
        },
      },
      REPLICAS,
    );
  }

  /** Why the run ignored a command, as it logged each time. */
  const logged = (message: string, handle: RolloutHandle) =>
    environment.workerLog
      .filter((entry) => entry.message === message && entry.meta?.workflowId === handle.workflowId)
      .map((entry) => entry.meta?.reason);

  const pausedAt = (scenario: GateScenario, handle: RolloutHandle, stepIndex: number) =>
    scenario.waitForState(
      handle,
      `paused at step ${stepIndex + 1}`,
      (state) => state.phase === 'Paused' && state.currentStepIndex === stepIndex,
    );

  /** Healthy on the new revision: all traffic and both Services on it, the old stable's pods gone. */
  async function expectPromoted(scenario: GateScenario, handle: RolloutHandle, revision = 2) {
    const result = await handle.result();
    const hash = scenario.hash(revision);
    expect(result).toMatchObject({
      phase: 'Healthy',
      stableTemplateHash: hash,
      currentStepIndex: result.stepCount,
    });
    const { app } = scenario;
    expect(app.routeWeights).toEqual({ stable: 100, canary: 0 });
    expect(app.selectors.get(`${scenario.ref.name}-stable`)).toBe(hash);
    expect(app.replicaSets.get(hash)).toMatchObject({ replicas: REPLICAS, available: REPLICAS });
    expect(app.replicas(scenario.hash(1))).toBeUndefined();
    expect(app.status).toMatchObject({ phase: 'Healthy', stableTemplateHash: hash });
    const history = await historyOf(handle);
    expectCompletedCleanly(history);
    expect(await failedRuns(environment, scenario.ref)).toEqual([]);
    return { result, history };
  }

  /** Degraded on an abort: all traffic on stable, the canary's pods gone once their delay is up. */
  async function expectBackOnStable(scenario: GateScenario, revision = 2) {
    const hash = scenario.hash(revision);
    const app = await scenario.waitForCluster(
      'the canary scaled to 0',
      (seen) => seen.replicas(hash) === 0 && seen.status.phase === 'Degraded',
    );
    expect(app.routeWeights).toEqual({ stable: 100, canary: 0 });
    expect(app.selectors.get(`${scenario.ref.name}-stable`)).toBe(scenario.hash(1));
    expect(app.replicaSets.get(scenario.hash(1))).toMatchObject({ replicas: REPLICAS, available: REPLICAS });
    // Traffic left the canary before its pods did (if it ever had any).
    const trafficBack = app.changes.lastIndexOf('weights 100/0');
    if (app.changes.some((change) => change.startsWith('weights') && change !== 'weights 100/0')) {
      expect(trafficBack).toBeGreaterThanOrEqual(0);
      expect(trafficBack).toBeLessThan(app.changes.lastIndexOf(`${hash} replicas 0`));
    }
    return app;
  }

  it('holds at a pause until promoted by signal, then runs the steps left and makes the canary stable', async () => {
    const scenario = canary('pause-promote', [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }]);
    const handle = await scenario.start(2);
    const paused = await pausedAt(scenario, handle, 1);
    expect(paused).toMatchObject({ paused: true, weights: { stable: 75, canary: 25 } });
    expect(paused.message).toBe('step 2/3: paused until promoted');
    expect(scenario.app.routeWeights).toEqual({ stable: 75, canary: 25 });
    expect(scenario.app.replicaSets.get(scenario.hash(2))).toMatchObject({ replicas: 1, available: 1 });

    await handle.signal(promoteSignal, { by: 'on-call' });
    const { result, history } = await expectPromoted(scenario, handle);
    expect(result.message).toBe(`r2 is stable (promoted by on-call)`);
    expect(scenario.app.changes.filter((change) => change.startsWith('weights'))).toEqual([
      'weights 75/25',
      'weights 50/50',
      'weights 100/0',
    ]);
    expect(signalsReceived(history)).toEqual(['promote']);
    expect(scenario.app.phases).toEqual(['Progressing', 'Paused', 'Progressing', 'Healthy']);
  });

  it('skips every step left on promote --full by Update, no later weight ever set', async () => {
    const scenario = canary('promote-full', [
      { setWeight: 25 },
      { pause: {} },
      { setWeight: 50 },
      { pause: {} },
      { setWeight: 75 },
    ]);
    const handle = await scenario.start(2);
    await pausedAt(scenario, handle, 1);

    const accepted = await handle.executeUpdate(promoteUpdate, { args: [{ full: true, by: 'release' }] });
    expect(accepted).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    const { result, history } = await expectPromoted(scenario, handle);
    expect(result.message).toBe('r2 is stable (promoted by release)');
    expect(scenario.app.changes.filter((change) => change.startsWith('weights'))).toEqual([
      'weights 75/25',
      'weights 100/0',
    ]);
    expect(updatesAccepted(history)).toEqual(['promote']);
    expect(scenario.app.phases).not.toContain('Degraded');
  });

  it('ends a timed pause on its own after its duration by the server’s clock, saying when it ends meanwhile', async () => {
    const scenario = canary('timed-pause', [
      { setWeight: 25 },
      { pause: { duration: '1s' } },
      { setWeight: 50 },
    ]);
    const handle = await scenario.start(2);
    const paused = await pausedAt(scenario, handle, 1);
    expect(paused.message).toBe('step 2/3: paused 1s or until promoted');
    expect(Date.parse(paused.pauseEndsAt ?? '')).toBeGreaterThan(Date.now() - 1_000);

    const { history } = await expectPromoted(scenario, handle);
    const pause = timers(history).find((timer) => timer.summary === 'pause 1s');
    expect(pause?.firedAfterMs).toBeGreaterThanOrEqual(1_000);
    expect(signalsReceived(history)).toEqual([]);
  });

  it('ends a timed pause at once on a promote, with no timer left to fire', async () => {
    const scenario = canary('timed-pause-promoted', [{ setWeight: 25 }, { pause: { duration: '1h' } }]);
    const handle = await scenario.start(2);
    await pausedAt(scenario, handle, 1);
    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    const { history } = await expectPromoted(scenario, handle);
    expect(timers(history).find((timer) => timer.summary === 'pause 1h')?.firedAfterMs).toBeUndefined();
  });

  it('holds on an inconclusive step analysis until a promote, which is spent on the hold and never skips the pause after it', async () => {
    const scenario = canary('hold-promote', [
      { setWeight: 25 },
      { analysis: { templates: [{ templateName: 'latency' }] } },
      { pause: {} },
      { setWeight: 50 },
    ]);
    cluster.setVerdict(scenario.ref, 'latency', 'Inconclusive');
    const handle = await scenario.start(2);
    const held = await pausedAt(scenario, handle, 1);
    expect(held.message).toMatch(/^step analysis inconclusive: .*; promote to go on, or abort$/);

    await handle.executeUpdate(promoteUpdate, { args: [{ by: 'on-call' }] });
    // Observed Paused at the pause after the workflow task that reached it: the promote did not carry over.
    const paused = await pausedAt(scenario, handle, 2);
    expect(paused.message).toBe('step 3/4: paused until promoted');
    expect(scenario.app.routeWeights).toEqual({ stable: 75, canary: 25 });
    expect(await closedStatus(environment, `${handle.workflowId}/analysis/step-2/a1`)).toBe('CANCELLED');

    await handle.signal(promoteSignal);
    await expectPromoted(scenario, handle);
    expect(scenario.app.phases).toEqual([
      'Progressing',
      'Paused',
      'Progressing',
      'Paused',
      'Progressing',
      'Healthy',
    ]);
  });

  it('sends traffic back to stable before the canary’s pods go on an abort at a pause, and refuses a promote while Degraded', async () => {
    const scenario = canary('abort-pause', [{ setWeight: 40 }, { pause: {} }]);
    const handle = await scenario.start(2);
    await pausedAt(scenario, handle, 1);

    const accepted = await handle.executeUpdate(abortUpdate, {
      args: [{ reason: 'error budget burnt', by: 'on-call' }],
    });
    expect(accepted.phase).toBe('Paused');
    await expectBackOnStable(scenario);
    const degraded = await handle.query(statusQuery);
    expect(degraded).toMatchObject({ phase: 'Degraded', weights: { stable: 100, canary: 0 } });
    expect(degraded.message).toBe('aborted by on-call: error budget burnt');
    expect(scenario.events('RolloutAborted')).toEqual(['r2: aborted by on-call: error budget burnt']);
    expect(scenario.app.announcements).toContain('rolledback');

    await expect(handle.executeUpdate(promoteUpdate, { args: [{}] })).rejects.toMatchObject({
      cause: { message: expect.stringContaining('nothing to promote: gates/abort-pause r2 is Degraded') },
    });
    // Degraded waits for a retry or a newer revision; a newer one ends it cleanly.
    const newer = await scenario.start(3, handle);
    expect(await handle.result()).toMatchObject({ phase: 'Degraded' });
    expectCompletedCleanly(await historyOf(handle));
    await newer.terminate('the test is over');
  });

  it('moves no traffic to a canary whose pods never become Ready when aborted during its step', async () => {
    const scenario = canary('abort-step', [{ setWeight: 50 }, { pause: {} }]);
    cluster.capReadyPods(scenario.ref, scenario.hash(2), 0);
    const handle = await scenario.start(2);
    await scenario.waitForActivity(handle, 'wait for 2 canary pods Ready');

    await handle.signal(abortSignal, { reason: 'pods crash-looping' });
    await expectBackOnStable(scenario);
    expect(await handle.query(statusQuery)).toMatchObject({
      phase: 'Degraded',
      currentStepIndex: 0,
      message: 'aborted: pods crash-looping',
    });
    expect(scenario.app.changes.filter((change) => change.startsWith('weights'))).toEqual([]);
    expect(scenario.app.routeWeights).toEqual({ stable: 100, canary: 0 });
    const summaries = activitySummaries(await historyOf(handle));
    expect(summaries).toContain('wait for 2 canary pods Ready');
    expect(summaries).not.toContain('set weight 50%');
  });

  it('lets the steps go on past a background analysis’s hold on a promote, the analysis measuring again from the next step', async () => {
    const scenario = canary(
      'hold-background-promote',
      [{ setWeight: 25 }, { setWeight: 25 }, { setWeight: 25 }, { setWeight: 50 }, { pause: {} }],
      'errors',
    );
    cluster.setVerdict(scenario.ref, 'errors', 'Inconclusive');
    const handle = await scenario.start(2);
    await scenario.waitForState(
      handle,
      'held by the background analysis',
      (state) => state.phase === 'Paused' && state.message.startsWith('background analysis inconclusive'),
    );
    cluster.setVerdict(scenario.ref, 'errors', 'Successful');
    // An apiserver slow to take the stopped analysis's last status write keeps that analysis open a while.
    scenario.app.statusWriteDelayMs = 1_500;
    await handle.executeUpdate(promoteUpdate, { args: [{ by: 'on-call' }] });
    const paused = await pausedAt(scenario, handle, 4);
    scenario.app.statusWriteDelayMs = 0;
    expect(paused.weights).toEqual({ stable: 50, canary: 50 });
    expect(scenario.app.phases).not.toContain('Degraded');
    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    const { history } = await expectPromoted(scenario, handle);
    const resolved = activitySummaries(history).filter(
      (summary) => summary === 'resolve background analysis',
    );
    expect(resolved).toHaveLength(2);
    // Under an ID of its own: the stopped one may still have been closing when it started.
    const background = `${handle.workflowId}/analysis/background`;
    expect(await closedStatus(environment, `${background}/a1`)).toBe('CANCELLED');
    expect(await closedStatus(environment, `${background}/a1/s1`)).toBe('COMPLETED');
    await recordHistoryFixture('canary-promoted-past-a-background-hold', handle);
  });

  it('goes back to stable on an abort while a background analysis holds, and stops the analysis', async () => {
    const scenario = canary('abort-hold', [{ setWeight: 25 }, { setWeight: 50 }, { pause: {} }], 'errors');
    cluster.setVerdict(scenario.ref, 'errors', 'Inconclusive');
    const handle = await scenario.start(2);
    const held = await scenario.waitForState(
      handle,
      'held by the background analysis',
      (state) => state.phase === 'Paused' && state.message.startsWith('background analysis inconclusive'),
    );
    expect(held.currentStepIndex).toBeLessThan(2);

    await handle.executeUpdate(abortUpdate, { args: [{ reason: 'no data' }] });
    await expectBackOnStable(scenario);
    expect((await handle.query(statusQuery)).message).toBe('aborted: no data');
    expect(await closedStatus(environment, `${handle.workflowId}/analysis/background/a1`)).toBe('CANCELLED');
    expect(await failedRuns(environment, scenario.ref)).toEqual([]);
  });

  it('stands down for a newer revision at a pause, traffic on stable, and the newer one scales its pods down once their delay is up', async () => {
    const scenario = canary('supersede-pause', [{ setWeight: 25 }, { pause: {} }]);
    const second = await scenario.start(2);
    await pausedAt(scenario, second, 1);

    const third = await scenario.start(3, second);
    expect(await second.result()).toMatchObject({
      message: 'superseded by r3',
      weights: { stable: 100, canary: 0 },
      scaleDowns: [{ templateHash: scenario.hash(2) }],
    });
    expectCompletedCleanly(await historyOf(second));
    const paused = await pausedAt(scenario, third, 1);
    expect(paused.stableTemplateHash).toBe(scenario.hash(1));
    await scenario.waitForCluster(
      'r2’s canary scaled to 0 by r3',
      (app) => app.replicas(scenario.hash(2)) === 0,
    );
    expect(activitySummaries(await historyOf(third))).toContain(`scale ${scenario.hash(2)} to 0`);
    // Traffic never went back to r2's pods once r3 began.
    const changes = scenario.app.changes;
    expect(changes.indexOf('weights 100/0')).toBeLessThan(changes.lastIndexOf('weights 75/25'));

    await third.signal(promoteSignal);
    await expectPromoted(scenario, third, 3);
  });

  it('stands down for a newer revision while an analysis holds, traffic on stable and the analysis stopped', async () => {
    const scenario = canary(
      'supersede-hold',
      [{ setWeight: 25 }, { setWeight: 50 }, { pause: {} }],
      'errors',
    );
    cluster.setVerdict(scenario.ref, 'errors', 'Inconclusive');
    const second = await scenario.start(2);
    await scenario.waitForState(second, 'held by the background analysis', (state) =>
      state.message.startsWith('background analysis inconclusive'),
    );

    cluster.setVerdict(scenario.ref, 'errors', 'Successful');
    const third = await scenario.start(3, second);
    expect(await second.result()).toMatchObject({
      message: 'superseded by r3',
      weights: { stable: 100, canary: 0 },
    });
    expectCompletedCleanly(await historyOf(second));
    // Closed with its rollout, whose run ends without waiting for it: Terminated, or Cancelled if quick.
    expect(['CANCELLED', 'TERMINATED']).toContain(
      await closedStatus(environment, `${second.workflowId}/analysis/background/a1`),
    );
    await pausedAt(scenario, third, 2);
    await scenario.waitForCluster(
      'r2’s canary scaled to 0 by r3',
      (app) => app.replicas(scenario.hash(2)) === 0,
    );
    await third.executeUpdate(promoteUpdate, { args: [{}] });
    await expectPromoted(scenario, third, 3);
  });

  it('stands down for a newer revision that comes while a step waits for its pods, which never get traffic', async () => {
    const scenario = canary('supersede-step', [{ setWeight: 50 }, { pause: {} }]);
    cluster.capReadyPods(scenario.ref, scenario.hash(2), 0);
    const second = await scenario.start(2);
    await scenario.waitForActivity(second, 'wait for 2 canary pods Ready');

    const third = await scenario.start(3, second);
    expect(await second.result()).toMatchObject({
      message: 'superseded by r3',
      weights: { stable: 100, canary: 0 },
    });
    expectCompletedCleanly(await historyOf(second));
    const paused = await pausedAt(scenario, third, 1);
    expect(paused.weights).toEqual({ stable: 50, canary: 50 });
    await scenario.waitForCluster(
      'r2’s canary scaled to 0 by r3',
      (app) => app.replicas(scenario.hash(2)) === 0,
    );
    expect(scenario.app.changes.filter((change) => change.startsWith('weights'))).toEqual(['weights 50/50']);
  });

  it('goes back to stable on an abort while the canary fills to full size before it becomes stable', async () => {
    const scenario = canary('abort-fill', [{ setWeight: 25 }, { pause: {} }]);
    const handle = await scenario.start(2);
    await pausedAt(scenario, handle, 1);
    // Room for two canary pods only: the promotion waits for the other two.
    cluster.capReadyPods(scenario.ref, scenario.hash(2), 2);
    await handle.signal(promoteSignal);
    const filling = await scenario.waitForState(handle, 'filling the canary', (state) =>
      state.message.startsWith('promoting: scaling the canary to 4 pods'),
    );
    expect(filling.phase).toBe('Progressing');

    await handle.executeUpdate(abortUpdate, { args: [{ reason: 'no capacity' }] });
    await expectBackOnStable(scenario);
    expect(await handle.query(statusQuery)).toMatchObject({
      phase: 'Degraded',
      message: 'aborted: no capacity',
    });
    expect(scenario.app.changes).not.toContain(`abort-fill-stable → ${scenario.hash(2)}`);
  });

  it('runs the steps again from the first on a retry after an abort, and a promote then makes it Healthy', async () => {
    const scenario = canary('abort-retry', [
      { setWeight: 25 },
      { pause: {} },
      { setWeight: 50 },
      { pause: {} },
    ]);
    const handle = await scenario.start(2);
    await pausedAt(scenario, handle, 1);
    await handle.signal(promoteSignal);
    await pausedAt(scenario, handle, 3);
    await handle.signal(abortSignal, { by: 'on-call' });
    await expectBackOnStable(scenario);

    await handle.signal(retrySignal, { by: 'on-call' });
    const again = await pausedAt(scenario, handle, 1);
    expect(again.weights).toEqual({ stable: 75, canary: 25 });
    expect(scenario.app.replicaSets.get(scenario.hash(2))).toMatchObject({ replicas: 1, available: 1 });
    await handle.signal(promoteSignal);
    await pausedAt(scenario, handle, 3);
    await handle.signal(promoteSignal);
    const { history } = await expectPromoted(scenario, handle);
    expect(scenario.app.changes.filter((change) => change.startsWith('weights'))).toEqual([
      'weights 75/25',
      'weights 50/50',
      'weights 100/0',
      'weights 75/25',
      'weights 50/50',
      'weights 100/0',
    ]);
    expect(signalsReceived(history)).toEqual(['promote', 'abort', 'retry', 'promote', 'promote']);
    expect(scenario.app.phases).toEqual([
      'Progressing',
      'Paused',
      'Progressing',
      'Paused',
      'Degraded',
      'Progressing',
      'Paused',
      'Progressing',
      'Paused',
      'Progressing',
      'Healthy',
    ]);
  });

  it('accepts abort, retry and promote as Updates through to Healthy, refusing each where it has nothing to act on', async () => {
    const scenario = canary('abort-retry-updates', [{ setWeight: 25 }, { pause: {} }]);
    const handle = await scenario.start(2);
    await pausedAt(scenario, handle, 1);
    await expect(handle.executeUpdate(retryUpdate, { args: [{}] })).rejects.toMatchObject({
      cause: { message: 'nothing to retry: gates/abort-retry-updates r2 is Paused' },
    });

    await handle.executeUpdate(abortUpdate, { args: [{ by: 'on-call' }] });
    await expectBackOnStable(scenario);
    await expect(handle.executeUpdate(abortUpdate, { args: [{}] })).rejects.toMatchObject({
      cause: { message: 'nothing to abort: gates/abort-retry-updates r2 is Degraded' },
    });
    const retried = await handle.executeUpdate(retryUpdate, { args: [{ by: 'on-call' }] });
    expect(retried.phase).toBe('Degraded');
    await pausedAt(scenario, handle, 1);
    await handle.executeUpdate(promoteUpdate, { args: [{ by: 'on-call' }] });
    const { history } = await expectPromoted(scenario, handle);
    expect(updatesAccepted(history)).toEqual(['abort', 'retry', 'promote']);
  });

  it('refuses commands that come while an abort still takes traffic back, saying the abort is under way', async () => {
    const scenario = canary('abort-under-way', [{ setWeight: 25 }, { pause: {} }]);
    const handle = await scenario.start(2);
    await pausedAt(scenario, handle, 1);
    // A slow route write keeps the abort's way back to stable under way while the commands come.
    scenario.app.routeWriteDelayMs = 1_000;
    await handle.executeUpdate(abortUpdate, { args: [{ reason: 'first' }] });
    const refusal = 'gates/abort-under-way r2 is being aborted';
    await expect(handle.executeUpdate(abortUpdate, { args: [{}] })).rejects.toMatchObject({
      cause: { message: `nothing to abort: ${refusal}` },
    });
    await expect(handle.executeUpdate(promoteUpdate, { args: [{}] })).rejects.toMatchObject({
      cause: { message: `nothing to promote: ${refusal}` },
    });
    await expect(handle.executeUpdate(retryUpdate, { args: [{}] })).rejects.toMatchObject({
      cause: { message: `nothing to retry yet: ${refusal}; retry once it is Degraded` },
    });
    await handle.signal(retrySignal);
    await expectBackOnStable(scenario);
    scenario.app.routeWriteDelayMs = 0;
    expect(logged('retry signal ignored', handle)).toEqual([
      'nothing to retry: gates/abort-under-way r2 is being aborted',
    ]);
    expect((await handle.query(statusQuery)).message).toBe('aborted: first');
  });

  it('promotes one pause only when a promote is sent twice, and refuses the second Update', async () => {
    const scenario = canary('promote-twice', [
      { setWeight: 25 },
      { pause: {} },
      { setWeight: 50 },
      { pause: {} },
    ]);
    const handle = await scenario.start(2);
    await pausedAt(scenario, handle, 1);
    await Promise.all([handle.signal(promoteSignal), handle.signal(promoteSignal)]);
    const paused = await pausedAt(scenario, handle, 3);
    expect(paused.message).toBe('step 4/4: paused until promoted');

    await handle.executeUpdate(promoteUpdate, { args: [{}] });
    await expect(handle.executeUpdate(promoteUpdate, { args: [{}] })).rejects.toMatchObject({
      cause: { message: expect.stringContaining('nothing to promote: gates/promote-twice r2') },
    });
    const { history } = await expectPromoted(scenario, handle);
    expect(signalsReceived(history)).toEqual(['promote', 'promote']);
    expect(updatesAccepted(history)).toEqual(['promote']);
  });

  it('aborts once when an abort is sent twice, with the first abort’s reason', async () => {
    const scenario = canary('abort-twice', [{ setWeight: 25 }, { pause: {} }]);
    const handle = await scenario.start(2);
    await pausedAt(scenario, handle, 1);
    await handle.signal(abortSignal, { reason: 'first' });
    await handle.signal(abortSignal, { reason: 'second' });
    await expectBackOnStable(scenario);
    expect((await handle.query(statusQuery)).message).toBe('aborted: first');
    expect(scenario.events('RolloutAborted')).toEqual(['r2: aborted: first']);
    expect(scenario.app.announcements.filter((kind) => kind === 'rolledback')).toHaveLength(1);
    // Refused while the first still takes traffic back, or once it has: as the second happens to come.
    expect(logged('abort signal ignored', handle)).toEqual([
      expect.stringMatching(/^Error: nothing to abort: gates\/abort-twice r2 is (being aborted|Degraded)$/),
    ]);
  });

  // Last: what every case above left on the server.
  it('ends no run of any case above Failed, rollouts and analyses alike', async () => {
    expect(await failedRuns(environment)).toEqual([]);
  });
});
