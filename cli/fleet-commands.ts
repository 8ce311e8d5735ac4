import { readFileSync } from 'node:fs';
import { loadAllYaml } from '@kubernetes/client-node';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { FleetReleaseError, parseFleetRelease, type FleetRelease } from '../schemas/fleet-release';
import { isClusterAttributeMissing, quoteQueryValue } from '../temporal/cluster-identity';
import {
  approveUpdate,
  FLEET_TASK_QUEUE,
  fleetAbortUpdate,
  fleetPromoteUpdate,
  fleetStatusQuery,
  fleetWorkflowId,
  type FleetReleaseInput,
  type FleetReleaseState,
  type FollowedRollout,
} from '../workflows/fleet-api';
import { initialState, releaseSummary } from '../workflows/fleet/release-plan';
import { SiirtoReleaseKey } from '../workflows/search-attributes';
import { executeUpdateWhenReady } from '../temporal/update-when-ready';
import { CliError } from './cli-context';
import { fleetStatusTable, type PendingWork } from './fleet-status-table';

/**
 * `siirto fleet apply|status|approve|abort|promote`: a release file started as the fleet workflow
 * `fleet/<app>`, and commands to it as Temporal Updates, so each answers at once whether it was taken.
 * These need Temporal only: every cluster is reached through its own workers.
 */

type FleetWorkflow = (input: FleetReleaseInput) => Promise<FleetReleaseState>;

const by = () => `${process.env.USER ?? 'someone'} (siirto CLI)`;

/** The release a file holds (YAML or JSON, one document), or a usage error naming every field to fix. */
export function readReleaseFile(
  file: string,
  read: (file: string) => string = (path) => readFileSync(path, 'utf8'),
): FleetRelease {
  let documents: unknown[];
  try {
    documents = loadAllYaml(read(file)).filter((document: unknown) => document !== null);
  } catch (error) {
    throw new CliError(`${file} is not YAML: ${error instanceof Error ? error.message : String(error)}`, 2);
  }
  if (documents.length !== 1) {
    throw new CliError(
      `${file} holds ${documents.length} documents; a release file holds one FleetRelease`,
      2,
    );
  }
  try {
    return parseFleetRelease(documents[0]);
  } catch (error) {
    if (error instanceof FleetReleaseError) throw new CliError(`${file}: ${error.message}`, 2);
    throw error;
  }
}

/**
 * Starts the release. Temporal itself refuses a second release of an app while one runs (the workflow
 * ID is the app's): the refusal names the running release and how to end it.
 */
export async function startRelease(
  client: Client,
  release: FleetRelease,
  options: {
    followIntervalMilliseconds?: number;
    by?: string;
    /** The fleet's queue (SIIRTO_FLEET_TASK_QUEUE), which its clusters' workers poll. */
    taskQueue?: string;
  } = {},
): Promise<WorkflowHandle<FleetWorkflow>> {
  const { app } = release.spec;
  const workflowId = fleetWorkflowId(app);
  const name = release.metadata.name;
  try {
    return await client.workflow.start<FleetWorkflow>('fleetRelease', {
      workflowId,
      taskQueue: options.taskQueue ?? FLEET_TASK_QUEUE,
      args: [
        {
          release: name,
          spec: release.spec,
          by: options.by ?? by(),
          followIntervalMilliseconds: options.followIntervalMilliseconds,
        },
      ],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      typedSearchAttributes: [{ key: SiirtoReleaseKey, value: `${app}/${name}` }],
      staticSummary: releaseSummary(name, initialState(name, release.spec)),
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      const running = await client.workflow
        .getHandle(workflowId)
        .describe()
        .catch(() => undefined);
      const runningRelease = running?.typedSearchAttributes.get(SiirtoReleaseKey) ?? workflowId;
      throw new CliError(
        `release ${runningRelease} of app ${app} is still running (${workflowId}): one release of an app runs at a time; ` +
          `wait for it (\`siirto fleet status ${app}\`) or end it with \`siirto fleet abort ${app}\``,
      );
    }
    if (
      isClusterAttributeMissing(error) ||
      (error instanceof Error && error.message.includes(SiirtoReleaseKey.name))
    ) {
      throw new CliError(
        `Temporal namespace ${client.options.namespace} has no search attribute ${SiirtoReleaseKey.name}: register it once with ` +
          `\`temporal operator search-attribute create --namespace ${client.options.namespace} --name ${SiirtoReleaseKey.name} --type Keyword\``,
      );
    }
    throw error;
  }
}

export async function fleetApplyCommand(client: Client, file: string, taskQueue: string): Promise<string> {
  const release = readReleaseFile(file);
  const handle = await startRelease(client, release, { taskQueue });
  return (
    `release ${release.spec.app}/${release.metadata.name} started as ${handle.workflowId}: ` +
    `${release.spec.waves.length} waves; follow it with \`siirto fleet status ${release.spec.app} --watch\``
  );
}

/** The release's state and what its pending activities say now: one snapshot of `fleet status`. */
export async function releaseSnapshot(
  client: Client,
  app: string,
): Promise<{ state: FleetReleaseState; pending: PendingWork[]; running: boolean }> {
  const handle = client.workflow.getHandle<FleetWorkflow>(fleetWorkflowId(app));
  try {
    const [state, description] = await Promise.all([handle.query(fleetStatusQuery), handle.describe()]);
    const pending = (description.raw.pendingActivities ?? []).map((activity) => pendingWork(activity));
    return { state, pending, running: description.status.name === 'RUNNING' };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) {
      throw new CliError(
        `no release of app ${app} found (${fleetWorkflowId(app)}); start one with \`siirto fleet apply FILE\``,
        4,
      );
    }
    throw error;
  }
}

