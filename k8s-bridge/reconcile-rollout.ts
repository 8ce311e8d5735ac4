import { recordRolloutEvent } from '../activities/rollout-events';
import { writeRolloutStatus } from '../activities/rollout-status';
import type { KubeClients } from '../kubernetes/client';
import { isNotFound } from '../kubernetes/errors';
import {
  ROLLOUT_GROUP,
  ROLLOUT_PLURAL,
  ROLLOUT_VERSION,
  RolloutMetadataSchema,
  RolloutStatusSchema,
  type Rollout,
  type RolloutPhase,
  type RolloutStatus,
  stepOfSteps,
} from '../schemas/rollout';
import type { RetryRequest, RolloutRef } from '../workflows/rollout-api';
import { stepCount } from '../workflows/strategies/registry';
import type { AnnotationCommandDelivery } from './annotation-commands';
import type { Logger } from '../observability/log';
import type { ReconcileOutcome } from './reconcile-queue';
import { recordNewRevision, revisionOf, type RevisionDecision } from './revisions';
import { RolloutScaler } from './rollout-scale';
import { checkRollout, lookUpClusterFacts, parseRollout } from './rollout-validation';
import {
  findCondition,
  patchRolloutStatus,
  VALID_CONDITION,
  withCondition,
  type RolloutKey,
} from './rollout-status';
import type { RolloutWorkflowRun, RolloutWorkflows } from './rollout-workflows';
import {
  decideRun,
  ENDED_WITHOUT_VERDICT,
  endedWithoutVerdict,
  endedWithoutVerdictMessage,
  endedWithoutVerdictStatus,
  PROGRESSING_CONDITION,
  startDue,
  started,
  WORKFLOW_STARTED_CONDITION,
  type RunDecision,
} from './runs-without-verdict';

/**
 * One reconcile of one Rollout: from the Rollout as the apiserver has it now, make Temporal and the
 * status agree. It is safe to run any number of times, on any number of bridges: every write is
 * conditional on the resourceVersion read, and every start or signal is idempotent.
 *
 * - Gone or being deleted: cancel its open runs.
 * - Invalid: say why in a Valid=False condition and a Warning Event; start nothing. The phase becomes
 *   Invalid only when no run of the Rollout's revision is in flight: a running revision keeps its
 *   phase, and its own steps decide what a broken Service, route or template means for it.
 * - Valid: record a new revision for a new template, tell older runs they are superseded, and start
 *   the revision's run, once (runs-without-verdict.ts); size the pods to a changed spec.replicas
 *   (rollout-scale.ts); then deliver command annotations to the run.
 */

const EVENT_MESSAGE_LIMIT = 1024;

/** Phases in which the current revision's run should be open; Healthy and Degraded runs are left alone. */
const ACTIVE_PHASES: readonly (RolloutPhase | undefined)[] = [undefined, 'Pending', 'Progressing', 'Paused'];

interface StoredRollout {
  metadata: Rollout['metadata'];
  status: RolloutStatus;
  raw: Record<string, unknown>;
}

export class RolloutReconciler {
  /**
   * The revision, its workflow and the Rollout's uid last read per Rollout key: to find a just-started
   * run that visibility does not list yet, and the runs of a Rollout deleted since.
   */
  private readonly lastRead = new Map<string, { revision: number; workflowId?: string; uid?: string }>();
  private readonly scaler: RolloutScaler;

  constructor(
    private readonly kube: KubeClients,
    private readonly workflows: RolloutWorkflows,
    private readonly commands: AnnotationCommandDelivery,
    private readonly log: Logger,
  ) {
    this.scaler = new RolloutScaler(kube, workflows, log);
  }

  /** The revision, and its workflow, a Rollout had when last read: log lines about it carry them. */
  lastSeen(key: RolloutKey): { revision?: number; workflowId?: string } {
    const last = this.lastRead.get(keyText(key));
    return last ? { revision: last.revision, workflowId: last.workflowId } : {};
  }

