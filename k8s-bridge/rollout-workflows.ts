import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionInfo,
  type WorkflowExecutionStatusName,
} from '@temporalio/client';
import type { Rollout, Strategy } from '../schemas/rollout';
import {
  resizeSignal,
  rolloutWorkflowId,
  supersedeSignal,
  type RolloutInput,
  type RolloutState,
} from '../workflows/rollout-api';
import { chosenStrategy } from '../workflows/strategies/registry';
import {
  ROLLOUT_IMAGES_MEMO,
  ROLLOUT_UID_MEMO,
  RolloutNameKey,
  RolloutNamespaceKey,
  RolloutPhaseKey,
  RolloutRevisionKey,
  RolloutStrategyKey,
  SiirtoClusterKey,
  SiirtoReleaseKey,
} from '../workflows/search-attributes';
import { isReleaseAttributeMissing } from '../temporal/release-attribute';
import { fleetReleaseOfRevision } from './fleet-release-of-revision';
import {
  clusterRunOf,
  clusterRunsCondition,
  isClusterRun,
  quoteQueryValue as quote,
  type ClusterRun,
} from '../temporal/cluster-identity';
import type { RevisionDecision } from './revisions';
import type { RolloutKey } from './rollout-status';
import type { RunOutcome } from './runs-without-verdict';
import { workflowDetails, workflowSummary } from './workflow-summary';

/**
 * The bridge's side of rollout workflows: starting a revision's run exactly once, finding a
 * Rollout's runs, and telling old ones to stand down or stop. Every call is safe to repeat, since a
 * reconcile may run again after a crash, a resync or on a second bridge.
 */

/** A rollout workflow of any strategy: the registry (workflows/strategies/registry.ts) names its type. */
type RolloutWorkflow = (input: RolloutInput & Strategy) => Promise<RolloutState>;

/** The images of the pod template's containers, in order; the first names the revision's artifact. */
function containerImages(rollout: Rollout): string[] {
  const containers = rollout.spec.template.spec.containers;
  if (!Array.isArray(containers)) return [];
  return containers.flatMap((container: unknown) => {
    const image = (container as { image?: unknown } | null)?.image;
    return typeof image === 'string' ? [image] : [];
  });
}

export interface RolloutWorkflowRun extends ClusterRun {
  workflowId: string;
  revision: number;
}

export interface OpenRunsOfRollout {
  key: RolloutKey;
  runs: RolloutWorkflowRun[];
}

