import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { tsToMs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { podTemplateHash } from '../../schemas/pod-template-hash';
import type { z } from 'zod';
import {
  RolloutSchema,
  type PodTemplate,
  type Rollout,
  type Strategy,
  type StrategySchema,
} from '../../schemas/rollout';
import {
  statusQuery,
  type RolloutInput,
  type RolloutRef,
  type RolloutState,
} from '../../workflows/rollout-api';
import { waitFor } from '../harness/wait';
import type { FakeApp } from './fake-cluster';
import type { WorkflowEnvironment } from './workflow-environment';

export const NAMESPACE = 'gates';
/** Long enough for any wait of these tests, short enough that a stuck one fails the test, not the run. */
const STATE_TIMEOUT_MS = 15_000;

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
/** A rollout workflow of either strategy, as the bridge starts it. */
export type RolloutHandle = WorkflowHandle<(input: RolloutInput & Strategy) => Promise<RolloutState>>;
/** spec.strategy as a user writes it: defaults left out. */
export type StrategySpec = z.input<typeof StrategySchema>;

/**
 * One Rollout of a test, driven as the bridge drives it: revision 1 already stable in the fake
 * cluster, each later revision a new image whose run the bridge's own code starts, and a newer one
 * superseding the run before as the bridge does it.
 */
export class GateScenario {
  readonly ref: RolloutRef;
  readonly app: FakeApp;

  constructor(
    private readonly environment: WorkflowEnvironment,
    name: string,
    private readonly strategy: StrategySpec,
    private readonly replicas = 4,
  ) {
    this.ref = { namespace: NAMESPACE, name, uid: `uid-${name}` };
    const services = strategy.canary
      ? [strategy.canary.stableService, strategy.canary.canaryService]
      : [strategy.blueGreen?.activeService, strategy.blueGreen?.previewService];
    this.app = environment.cluster.seedStable(
      this.ref,
      this.hash(1),
      replicas,
      services.filter((service): service is string => service !== undefined),
      Boolean(strategy.canary?.trafficRouting),
    );
  }

  private template(revision: number): PodTemplate {
    const { name } = this.ref;
    return {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name, image: `registry.example/${name}:${revision}` }] },
    };
  }

  /** The pod-template hash of the revision's template: its image is `<name>:<revision>`. */
  hash(revision: number): string {
    return podTemplateHash(this.template(revision));
  }

  /** The Rollout at `revision`, its status as the fake cluster holds it. */
  private rollout(revision: number): Rollout {
    const { namespace, name, uid } = this.ref;
    return RolloutSchema.parse({
      apiVersion: 'siirto.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { namespace, name, uid },
      spec: {
        replicas: this.replicas,
        selector: { matchLabels: { app: name } },
        template: this.template(revision),
        progressDeadlineSeconds: 30,
        strategy: this.strategy,
      },
      status: { stableTemplateHash: this.app.status.stableTemplateHash },
    });
  }

  /** Starts the revision's run as the bridge does, after any run it supersedes was told to stand down. */
  async start(revision: number, supersedes?: RolloutHandle): Promise<RolloutHandle> {
    const { bridge, client } = this.environment;
    const workflowId = bridge.newWorkflowId(this.ref, revision);
    if (supersedes) await bridge.supersede(supersedes.workflowId, revision);
    await bridge.start(
      this.rollout(revision),
      { revision, templateHash: this.hash(revision), isNew: true, workflowId },
      supersedes?.workflowId,
    );
    return client.workflow.getHandle(workflowId);
  }

  /** Waits until the run's status query answers with what `wanted` looks for; returns that state. */
  waitForState(
    handle: RolloutHandle,
    description: string,
    wanted: (state: RolloutState) => boolean,
  ): Promise<RolloutState> {
    let seen: RolloutState | undefined;
    return waitFor(
      `${handle.workflowId}: ${description}`,
      async () => {
        seen = await handle.query(statusQuery);
        return wanted(seen) ? seen : undefined;
      },
      { timeoutMs: STATE_TIMEOUT_MS, intervalMs: 50 },
    ).catch((error: unknown) => {
      const last = seen && `${seen.phase} at step ${seen.currentStepIndex + 1}: ${seen.message}`;
      throw new Error(`${error instanceof Error ? error.message : String(error)}; the run was ${last}`);
    });
  }

  /** Waits until the run has scheduled an activity with this summary (a wait for pods, say). */
  async waitForActivity(handle: RolloutHandle, summary: string): Promise<void> {
    await waitFor(
      `${handle.workflowId}: ${summary}`,
      async () => activitySummaries(await historyOf(handle)).includes(summary),
      { timeoutMs: STATE_TIMEOUT_MS, intervalMs: 50 },
    );
  }

  /** Waits until the fake cluster shows what `wanted` looks for. */
  waitForCluster(description: string, wanted: (app: FakeApp) => boolean): Promise<FakeApp> {
    return waitFor(`${this.ref.name}: ${description}`, () => wanted(this.app) && this.app, {
      timeoutMs: STATE_TIMEOUT_MS,
      intervalMs: 20,
    });
  }

  /** The Rollout's Events with this reason. */
  events(reason: string): string[] {
    return this.app.events.filter((event) => event.reason === reason).map((event) => event.message);
  }
}

