import { FLEET_APPROVE_ANNOTATION } from './fleet-approval';
import { selectorText } from '../kubernetes/label-selector';
import {
  LabelSelectorSchema,
  RolloutMetadataSchema,
  RolloutStatusSchema,
  type RolloutPhase,
} from '../schemas/rollout';
import { annotationCommands } from './annotation-commands';
import { findCondition, VALID_CONDITION } from './rollout-status';
import type { RolloutWorkflowRun } from './rollout-workflows';
import { WORKFLOW_STARTED_CONDITION } from './runs-without-verdict';

/**
 * Whether a resync may leave a Rollout alone: its status already records the outcome of its current
 * generation, and a reconcile would only read it, ask Temporal about its runs and find nothing to do.
 * The resync lists all Rollouts and all open runs once per pass, so this is decided from those two
 * lists with no request of its own; only the Rollouts it is not sure of are reconciled (each one a read
 * from the apiserver and one from Temporal's visibility). So the requests at rest follow the Rollouts
 * that need something, not the number of Rollouts.
 *
 * Settled means all of: not being deleted; no command annotation waiting; the status has observed the
 * current generation, found the spec Valid, recorded the revision's workflow and that it started, and
 * sized the pods to spec.replicas; the phase is Healthy or Degraded (the run has its verdict); and no
 * other run of the Rollout (an older revision, a deleted namesake) is open. A revision in flight,
 * Paused included, is never settled: what its next steps need (an AnalysisTemplate, a Service, a
 * route) can go without the Rollout changing, and a resync is what reports it. Anything else is reconciled as before: an Invalid Rollout is looked at
 * every pass, so it heals when what it lacked appears, and a run that ended behind the watch's back
 * is found because it is missing from the list of open runs.
 */
export function isSettled(object: unknown, openRuns: readonly RolloutWorkflowRun[]): boolean {
  const raw = object as {
    metadata?: unknown;
    spec?: { replicas?: unknown; selector?: unknown };
    status?: unknown;
  };
  const metadata = RolloutMetadataSchema.safeParse(raw.metadata).data;
  const status = RolloutStatusSchema.safeParse(raw.status ?? {}).data;
  if (!metadata || !status || metadata.deletionTimestamp) return false;
  if (annotationCommands(metadata.annotations).length > 0) return false;
  if (metadata.annotations?.[FLEET_APPROVE_ANNOTATION] !== undefined) return false;
  if (metadata.generation === undefined || status.observedGeneration !== metadata.generation) return false;
  if (findCondition(status.conditions, VALID_CONDITION)?.status !== 'True') return false;
  if (findCondition(status.conditions, WORKFLOW_STARTED_CONDITION)?.status !== 'True') return false;
  const { workflowId, phase } = status;
  if (status.revision === undefined || !workflowId || !phase) return false;

  const replicas = raw.spec?.replicas ?? 1;
  const selector = LabelSelectorSchema.safeParse(raw.spec?.selector).data;
  if (status.replicas !== replicas || !selector || status.selector !== selectorText(selector)) return false;

  if (openRuns.some((run) => run.workflowId !== workflowId)) return false;
  return VERDICT_PHASES.includes(phase);
}

/** The run has written its verdict: whether it is still open (waiting to scale down) changes nothing. */
const VERDICT_PHASES: readonly RolloutPhase[] = ['Healthy', 'Degraded'];
