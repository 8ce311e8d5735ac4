/**
 * Revisions: how the bridge numbers a Rollout's pod templates.
 *
 * A revision is a pod template the Rollout has rolled out, numbered 1, 2, 3 ... in the order they
 * appeared. Its identity is the template's hash (podTemplateHash(spec.template)); its number only
 * orders them and names the workflow (`<namespace>/<name>/r<revision>`, after `<SIIRTO_CLUSTER_ID>/`
 * when the cluster has one). A revision keeps the workflow ID it was recorded with, so one recorded
 * before the cluster had an ID is still found under the ID without it.
 *
 * - Same template as status.currentTemplateHash: the revision is status.revision, nothing changes.
 *   Edits outside the template (steps, replicas) do not make a revision.
 * - Another template: the next number, (status.revision ?? 0) + 1. A rollback to an earlier template
 *   is also a new number, as with Deployments; its ReplicaSet `<rollout>-<hash>` is found again by
 *   the hash, so its pods come back without being recreated from scratch.
 * - A Rollout with no revision in its status, whose namesake was deleted earlier, starts above the
 *   namesake's revisions still known to Temporal: workflow IDs are never reused for a new run, so its
 *   first revision cannot be `r1` again while the old `r1` is remembered.
 *
 * The bridge records a new revision in the status, {revision, currentTemplateHash, workflowId, phase
 * Progressing, WorkflowStarted Unknown (runs-without-verdict.ts)}, with a merge patch that carries the
 * resourceVersion it read, and only then starts the workflow. Of two bridges (or one and its
 * restarted self) deciding on the same read, exactly one write succeeds; the other gets a Conflict,
 * reads again, finds the template current, and goes on with the same revision and the same workflow
 * ID, which Temporal starts only once.
 */
import type * as k8s from '@kubernetes/client-node';
import { selectorText } from '../kubernetes/label-selector';
import { podTemplateHash } from '../schemas/pod-template-hash';
import { stepOfSteps, type Rollout, type RolloutStatus } from '../schemas/rollout';
import { patchRolloutStatus, VALID_CONDITION, withCondition, type StatusWrite } from './rollout-status';
import { startDue } from './runs-without-verdict';
import { stepCount } from '../workflows/strategies/registry';

/** What decideRevision settles: the revision's number, and whether it is new. */
export interface RevisionNumber {
  revision: number;
  templateHash: string;
  /** True when this template has no revision yet and one must be recorded before anything starts. */
  isNew: boolean;
}

export interface RevisionDecision extends RevisionNumber {
  /** The ID of the revision's run (revisionWorkflowId). */
  workflowId: string;
}

/**
 * The revision of a template, given the status as read and, for a Rollout without a recorded
 * revision, the highest revision an earlier namesake reached (0 when none).
 */
export function decideRevision(
  status: RolloutStatus | undefined,
  templateHash: string,
  namesakeRevision = 0,
): RevisionNumber {
  if (status?.revision !== undefined && status.currentTemplateHash === templateHash) {
    return { revision: status.revision, templateHash, isNew: false };
  }
  const previous = status?.revision ?? namesakeRevision;
  return { revision: previous + 1, templateHash, isNew: true };
}

/**
 * The ID of a revision's run: the one the status recorded with the revision, whichever scheme it was
 * made by, else `newWorkflowId` (rollout-workflows.ts) for a revision still to be recorded.
 */
export function revisionWorkflowId(
  status: RolloutStatus | undefined,
  { revision, isNew }: RevisionNumber,
  newWorkflowId: (revision: number) => string,
): string {
  return !isNew && status?.revision === revision && status.workflowId
    ? status.workflowId
    : newWorkflowId(revision);
}

export function revisionOf(
  rollout: Rollout,
  newWorkflowId: (revision: number) => string,
  namesakeRevision = 0,
): RevisionDecision {
  const decided = decideRevision(rollout.status, podTemplateHash(rollout.spec.template), namesakeRevision);
  return { ...decided, workflowId: revisionWorkflowId(rollout.status, decided, newWorkflowId) };
}

/** Records a new revision; 'conflict' when the Rollout changed since it was read. */
export async function recordNewRevision(
  custom: k8s.CustomObjectsApi,
  rollout: Rollout,
  decision: RevisionDecision,
  now: Date = new Date(),
): Promise<StatusWrite> {
  const { namespace, name, resourceVersion, generation } = rollout.metadata;
  if (!resourceVersion) throw new Error(`Rollout ${namespace}/${name} was read without a resourceVersion`);
  const { workflowId } = decision;
  return patchRolloutStatus(
    custom,
    { namespace, name, resourceVersion },
    {
      revision: decision.revision,
      currentTemplateHash: decision.templateHash,
      workflowId,
      phase: 'Progressing',
      message: `revision ${decision.revision} (template ${decision.templateHash}) is starting`,
      observedGeneration: generation,
      replicas: rollout.spec.replicas,
      selector: selectorText(rollout.spec.selector),
      currentStepIndex: 0,
      stepCount: stepCount(rollout.spec.strategy),
      step: stepOfSteps(0, stepCount(rollout.spec.strategy)),
      conditions: withCondition(
        withCondition(
          rollout.status?.conditions,
          {
            type: VALID_CONDITION,
            status: 'True',
            reason: 'SpecValid',
            message: 'the spec can be rolled out',
          },
          now,
        ),
        startDue(workflowId, `revision ${decision.revision} recorded`),
        now,
      ),
    },
  );
}