/** A run's history as the server recorded it. */
export async function historyOf(handle: RolloutHandle): Promise<HistoryEvent[]> {
  return (await handle.fetchHistory()).events ?? [];
}

function summaryOf(event: HistoryEvent): string | undefined {
  const summary = event.userMetadata?.summary;
  return summary ? defaultPayloadConverter.fromPayload<string>(summary) : undefined;
}

/** The summaries the Web UI shows on each activity the run scheduled, in order. */
export function activitySummaries(events: HistoryEvent[]): string[] {
  return events
    .filter((event) => event.activityTaskScheduledEventAttributes)
    .map((event) => summaryOf(event) ?? '');
}

/** Each timer the run started, with its summary and, once it fired, how long it ran by the server's clock. */
export function timers(events: HistoryEvent[]): { summary: string; firedAfterMs?: number }[] {
  return events
    .filter((event) => event.timerStartedEventAttributes)
    .map((started) => {
      const timerId = started.timerStartedEventAttributes?.timerId;
      const fired = events.find((event) => event.timerFiredEventAttributes?.timerId === timerId);
      return {
        summary: summaryOf(started) ?? '',
        ...(fired ? { firedAfterMs: tsToMs(fired.eventTime) - tsToMs(started.eventTime) } : {}),
      };
    });
}

/** The names of the signals the run received, in order. */
export function signalsReceived(events: HistoryEvent[]): string[] {
  return events
    .map((event) => event.workflowExecutionSignaledEventAttributes?.signalName)
    .filter((name): name is string => Boolean(name));
}

/** The names of the Updates the run accepted, in order: one its validator refused leaves no trace. */
export function updatesAccepted(events: HistoryEvent[]): string[] {
  return events
    .map((event) => event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name)
    .filter((name): name is string => Boolean(name));
}

/**
 * Asserts that the run completed as workflow code that never failed a task does: no workflow task
 * failed (nondeterminism, an exception in the workflow), and it ended Completed, not Failed. The
 * server's refusal to let a run complete while new events (a child's end, a signal) were arriving is
 * not a failure of the code: the worker runs the task again with them.
 */
export function expectCompletedCleanly(events: HistoryEvent[]): void {
  const taskFailures = events
    .map((event) => event.workflowTaskFailedEventAttributes?.failure?.message)
    .filter((message) => message !== undefined && message !== 'UnhandledCommand');
  expect(taskFailures).toEqual([]);
  expect(events.some((event) => event.workflowExecutionFailedEventAttributes)).toBe(false);
  expect(events.at(-1)?.workflowExecutionCompletedEventAttributes).toBeDefined();
}

/** How a run ended, once it has: `COMPLETED`, `CANCELLED`, `FAILED` and so on. */
export function closedStatus(environment: WorkflowEnvironment, workflowId: string): Promise<string> {
  return waitFor(
    `${workflowId} to close`,
    async () => {
      const { status } = await environment.client.workflow.getHandle(workflowId).describe();
      return status.name !== 'RUNNING' && status.name;
    },
    { timeoutMs: STATE_TIMEOUT_MS, intervalMs: 50 },
  );
}

/**
 * Keeps a finished run's history as a replay fixture when SIIRTO_RECORD_HISTORIES=1, as the end-to-end
 * tests do (test/harness/temporal.ts), from this file's own server.
 */
export async function recordHistoryFixture(scenario: string, handle: RolloutHandle): Promise<void> {
  if (process.env.SIIRTO_RECORD_HISTORIES !== '1') return;
  const directory = path.join(__dirname, '..', 'fixtures', 'histories');
  const recorded = {
    workflowId: handle.workflowId,
    ...JSON.parse(historyToJSON(await handle.fetchHistory())),
  };
  mkdirSync(directory, { recursive: true });
  writeFileSync(path.join(directory, `${scenario}.json`), `${JSON.stringify(recorded, null, 2)}\n`);
}

/** Every run on the server that ended Failed: of the Rollout's workflows (its analyses too), or of all. */
export async function failedRuns(environment: WorkflowEnvironment, ref?: RolloutRef): Promise<string[]> {
  const failed: string[] = [];
  for await (const run of environment.client.workflow.list({ query: 'ExecutionStatus = "Failed"' })) {
    if (!ref || run.workflowId.startsWith(`${ref.namespace}/${ref.name}/`)) failed.push(run.workflowId);
  }
  return failed;
}
