import path from 'node:path';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { RolloutStatus } from '../../schemas/rollout';
import { RolloutPhaseKey } from '../../workflows/search-attributes';
import { abortUpdate, promoteSignal } from '../../workflows/rollout-api';
import { run } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { analysisTemplateManifest, kubectlApply, setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { eventSummary, historyOf, recordHistoryFixture, type HistoryEvent } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'catalog';
/**
 * History events after which the rollout continues as new: low, so that a few minutes of a flapping
 * analysis does what days of it would do in production (the default is thousands).
 */
const HISTORY_LIMIT = 120;
/** Events a run may add past the limit before its quiet point lets it continue as new. */
const HISTORY_SLACK = 80;
const TIMED_PAUSE_SECONDS = 45;
const STEPS = [
  { setWeight: 50 },
  { pause: {} },
  { setWeight: 75 },
  { pause: { duration: `${TIMED_PAUSE_SECONDS}s` } },
  { setWeight: 100 },
];

interface Run {
  info: WorkflowExecutionInfo;
  events: HistoryEvent[];
}

/** Every run of the workflow ID, oldest first, with its history as `temporal workflow show` gives it. */
async function runsOf(client: Client, workflowId: string): Promise<Run[]> {
  const infos: WorkflowExecutionInfo[] = [];
  for await (const info of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) infos.push(info);
  infos.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  return Promise.all(infos.map(async (info) => ({ info, events: await historyOf(workflowId, info.runId) })));
}

/** Runs that ended by continuing as new, as Temporal lists them. */
async function continuedRuns(client: Client, workflowId: string): Promise<WorkflowExecutionInfo[]> {
  const infos: WorkflowExecutionInfo[] = [];
  const query = `WorkflowId = '${workflowId}' AND ExecutionStatus = 'ContinuedAsNew'`;
  for await (const info of client.workflow.list({ query })) infos.push(info);
  return infos;
}

describe('a rollout held for long with a flapping background analysis', () => {
  const scope = isolate('long-rollout');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app, {
    workerEnvironment: () => ({ SIIRTO_PROMETHEUS_URL: stack.prometheusUrl }),
    // The bridge reconciles often, so any mistake it makes about a continued run shows within the test.
    bridgeEnvironment: { SIIRTO_WORKFLOW_HISTORY_LIMIT: String(HISTORY_LIMIT), SIIRTO_RESYNC_SECONDS: '2' },
    canary: { analysis: { templates: [{ templateName: 'flapping' }] } },
  });

  /** Rolls out image `revision` and waits for it to pause until promoted at 50%; its workflow ID. */
  async function pausedRevision(revision: number): Promise<string> {
    await setImage(namespace, app, `registry.example/${app}:${revision}`);
    const paused = await scenario.waitForStatus(
      `r${revision} to pause until promoted at 50%`,
      (s) => s.revision === revision && s.currentStepIndex === 1 && s.phase === 'Paused',
      90_000,
    );
    return paused.workflowId!;
  }

  /** Waits until the workflow's current run is past the limit: it continues as new at once. */
  async function pastHistoryLimit(workflowId: string): Promise<void> {
    await waitFor(
      'the run to pass its history limit',
      async () => {
        const description = await scenario.client.workflow.getHandle(workflowId).describe();
        return description.status.name === 'RUNNING' && description.historyLength > HISTORY_LIMIT;
      },
      { timeoutMs: 120_000, intervalMs: 50 },
    );
  }

  it('continues as new at its pauses, keeping its state, its pause deadline and the commands sent meanwhile', async () => {
    // Successful and inconclusive by turns, every other 2 s: the analysis holds and lets go again and
    // again, each time a signal and a status write in the rollout's history.
    await kubectlApply(
      analysisTemplateManifest(namespace, 'flapping', {
        metrics: [
          {
            name: 'flapping',
            interval: '1s',
            successCondition: 'result > 0',
            failureCondition: 'result < 0',
            inconclusiveLimit: 0,
            provider: { prometheus: { query: 'floor(vector(time() / 2)) % 2' } },
          },
        ],
      }),
    );
    await scenario.firstRevisionHealthy(STEPS, { replicas: 2 });
    const workflowId = await pausedRevision(2);
    const { client, see } = scenario;

    // Held at the pause: the runs follow one another while what the user sees stays put.
    const seen: { status: RolloutStatus; route: Record<string, number> }[] = [];
    const continued = await waitFor(
      'the rollout to continue as new three times at its pause',
      async () => {
        seen.push({ status: await see.rolloutStatus(app), route: await see.routeWeights(app) });
        const runs = await continuedRuns(client, workflowId);
        return runs.length >= 3 && runs;
      },
      { timeoutMs: 240_000, intervalMs: 500 },
    );
    expect(continued.length).toBeGreaterThanOrEqual(3);
    for (const { status, route } of seen) {
      expect(status).toMatchObject({
        revision: 2,
        phase: 'Paused',
        currentStepIndex: 1,
        weights: { stable: 50, canary: 50 },
      });
      expect(route).toEqual({ [`${app}-stable`]: 50, [`${app}-canary`]: 50 });
    }
    const current = await client.workflow.getHandle(workflowId).describe();
    expect(current.status.name).toBe('RUNNING');
    expect(current.typedSearchAttributes.get(RolloutPhaseKey)).toBe('Paused');
    // Temporal gives a static summary only to a run it starts: a continued run says what it is in its
    // current details, which the Web UI shows beside it.
    const summary = `canary ${namespace}/${app} r2: 50→75→100`;
    const [firstRun] = await runsOf(client, workflowId);
    expect(
      await client.workflow
        .getHandle(workflowId, firstRun!.info.runId)
        .describe()
        .then((d) => d.staticSummary()),
    ).toBe(summary);
    const metadata = (await client.workflow.getHandle(workflowId).query('__temporal_workflow_metadata')) as {
      currentDetails?: string;
    };
    expect(metadata.currentDetails).toMatch(new RegExp(`^${summary} — run \\d+, continued as new`));
    expect(metadata.currentDetails).toContain('**Paused**');
    expect(metadata.currentDetails).toContain('▶ 2. pause until promoted');
    // The bridge took none of the continued runs for a run that ended without a verdict.
    expect((await see.rolloutStatus(app)).conditions).not.toContainEqual(
      expect.objectContaining({ reason: 'EndedWithoutVerdict' }),
    );

    // A promote sent while the run is about to continue as new (its history past the limit) is kept.
    const before = (await continuedRuns(client, workflowId)).length;
    await pastHistoryLimit(workflowId);
    await client.workflow.getHandle(workflowId).signal(promoteSignal, { by: 'on-call' });
    const timed = await scenario.waitForStatus(
      'r2 to go on to its timed pause',
      (s) => s.revision === 2 && s.currentStepIndex === 3 && s.phase === 'Paused',
      90_000,
    );
    expect(timed.weights).toEqual({ stable: 25, canary: 75 });
    // The run past its limit continues as new at the quiet point around the promote, and Temporal's
    // visibility lists that close a moment after the status moved on.
    await waitFor(
      'the run that took the promote to be listed as continued as new',
      async () => (await continuedRuns(client, workflowId)).length > before,
      { timeoutMs: 15_000, intervalMs: 250 },
    );

    await scenario.waitForStatus(
      'r2 to become Healthy',
      (s) => s.revision === 2 && s.phase === 'Healthy',
      (TIMED_PAUSE_SECONDS + 90) * 1000,
    );
    await client.workflow.getHandle(workflowId).result();

    const runs = await runsOf(client, workflowId);
    const statuses = runs.map((run) => run.info.status.name);
    expect(statuses.slice(0, -1).every((status) => status === 'CONTINUED_AS_NEW')).toBe(true);
    expect(statuses.at(-1)).toBe('COMPLETED');
    const lengths = runs.map((run) => run.events.length);
    // Each run held at a pause continued as new at its first quiet point past the limit. The run the
    // promote reached went on through a step to the timed pause, and the last one from there to the
    // end (promotion, the old stable's scale-down): no limit interrupts a step, and the background
    // analysis adds to it for as long as the canary's pods take to be Ready.
    const promoted = (events: HistoryEvent[]) =>
      events.some(
        (event) =>
          (event.workflowExecutionSignaledEventAttributes as { signalName?: string } | undefined)
            ?.signalName === 'promote',
      );
    runs.forEach(({ events }, index) => {
      const wentThroughAStep = promoted(events) || index === runs.length - 1;
      const bound = (wentThroughAStep ? 2 : 1) * (HISTORY_LIMIT + HISTORY_SLACK);
      expect(events.length).toBeLessThanOrEqual(bound);
    });

    // The timed pause ends at the deadline it was given, on the server's clock, across the runs.
    const pauseTimers = runs.flatMap((run, index) =>
      run.events
        .filter((event) => event.eventType === 'EVENT_TYPE_TIMER_STARTED')
        .filter((event) => eventSummary(event)?.startsWith('pause') ?? false)
        .map((event) => ({ index, event, run })),
    );
    const first = pauseTimers.find(({ event }) =>
      (eventSummary(event) ?? '').startsWith(`pause ${TIMED_PAUSE_SECONDS}s`),
    )!;
    const last = pauseTimers.at(-1)!;
    expect(last.index).toBeGreaterThan(first.index);
    const timerId = (event: HistoryEvent) =>
      (event.timerStartedEventAttributes as { timerId: string } | undefined)?.timerId ??
      (event.timerFiredEventAttributes as { timerId: string } | undefined)?.timerId;
    const fired = last.run.events.find(
      (event) => event.eventType === 'EVENT_TYPE_TIMER_FIRED' && timerId(event) === timerId(last.event),
    )!;
    const deadline = Date.parse(first.event.eventTime as string) + TIMED_PAUSE_SECONDS * 1000;
    const deviation = Date.parse(fired.eventTime as string) - deadline;
    console.log(
      `long rollout: ${runs.length} runs of ${lengths.join('/')} events; timed pause over ${last.index - first.index + 1} runs, ${deviation} ms from its deadline`,
    );
    expect(Math.abs(deviation)).toBeLessThanOrEqual(1_000);

    await recordHistoryFixture('canary-resumed-after-continue-as-new', client.workflow.getHandle(workflowId));
    await recordHistoryFixture(
      'canary-continued-as-new',
      client.workflow.getHandle(workflowId),
      runs[0]!.info.runId,
    );
  }, 600_000);

  it('acts on an abort sent as a run continues as new, and shows the revision once in siirto history', async () => {
    const { client, see } = scenario;
    const workflowId = await pausedRevision(3);
    await waitFor(
      'r3 to continue as new once',
      async () => (await continuedRuns(client, workflowId)).length >= 1,
      {
        timeoutMs: 120_000,
        intervalMs: 500,
      },
    );
    await pastHistoryLimit(workflowId);
    // By Update: the caller hears whether the run of the moment took it, whichever run that is.
    const answer = await client.workflow
      .getHandle(workflowId)
      .executeUpdate(abortUpdate, { args: [{ reason: 'held too long', by: 'on-call' }] });
    expect(answer.revision).toBe(3);
    const degraded = await scenario.waitForStatus(
      'r3 to be Degraded',
      (s) => s.revision === 3 && s.phase === 'Degraded',
      60_000,
    );
    expect(degraded.message).toContain('aborted by on-call: held too long');
    expect(degraded.weights).toEqual({ stable: 100, canary: 0 });
    expect(await see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    const runs = await runsOf(client, workflowId);
    expect(runs.map((one) => one.info.status.name).slice(0, -1)).toEqual(
      runs.slice(0, -1).map(() => 'CONTINUED_AS_NEW'),
    );
    expect(runs.at(-1)!.info.status.name).toBe('RUNNING');

    // One row per revision, from the start of its first run.
    const shown = await run(path.join(stack.projectDir, 'cli', 'siirto'), [
      'history',
      app,
      '-n',
      namespace,
      '-o',
      'json',
    ]);
    expect(shown.code).toBe(0);
    const past = JSON.parse(shown.stdout) as { revision: number; started: string; outcome: string }[];
    expect(past.map((row) => row.revision)).toEqual([3, 2, 1]);
    expect(past[0]!.started).toBe(runs[0]!.info.startTime.toISOString());
    expect(past[0]!.outcome).toBe('Degraded');
  }, 300_000);
});