export class RolloutWorkflows {
  /** Runs told to supersede or cancel by this process, so resyncs do not repeat it. */
  private readonly alreadyTold = new Set<string>();

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    /** Told of each run this bridge starts, for its metrics. */
    private readonly onStarted: (workflowId: string) => void = () => undefined,
    /** SIIRTO_CLUSTER_ID: this cluster's runs carry it; those of other clusters are never touched. */
    private readonly clusterId?: string,
    /** SIIRTO_WORKFLOW_HISTORY_LIMIT: when a run and its analyses continue as new, if not their default. */
    private readonly historyLimit?: number,
  ) {}

  /** The ID a new revision's run gets; a revision already recorded keeps the one its status names. */
  newWorkflowId({ namespace, name }: RolloutKey, revision: number): string {
    return rolloutWorkflowId(namespace, name, revision, this.clusterId);
  }

  /**
   * Starts a revision's run unless it has one: a running one is kept (USE_EXISTING), a
   * closed one is never run again (REJECT_DUPLICATE). `again` is a retry of a run that ended without
   * a verdict: Temporal then allows a new run under the ID only if the last one did not complete
   * (ALLOW_DUPLICATE_FAILED_ONLY), so a revision with a verdict still never runs twice.
   * Returns whether the run is open or already closed.
   */
  async start(
    rollout: Rollout,
    decision: RevisionDecision,
    supersedes?: string,
    again = false,
  ): Promise<'open' | 'closed'> {
    const { namespace, name, uid } = rollout.metadata;
    const strategy = chosenStrategy(rollout.spec.strategy);
    if (!strategy || !uid) throw new Error(`Rollout ${namespace}/${name} has no strategy or no uid`);
    const input: RolloutInput & Strategy = {
      rollout: { namespace, name, uid },
      revision: decision.revision,
      templateHash: decision.templateHash,
      stableTemplateHash: rollout.status?.stableTemplateHash,
      replicas: rollout.spec.replicas,
      ...strategy.input,
      progressDeadlineSeconds: rollout.spec.progressDeadlineSeconds,
      supersedes,
      images: containerImages(rollout),
      ...(this.historyLimit
        ? { historyLimit: this.historyLimit, analysisHistoryLimit: this.historyLimit }
        : {}),
    };
    const plan = {
      namespace,
      name,
      ...decision,
      stableTemplateHash: input.stableTemplateHash,
      ...strategy.input,
    };
    // A revision a fleet release made carries the release too: one query finds it in every cluster.
    const release = fleetReleaseOfRevision(rollout, decision.templateHash);
    const startRun = (withRelease: boolean) =>
      this.client.workflow.start<RolloutWorkflow>(strategy.workflowType, {
        workflowId: decision.workflowId,
        taskQueue: this.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: again ? 'ALLOW_DUPLICATE_FAILED_ONLY' : 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: RolloutNamespaceKey, value: namespace },
          { key: RolloutNameKey, value: name },
          { key: RolloutRevisionKey, value: String(decision.revision) },
          { key: RolloutPhaseKey, value: 'Progressing' },
          { key: RolloutStrategyKey, value: strategy.name },
          ...(this.clusterId ? [{ key: SiirtoClusterKey, value: this.clusterId }] : []),
          ...(withRelease && release ? [{ key: SiirtoReleaseKey, value: release }] : []),
        ],
        memo: { [ROLLOUT_UID_MEMO]: uid, [ROLLOUT_IMAGES_MEMO]: input.images },
        staticSummary: workflowSummary(plan),
        staticDetails: workflowDetails(plan),
      });
    try {
      try {
        await startRun(true);
      } catch (error) {
        // A namespace without SiirtoRelease still runs the revision; only the search finds less.
        if (release === undefined || !isReleaseAttributeMissing(error)) throw error;
        await startRun(false);
      }
      this.onStarted(decision.workflowId);
      return 'open';
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) return 'closed';
      throw error;
    }
  }

  /**
   * This cluster's open runs of every Rollout that had this name, whichever object (uid) they were
   * for; of runs started before the cluster had an ID, those of the Rollout with `uid`.
   */
  async openRuns(rollout: RolloutKey, uid?: string): Promise<RolloutWorkflowRun[]> {
    const condition = clusterRunsCondition(this.clusterId, { withoutCluster: uid !== undefined });
    const runs = await this.list(`${rolloutQuery(rollout)} AND ExecutionStatus = 'Running'${condition}`);
    return runs.filter((run) => isClusterRun(run, this.clusterId, uid));
  }

  /**
   * The highest revision any of this cluster's runs of this name reached, open or closed, that
   * Temporal still remembers: the IDs a new Rollout of the name must not reuse.
   */
  async highestRevision(rollout: RolloutKey): Promise<number> {
    const condition = clusterRunsCondition(this.clusterId, { withoutCluster: false });
    const runs = await this.list(`${rolloutQuery(rollout)}${condition}`);
    return Math.max(0, ...runs.filter((run) => isClusterRun(run, this.clusterId)).map((run) => run.revision));
  }

  /**
   * This cluster's open runs on this bridge's task queue, by Rollout (`namespace/name`): one list for
   * a whole resync, which finds a Rollout deleted while no bridge watched and tells which Rollouts are
   * settled (settled-rollouts.ts) without asking Temporal about each.
   */
  async openRunsByRollout(namespace?: string): Promise<Map<string, OpenRunsOfRollout>> {
    const scope = namespace ? ` AND ${RolloutNamespaceKey.name} = ${quote(namespace)}` : '';
    const condition = clusterRunsCondition(this.clusterId, { withoutCluster: false });
    const query = `TaskQueue = ${quote(this.taskQueue)} AND ExecutionStatus = 'Running'${scope}${condition}`;
    const byRollout = new Map<string, OpenRunsOfRollout>();
    for await (const info of this.client.workflow.list({ query })) {
      // Runs from before this cluster had an ID are found through their Rollouts' status instead.
      if (!isClusterRun(clusterRunOf(info), this.clusterId)) continue;
      const namespaceValue = info.typedSearchAttributes.get(RolloutNamespaceKey);
      const nameValue = info.typedSearchAttributes.get(RolloutNameKey);
      if (!namespaceValue || !nameValue) continue;
      const text = `${namespaceValue}/${nameValue}`;
      let entry = byRollout.get(text);
      if (!entry) {
        entry = { key: { namespace: namespaceValue, name: nameValue }, runs: [] };
        byRollout.set(text, entry);
      }
      entry.runs.push(runOf(info));
    }
    return byRollout;
  }

  /** A run as it stands, or undefined when Temporal has no run with this ID. */
  async describe(
    workflowId: string,
  ): Promise<(RolloutWorkflowRun & { status: WorkflowExecutionStatusName }) | undefined> {
    try {
      const description = await this.client.workflow.getHandle(workflowId).describe();
      return { ...runOf(description), status: description.status.name };
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    }
  }

  /**
   * What became of a revision's run: running, completed with its final state, ended otherwise (how,
   * with the reason an operator gave or the failure's message), or unknown to Temporal.
   */
  async outcome(workflowId: string): Promise<RunOutcome> {
    const handle = this.client.workflow.getHandle(workflowId);
    let status: WorkflowExecutionStatusName;
    let startTime: Date;
    try {
      ({
        status: { name: status },
        startTime,
      } = await handle.describe());
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return { kind: 'unknown' };
      throw error;
    }
    if (!CLOSED.includes(status)) return { kind: 'running' };
    try {
      const state = (await handle.result()) as RolloutState;
      return { kind: 'completed', phase: state.phase, message: state.message, startTime };
    } catch (error) {
      if (!(error instanceof WorkflowFailedError)) throw error;
      const how = ENDINGS[status] ?? status.toLowerCase();
      const cause = error.cause?.message.slice(0, CAUSE_LIMIT);
      return { kind: 'ended', how: cause ? `${how}: ${cause}` : how, startTime };
    }
  }

  /**
   * Tells a run that `revision` replaces it. Once per run: a run that already has a supersede in
   * its history is standing down, and a second signal would only add noise to that history.
   */
  async supersede(workflowId: string, revision: number): Promise<boolean> {
    const key = `supersede ${workflowId}`;
    if (this.alreadyTold.has(key)) return false;
    const handle = this.client.workflow.getHandle(workflowId);
    try {
      const history = await handle.fetchHistory();
      const told = history.events?.some(
        (event) => event.workflowExecutionSignaledEventAttributes?.signalName === supersedeSignal.name,
      );
      if (!told) await handle.signal(supersedeSignal, { revision });
      this.alreadyTold.add(key);
      return !told;
    } catch (error) {
      // Closed meanwhile: nothing left to supersede.
      if (error instanceof WorkflowNotFoundError) return false;
      throw error;
    }
  }

  /** Tells a run that spec.replicas is now `replicas`; false when it has closed meanwhile. */
  async resize(workflowId: string, replicas: number): Promise<boolean> {
    try {
      await this.client.workflow.getHandle(workflowId).signal(resizeSignal, { replicas });
      return true;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return false;
      throw error;
    }
  }

  /** Requests cancellation of a run; the workflow hands traffic back to stable before it ends. */
  async cancel(workflowId: string): Promise<boolean> {
    const key = `cancel ${workflowId}`;
    if (this.alreadyTold.has(key)) return false;
    try {
      await this.client.workflow.getHandle(workflowId).cancel();
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
    this.alreadyTold.add(key);
    return true;
  }

  private async list(query: string): Promise<RolloutWorkflowRun[]> {
    const runs: RolloutWorkflowRun[] = [];
    for await (const info of this.client.workflow.list({ query })) runs.push(runOf(info));
    return runs;
  }
}

function runOf(
  info: Pick<WorkflowExecutionInfo, 'workflowId' | 'typedSearchAttributes' | 'memo'>,
): RolloutWorkflowRun {
  const revisionText =
    info.typedSearchAttributes.get(RolloutRevisionKey) ?? /\/r(\d+)$/.exec(info.workflowId)?.[1];
  return { workflowId: info.workflowId, revision: Number(revisionText ?? 0), ...clusterRunOf(info) };
}

/** Statuses of a run that is over; describe() names the newest run of an ID, so not CONTINUED_AS_NEW. */
const CLOSED: readonly WorkflowExecutionStatusName[] = [
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TERMINATED',
  'TIMED_OUT',
];
const ENDINGS: Partial<Record<WorkflowExecutionStatusName, string>> = {
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed out',
};
/** A failure's message goes into the status and an Event (at most 1 KiB): keep room for the rest. */
const CAUSE_LIMIT = 300;

function rolloutQuery({ namespace, name }: RolloutKey): string {
  return `${RolloutNamespaceKey.name} = ${quote(namespace)} AND ${RolloutNameKey.name} = ${quote(name)}`;
}