  async reconcile(key: RolloutKey): Promise<ReconcileOutcome> {
    const stored = await this.read(key);
    if (!stored) return this.cancelRunsOfDeleted(key);
    const { metadata } = stored;
    if (metadata.deletionTimestamp) return this.cancelRunsOfDeleted(key, metadata.uid);
    if (stored.status.revision !== undefined) {
      const { revision, workflowId } = stored.status;
      this.lastRead.set(keyText(key), { revision, workflowId, uid: metadata.uid });
    }

    const parsed = parseRollout(stored.raw);
    // Temporal and the cluster are asked at once: a new revision's start waits for both.
    const [openRuns, facts] = await Promise.all([
      this.workflows.openRuns(key, metadata.uid),
      parsed.rollout ? lookUpClusterFacts(this.kube, parsed.rollout) : undefined,
    ]);
    await this.cancelRunsOfNamesakes(key, openRuns, metadata.uid);
    const problems = parsed.rollout && facts ? checkRollout(parsed.rollout, facts) : parsed.problems;

    let revision = stored.status.revision;
    let workflowId = stored.status.workflowId;
    let rerun: ((request: RetryRequest) => ReturnType<RolloutReconciler['rerun']>) | undefined;
    if (problems.length > 0 || !parsed.rollout) {
      const inFlight = await this.runInFlight(stored.status, openRuns);
      if ((await this.markInvalid(stored, problems, inFlight)) === 'conflict') return 'requeue';
    } else {
      const rollout = parsed.rollout;
      const decision = await this.rollOut(rollout, openRuns);
      if (!decision) return 'requeue';
      revision = decision.revision;
      workflowId = decision.workflowId;
      // Only a run that ended without a verdict is started anew; any other retry goes to the run.
      if (!decision.isNew && endedWithoutVerdict(stored.status)) {
        rerun = (request) => this.rerun(rollout, decision, request);
      }
    }

    if (metadata.uid && metadata.resourceVersion) {
      await this.commands.deliver({
        rollout: { namespace: key.namespace, name: key.name, uid: metadata.uid },
        resourceVersion: metadata.resourceVersion,
        annotations: metadata.annotations,
        managedFields: (stored.raw.metadata as { managedFields?: unknown } | undefined)?.managedFields,
        revision,
        workflowId,
        rerun,
      });
    }
    return 'done';
  }