function pendingWork(activity: temporal.api.workflow.v1.IPendingActivityInfo): PendingWork {
  const details = activity.heartbeatDetails?.payloads?.[0];
  const scheduled = activity.scheduledTime ? tsToMs(activity.scheduledTime) : undefined;
  return {
    activityId: activity.activityId ?? '',
    followed: details ? defaultPayloadConverter.fromPayload<FollowedRollout>(details) : undefined,
    attempt: activity.attempt ?? 1,
    lastFailure: activity.lastFailure?.message ?? undefined,
    waitingForWorker:
      activity.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED,
    since: scheduled === undefined ? undefined : new Date(scheduled).toISOString(),
  };
}

/**
 * `siirto fleet status APP [--watch]`: the table of clusters and waves; with --watch it is redrawn
 * every two seconds until the release ends (exit 0 Healthy, 1 otherwise) or the timeout (exit 2).
 */
export async function fleetStatusCommand(
  client: Client,
  app: string,
  options: {
    watch?: boolean;
    timeoutSeconds?: number;
    write: (text: string) => void;
    output: 'table' | 'json' | 'yaml';
  },
): Promise<number> {
  const deadline =
    options.timeoutSeconds === undefined ? Infinity : Date.now() + options.timeoutSeconds * 1000;
  for (;;) {
    const snapshot = await releaseSnapshot(client, app);
    const text =
      options.output === 'table'
        ? fleetStatusTable(snapshot.state, snapshot.pending)
        : JSON.stringify(snapshot, null, 2);
    // Redrawn in place on a terminal, as `siirto status --watch` does.
    options.write(options.watch && process.stdout.isTTY ? `\x1b[H\x1b[2J${text}\n` : `${text}\n`);
    if (!options.watch) return 0;
    if (!snapshot.running) return snapshot.state.phase === 'Healthy' ? 0 : 1;
    if (Date.now() > deadline) return 2;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
}

async function update<T>(action: string, app: string, send: (updateId: string) => Promise<T>): Promise<T> {
  try {
    // The release's workflow takes no Update while a retry of its last task is pending.
    return await executeUpdateWhenReady(send);
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError)
      throw new CliError(`${action} refused: ${error.cause?.message ?? error.message}`);
    if (error instanceof WorkflowNotFoundError)
      throw new CliError(`${action} refused: no release of app ${app} is running`, 4);
    throw error;
  }
}

export async function fleetApproveCommand(client: Client, app: string, wave?: number): Promise<string> {
  const handle = client.workflow.getHandle<FleetWorkflow>(fleetWorkflowId(app));
  const state = await update('approve', app, (updateId) =>
    handle.executeUpdate(approveUpdate, { args: [{ wave, by: by() }], updateId }),
  );
  return `approved: ${state.message}`;
}

export async function fleetAbortCommand(client: Client, app: string, reason?: string): Promise<string> {
  const handle = client.workflow.getHandle<FleetWorkflow>(fleetWorkflowId(app));
  await update('abort', app, (updateId) =>
    handle.executeUpdate(fleetAbortUpdate, { args: [{ reason, by: by() }], updateId }),
  );
  return `abort accepted by ${handle.workflowId}: revisions in flight are aborted; see \`siirto fleet status ${app}\``;
}

export async function fleetPromoteCommand(
  client: Client,
  app: string,
  options: { cluster?: string; full?: boolean },
): Promise<string> {
  const handle = client.workflow.getHandle<FleetWorkflow>(fleetWorkflowId(app));
  const result = await update('promote', app, (updateId) =>
    handle.executeUpdate(fleetPromoteUpdate, {
      args: [{ cluster: options.cluster, full: options.full, by: by() }],
      updateId,
    }),
  );
  return [...result.promoted, ...result.refused].join('\n');
}

/** The visibility query for every run of one release (or, given only the app, of all its releases). */
export function releaseQuery(app: string, release?: string): string {
  return release === undefined
    ? `${SiirtoReleaseKey.name} STARTS_WITH ${quoteQueryValue(`${app}/`)}`
    : `${SiirtoReleaseKey.name} = ${quoteQueryValue(`${app}/${release}`)}`;
}
