import { Client, Connection, WorkflowHandle } from '@temporalio/client';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runOrThrow } from './commands';
import { stack } from './stack';

const HISTORY_FIXTURES = path.join(stack.projectDir, 'test', 'fixtures', 'histories');

/** A Temporal client for one test file; close it in afterAll. */
export async function temporalClient(): Promise<Client> {
  return new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
}

/**
 * Terminates every running workflow a visibility query finds, so a test file that failed or timed out
 * leaves no workflow behind to retry activities against a deleted namespace. Best effort and bounded:
 * where Temporal is unreachable there is nothing this run can clean up, and a test file's cleanup
 * must not wait on it.
 */
export async function terminateRunningWorkflows(query: string, reason: string): Promise<void> {
  let connection: Connection | undefined;
  const cleanup = async (): Promise<void> => {
    connection = await Connection.connect({ address: stack.temporalAddress, connectTimeout: '2s' });
    const client = new Client({ connection });
    const terminations: Promise<unknown>[] = [];
    for await (const workflow of client.workflow.list({
      query: `ExecutionStatus = "Running" AND (${query})`,
    })) {
      // Already gone (with its terminated parent, or by an earlier cleanup whose end visibility has not
      // caught up with): that is the outcome wanted anyway.
      terminations.push(client.workflow.getHandle(workflow.workflowId, workflow.runId).terminate(reason));
    }
    await Promise.allSettled(terminations);
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, 10_000)));
  try {
    await Promise.race([cleanup(), deadline]);
  } catch {
    // Unreachable or refusing Temporal: see above.
  } finally {
    clearTimeout(timer);
    await connection?.close().catch(() => undefined);
  }
}

export interface HistoryEvent {
  eventType: string;
  [field: string]: unknown;
}

/**
 * The workflow's history as `temporal workflow show` prints it for a user: its latest run's, or that of
 * `runId` where the workflow has continued as new.
 */
export async function historyOf(workflowId: string, runId?: string): Promise<HistoryEvent[]> {
  const shown = await runOrThrow('temporal', [
    'workflow',
    'show',
    '--workflow-id',
    workflowId,
    ...(runId ? ['--run-id', runId] : []),
    '-o',
    'json',
  ]);
  return JSON.parse(shown).events as HistoryEvent[];
}

/**
 * Keeps a finished scenario's history as a replay fixture when SIIRTO_RECORD_HISTORIES=1; the replay
 * test then proves every later change of the workflow code can still run it.
 */
export async function recordHistoryFixture(
  scenario: string,
  handle: WorkflowHandle,
  /** One run of a workflow that continued as new; its latest run when absent. */
  runId?: string,
): Promise<void> {
  if (process.env.SIIRTO_RECORD_HISTORIES !== '1') return;
  const shown = await runOrThrow('temporal', [
    'workflow',
    'show',
    '--workflow-id',
    handle.workflowId,
    ...(runId ? ['--run-id', runId] : []),
    '-o',
    'json',
  ]);
  mkdirSync(HISTORY_FIXTURES, { recursive: true });
  // With its workflow ID, which the replay needs where the workflow derives child workflow IDs from it.
  const recorded = { workflowId: handle.workflowId, ...(JSON.parse(shown) as object) };
  writeFileSync(path.join(HISTORY_FIXTURES, `${scenario}.json`), `${JSON.stringify(recorded, null, 2)}\n`);
}

interface Payload {
  data?: string;
}

function decodeSummary(payload: Payload | undefined): string | undefined {
  if (!payload?.data) return undefined;
  return JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8')) as string;
}

/** The summary the Web UI shows on an event, if it has one. */
export function eventSummary(event: HistoryEvent): string | undefined {
  return decodeSummary((event.userMetadata as { summary?: Payload } | undefined)?.summary);
}

function summariesOf(events: HistoryEvent[], eventType: string): string[] {
  return events
    .filter((event) => event.eventType === eventType)
    .map(eventSummary)
    .filter((summary): summary is string => summary !== undefined);
}

/** The summaries the Web UI shows on each activity, in order. */
export async function activitySummaries(workflowId: string): Promise<string[]> {
  return summariesOf(await historyOf(workflowId), 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED');
}

/** The summaries the Web UI shows on each timer, in order. */
export async function timerSummaries(workflowId: string): Promise<string[]> {
  return summariesOf(await historyOf(workflowId), 'EVENT_TYPE_TIMER_STARTED');
}

/**
 * When Temporal's server recorded the event, in ms: a clock that neither a test's polling nor a busy
 * machine's scheduling of the test process moves.
 */
export function recordedAt(event: HistoryEvent): number {
  return Date.parse(String(event.eventTime));
}

/** An activity's completion as the server recorded it: its event's ID, and when, in ms. */
export interface ActivityCompletion {
  eventId: number;
  at: number;
}

/**
 * The completions, in history order, of the activities whose summary matches; those cancelled or
 * failed have none.
 */
export function activityCompletions(events: HistoryEvent[], summary: string | RegExp): ActivityCompletion[] {
  const scheduled = scheduledMatching(events, summary);
  return events
    .filter(
      (event) =>
        event.eventType === 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED' &&
        scheduled.has(
          (event.activityTaskCompletedEventAttributes as { scheduledEventId: string }).scheduledEventId,
        ),
    )
    .map((event) => ({ eventId: Number(event.eventId), at: recordedAt(event) }));
}

/**
 * The attempt that last started each activity whose summary matches, in history order: Temporal
 * records only an activity's last start, with its attempt number.
 */
export function activityAttempts(events: HistoryEvent[], summary: string | RegExp): number[] {
  const scheduled = scheduledMatching(events, summary);
  return events
    .filter(
      (event) =>
        event.eventType === 'EVENT_TYPE_ACTIVITY_TASK_STARTED' &&
        scheduled.has(
          (event.activityTaskStartedEventAttributes as { scheduledEventId: string }).scheduledEventId,
        ),
    )
    .map((event) => (event.activityTaskStartedEventAttributes as { attempt: number }).attempt);
}

/** The event IDs of the activities scheduled with a summary that is, or matches, `summary`. */
function scheduledMatching(events: HistoryEvent[], summary: string | RegExp): Set<unknown> {
  const matches = (text: string | undefined) =>
    text !== undefined && (typeof summary === 'string' ? text === summary : summary.test(text));
  return new Set(
    events
      .filter(
        (event) => event.eventType === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED' && matches(eventSummary(event)),
      )
      .map((event) => event.eventId),
  );
}