  private async read(key: RolloutKey): Promise<StoredRollout | undefined> {
    let raw: Record<string, unknown>;
    try {
      raw = (await this.kube.custom.getNamespacedCustomObject({
        group: ROLLOUT_GROUP,
        version: ROLLOUT_VERSION,
        plural: ROLLOUT_PLURAL,
        ...key,
      })) as Record<string, unknown>;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    const metadata = RolloutMetadataSchema.parse(raw.metadata);
    // A status the schema rejects (written by hand) is treated as empty, and rewritten from scratch.
    const status = RolloutStatusSchema.safeParse(raw.status ?? {}).data ?? {};
    return { metadata, status, raw };
  }

  // --- deletion --------------------------------------------------------------------------------------

  /** Cancels the open runs of a Rollout that is gone (all of them) or being deleted (those of its uid). */
  private async cancelRunsOfDeleted(key: RolloutKey, uid?: string): Promise<ReconcileOutcome> {
    const lastRead = this.lastRead.get(keyText(key));
    const runs = await this.workflows.openRuns(key, uid ?? lastRead?.uid);
    const lastId = lastRead?.workflowId;
    if (lastId !== undefined) {
      const last = runs.some((run) => run.workflowId === lastId)
        ? undefined
        : await this.workflows.describe(lastId);
      if (last?.status === 'RUNNING') runs.push(last);
    }
    for (const run of runs) {
      if (uid && run.rolloutUid && run.rolloutUid !== uid) continue;
      if (await this.workflows.cancel(run.workflowId)) {
        this.log.info('Rollout deleted: requested cancellation of its workflow', {
          ...key,
          revision: run.revision,
          workflowId: run.workflowId,
        });
      }
    }
    if (!uid) this.lastRead.delete(keyText(key));
    return 'done';
  }

  /** Runs started for an earlier Rollout of the same name, deleted while no bridge was looking. */
  private async cancelRunsOfNamesakes(
    key: RolloutKey,
    runs: RolloutWorkflowRun[],
    uid?: string,
  ): Promise<void> {
    for (const run of runs) {
      if (!uid || !run.rolloutUid || run.rolloutUid === uid) continue;
      if (await this.workflows.cancel(run.workflowId)) {
        this.log.info('requested cancellation of a workflow of a deleted Rollout of the same name', {
          ...key,
          revision: run.revision,
          workflowId: run.workflowId,
          deletedUid: run.rolloutUid,
        });
      }
    }
  }

  // --- invalid specs ---------------------------------------------------------------------------------

  /** The run of the revision in the status, when it is open: its phase is its own, not the spec's. */
  private async runInFlight(
    status: RolloutStatus,
    openRuns: RolloutWorkflowRun[],
  ): Promise<string | undefined> {
    const workflowId = status.workflowId;
    if (!workflowId) return undefined;
    if (openRuns.some((run) => run.workflowId === workflowId)) return workflowId;
    // Visibility may lag a start by a moment; the run itself does not.
    return (await this.workflows.describe(workflowId))?.status === 'RUNNING' ? workflowId : undefined;
  }

  /**
   * Reports the problems in the Valid condition and a Warning Event. The phase becomes Invalid only
   * when no run is in flight: a running revision goes on, and a promote still reaches it.
   */
  private async markInvalid(
    stored: StoredRollout,
    problems: string[],
    inFlight: string | undefined,
  ): Promise<'written' | 'unchanged' | 'conflict'> {
    const { metadata, status } = stored;
    const message = problems.join('; ');
    const valid = findCondition(status.conditions, VALID_CONDITION);
    const reported = valid?.status === 'False' && valid.message === message;
    const log = this.log.with({
      namespace: metadata.namespace,
      name: metadata.name,
      revision: status.revision,
      workflowId: status.workflowId,
    });
    const phaseSettled = inFlight || (status.phase === 'Invalid' && status.message === message);
    if (reported && phaseSettled && status.observedGeneration === metadata.generation) return 'unchanged';
    const written = await patchRolloutStatus(this.kube.custom, requireVersion(metadata), {
      ...(inFlight ? {} : { phase: 'Invalid' as const, message }),
      observedGeneration: metadata.generation,
      conditions: withCondition(status.conditions, {
        type: VALID_CONDITION,
        status: 'False',
        reason: 'InvalidSpec',
        message,
      }),
    });
    if (written === 'conflict') return written;
    // Once per message: resyncs and status writes by a running workflow must not repeat the Event.
    if (!reported) {
      log.warn('Rollout is invalid', { problems, inFlight });
      // The problems come last: a long list is what the 1 KiB limit of an Event may cut.
      const text = inFlight
        ? `${inFlight} is in flight and goes on (its own steps decide; promote and abort still reach it), ` +
          `but the spec has problems: ${message}`
        : message;
      if (metadata.uid) await this.event(refOf(metadata), 'Warning', 'InvalidSpec', text);
    }
    return written;
  }

  // --- valid specs -----------------------------------------------------------------------------------

  /** Settles the revision and its run; undefined when the Rollout changed meanwhile and must be read again. */
  private async rollOut(
    rollout: Rollout,
    openRuns: RolloutWorkflowRun[],
  ): Promise<RevisionDecision | undefined> {
    const { namespace, name } = rollout.metadata;
    const status = rollout.status ?? {};
    const namesakeRevision =
      status.revision === undefined ? await this.workflows.highestRevision({ namespace, name }) : 0;
    const newWorkflowId = (revision: number) => this.workflows.newWorkflowId({ namespace, name }, revision);
    const decision = revisionOf(rollout, newWorkflowId, namesakeRevision);
    const { workflowId } = decision;
    const log = this.log.with({ namespace, name, revision: decision.revision, workflowId });

    if (decision.isNew) {
      // Temporal is asked about the previous run while the new revision is recorded, not after.
      const previousRun = this.previousRun(rollout, decision, openRuns);
      previousRun.catch(() => undefined);
      if ((await recordNewRevision(this.kube.custom, rollout, decision)) === 'conflict') {
        log.info('Rollout changed while recording a new revision; reading it again');
        return undefined;
      }
      this.lastRead.set(keyText(rollout.metadata), {
        revision: decision.revision,
        workflowId,
        uid: rollout.metadata.uid,
      });
      log.info('recorded a new revision', { templateHash: decision.templateHash });
      if (findCondition(status.conditions, VALID_CONDITION)?.status === 'False') {
        await this.event(
          refOf(rollout.metadata),
          'Normal',
          'SpecValid',
          `the spec is valid again; revision ${decision.revision} starts`,
        );
      }
      await this.ensureRun(rollout, decision, openRuns, log, false, previousRun);
      return decision;
    }

    const phase = await this.settleValidStatus(rollout, decision, openRuns, log);
    if (phase === 'conflict') return undefined;
    if (
      ACTIVE_PHASES.includes(phase) &&
      (await this.keepRunning(rollout, decision, openRuns, log)) === 'conflict'
    ) {
      return undefined;
    }
    if ((await this.scaler.settle(rollout, decision, openRuns)) === 'conflict') return undefined;
    return decision;
  }

  /** What to do about the revision's run, from Temporal's word and the WorkflowStarted condition. */
  private async runDecision(
    rollout: Rollout,
    decision: RevisionDecision,
    openRuns: RolloutWorkflowRun[],
  ): Promise<RunDecision> {
    const status = rollout.status ?? {};
    const workflowId = decision.workflowId;
    const outcome = openRuns.some((run) => run.workflowId === workflowId)
      ? { kind: 'running' as const }
      : await this.workflows.outcome(workflowId);
    return decideRun(
      outcome,
      findCondition(status.conditions, WORKFLOW_STARTED_CONDITION),
      workflowId,
      status.stableTemplateHash === decision.templateHash,
    );
  }

  /**
   * For a revision in an active phase: keeps its run going, starts it if its start is still due, and
   * otherwise never starts it again. A run that closed without its verdict in the status leaves the
   * Rollout Degraded, saying so, until a retry.
   */
  private async keepRunning(
    rollout: Rollout,
    decision: RevisionDecision,
    openRuns: RolloutWorkflowRun[],
    log: Logger,
  ): Promise<'done' | 'conflict'> {
    const { metadata } = rollout;
    const status = rollout.status ?? {};
    const next = await this.runDecision(rollout, decision, openRuns);
    switch (next.action) {
      case 'keep':
        await this.ensureRun(rollout, decision, openRuns, log);
        return 'done';
      case 'markStarted':
        await this.ensureRun(rollout, decision, openRuns, log);
        await this.markStarted(rollout, decision);
        return 'done';
      case 'start':
        await this.ensureRun(rollout, decision, openRuns, log, next.again);
        return 'done';
      case 'verdict': {
        const written = await patchRolloutStatus(this.kube.custom, requireVersion(metadata), {
          phase: next.phase,
          message: next.message,
        });
        if (written === 'written')
          log.info('wrote the verdict of a run that had ended', { phase: next.phase });
        return written === 'conflict' ? 'conflict' : 'done';
      }
      case 'endedWithoutVerdict': {
        const workflowId = decision.workflowId;
        const message = endedWithoutVerdictMessage(workflowId, metadata.name, next.how);
        const written = await patchRolloutStatus(
          this.kube.custom,
          requireVersion(metadata),
          endedWithoutVerdictStatus(status, message),
        );
        if (written === 'conflict') return 'conflict';
        log.warn('the run ended without a verdict; it runs again only on a retry', { how: next.how });
        await this.event(refOf(metadata), 'Warning', ENDED_WITHOUT_VERDICT, message);
        return 'done';
      }
    }
  }

  /** Records that Temporal has the revision's run, so that it is never taken for one still to start. */
  private async markStarted(rollout: Rollout, decision: RevisionDecision): Promise<void> {
    await writeRolloutStatus(this.kube, {
      rollout: refOf(rollout.metadata),
      revision: decision.revision,
      status: {},
      condition: started(decision.workflowId),
    });
  }

  /**
   * A retry of a run that ended without a verdict: the status says a start is due (so a crash before
   * it is made good by the next reconcile), then the revision's run starts again from its first step.
   * Undefined when the Rollout changed meanwhile; the next reconcile decides on a fresh read.
   */
  private async rerun(
    rollout: Rollout,
    decision: RevisionDecision,
    request: RetryRequest,
  ): Promise<{ accepted: boolean; message: string } | undefined> {
    const { metadata } = rollout;
    const { namespace, name } = metadata;
    const status = rollout.status ?? {};
    const workflowId = decision.workflowId;
    const log = this.log.with({ namespace, name, revision: decision.revision, workflowId });
    const by = request.by ?? 'someone';
    const steps = stepCount(rollout.spec.strategy);
    const message = `retry by ${by}: ${workflowId} runs again from its first step`;
    // A run that completed keeps its verdict, and one that runs (started meanwhile) needs no start.
    const outcome = await this.workflows.outcome(workflowId);
    if (outcome.kind === 'completed' || outcome.kind === 'running') {
      const what = outcome.kind === 'running' ? 'is running' : 'completed with a verdict';
      return { accepted: false, message: `${workflowId} ${what}; there is nothing to start again` };
    }
    const written = await patchRolloutStatus(this.kube.custom, requireVersion(metadata), {
      phase: 'Progressing',
      message,
      currentStepIndex: 0,
      stepCount: steps,
      step: stepOfSteps(0, steps),
      conditions: withCondition(withCondition(status.conditions, startDue(workflowId, `retry by ${by}`)), {
        type: PROGRESSING_CONDITION,
        status: 'True',
        reason: 'Retried',
        message,
      }),
    });
    if (written === 'conflict') return undefined;
    const openRuns = await this.workflows.openRuns({ namespace, name }, metadata.uid);
    if ((await this.ensureRun(rollout, decision, openRuns, log, true)) === 'closed') {
      // It completed meanwhile, and Temporal keeps a run with a verdict from running twice.
      return {
        accepted: false,
        message: `${workflowId} completed meanwhile; there is nothing to start again`,
      };
    }
    log.info('retry: the run that ended without a verdict runs again', { by });
    return { accepted: true, message: `${workflowId} runs again from its first step` };
  }

  /**
   * For a revision already recorded: marks the spec Valid again after it was Invalid, with the phase
   * its run is in, and keeps observedGeneration current. Returns the phase the Rollout is in now.
   */
  private async settleValidStatus(
    rollout: Rollout,
    decision: RevisionDecision,
    openRuns: RolloutWorkflowRun[],
    log: Logger,
  ): Promise<RolloutPhase | undefined | 'conflict'> {
    const { metadata } = rollout;
    const status = rollout.status ?? {};
    const valid = findCondition(status.conditions, VALID_CONDITION);
    const wasInvalid = status.phase === 'Invalid' || valid?.status === 'False';
    if (!wasInvalid && valid && status.observedGeneration === metadata.generation) return status.phase;

    let update: Partial<RolloutStatus> = {
      observedGeneration: metadata.generation,
      conditions: withCondition(status.conditions, {
        type: VALID_CONDITION,
        status: 'True',
        reason: 'SpecValid',
        message: 'the spec can be rolled out',
      }),
    };
    let endedWithoutVerdictAs: string | undefined;
    if (status.phase === 'Invalid') {
      const workflowId = decision.workflowId;
      const next = await this.runDecision(rollout, decision, openRuns);
      if (next.action === 'endedWithoutVerdict') {
        endedWithoutVerdictAs = endedWithoutVerdictMessage(workflowId, metadata.name, next.how);
        update = { ...update, ...endedWithoutVerdictStatus({ ...status, ...update }, endedWithoutVerdictAs) };
      } else {
        const where =
          next.action === 'verdict'
            ? next
            : next.action === 'start'
              ? { phase: 'Progressing' as const, message: `revision ${decision.revision} is starting` }
              : { phase: 'Progressing' as const, message: `${workflowId} is running` };
        update.phase = where.phase;
        update.message = `the spec is valid again; ${where.message}`;
      }
    }
    if ((await patchRolloutStatus(this.kube.custom, requireVersion(metadata), update)) === 'conflict') {
      return 'conflict';
    }
    if (wasInvalid) {
      log.info('Rollout is valid again', { phase: update.phase ?? status.phase });
      await this.event(
        refOf(metadata),
        'Normal',
        'SpecValid',
        `the spec is valid again; revision ${decision.revision} goes on`,
      );
    }
    if (endedWithoutVerdictAs)
      await this.event(refOf(metadata), 'Warning', ENDED_WITHOUT_VERDICT, endedWithoutVerdictAs);
    return update.phase ?? status.phase;
  }

  /**
   * The previous revision's run when it is open and the visibility list did not have it: visibility
   * may lag a start by a moment, and the previous revision's ID finds its run regardless.
   */
  private async previousRun(
    rollout: Rollout,
    decision: RevisionDecision,
    openRuns: RolloutWorkflowRun[],
  ): Promise<RolloutWorkflowRun | undefined> {
    const { namespace, name } = rollout.metadata;
    const status = rollout.status ?? {};
    const previousId =
      status.revision === decision.revision - 1 && status.workflowId
        ? status.workflowId
        : this.workflows.newWorkflowId({ namespace, name }, decision.revision - 1);
    const listed = openRuns.some(
      (run) => run.workflowId === previousId || run.workflowId === decision.workflowId,
    );
    if (listed || decision.revision <= 1) return undefined;
    const previous = await this.workflows.describe(previousId);
    return previous?.status === 'RUNNING' ? previous : undefined;
  }

  /**
   * Makes sure the revision's run exists: older open runs of the same Rollout are told they are
   * superseded first, and the new run waits for the newest of them to close before it acts. `again`
   * starts a run anew where one ended without a verdict (a retry).
   */
  private async ensureRun(
    rollout: Rollout,
    decision: RevisionDecision,
    openRuns: RolloutWorkflowRun[],
    log: Logger,
    again = false,
    /** The previous revision's run, if looked up already (previousRun). */
    previousRun?: Promise<RolloutWorkflowRun | undefined>,
  ): Promise<'open' | 'closed'> {
    const { uid } = rollout.metadata;
    const workflowId = decision.workflowId;
    const earlier = openRuns.filter((run) => run.revision < decision.revision);
    const alreadyOpen = openRuns.some((run) => run.workflowId === workflowId);
    const previous = await (previousRun ?? this.previousRun(rollout, decision, openRuns));
    if (previous) earlier.push(previous);
    // Runs of this Rollout stand down; those of a deleted namesake were cancelled and wind down alike.
    const toldToStandDown = Promise.all(
      earlier
        .filter((run) => !run.rolloutUid || run.rolloutUid === uid)
        .map(async (run) => {
          if (await this.workflows.supersede(run.workflowId, decision.revision)) {
            log.info('told the previous revision it is superseded', { supersededWorkflowId: run.workflowId });
          }
        }),
    );
    if (alreadyOpen) {
      await toldToStandDown;
      return 'open';
    }
    // The new run waits for the newest earlier one to stand down, which itself waited for any before
    // it; so it starts while they are told, and asks the newest as it starts. A run started without
    // the telling (a crash between) is open on the next reconcile, which tells them again.
    const supersedes = earlier.sort((a, b) => b.revision - a.revision)[0]?.workflowId;
    const [, started] = await Promise.all([
      toldToStandDown,
      this.workflows.start(rollout, decision, supersedes, again),
    ]);
    if (started === 'closed') {
      log.debug('workflow already closed; a revision is never run twice', { supersedes });
      return 'closed';
    }
    log.info('workflow running', { supersedes, again });
    await this.markStarted(rollout, decision);
    return 'open';
  }

  private async event(rollout: RolloutRef, type: 'Normal' | 'Warning', reason: string, message: string) {
    // The apiserver refuses Event messages above 1 KiB; the status keeps the whole list of problems.
    const short =
      message.length > EVENT_MESSAGE_LIMIT ? `${message.slice(0, EVENT_MESSAGE_LIMIT - 3)}...` : message;
    await recordRolloutEvent(this.kube, { rollout, type, reason, message: short });
  }
}

function keyText(key: RolloutKey): string {
  return `${key.namespace}/${key.name}`;
}

function refOf(metadata: Rollout['metadata']): RolloutRef {
  return { namespace: metadata.namespace, name: metadata.name, uid: metadata.uid ?? '' };
}

function requireVersion(metadata: Rollout['metadata']): RolloutKey & { resourceVersion: string } {
  if (!metadata.resourceVersion)
    throw new Error(`Rollout ${keyText(metadata)} was read without a resourceVersion`);
  return { namespace: metadata.namespace, name: metadata.name, resourceVersion: metadata.resourceVersion };
}
