import { recordRolloutEvent } from '../activities/rollout-events';
import { readOwnedReplicaSet, scaleReplicaSet } from '../activities/replica-sets';
import type { KubeClients } from '../kubernetes/client';
import type { Logger } from '../observability/log';
import { selectorText } from '../kubernetes/label-selector';
import type { Rollout } from '../schemas/rollout';
import { patchRolloutStatus, type StatusWrite } from './rollout-status';
import type { RevisionDecision } from './revisions';
import type { RolloutWorkflowRun, RolloutWorkflows } from './rollout-workflows';
import { EventReason } from '../reasons/rollout-reasons';

/**
 * spec.replicas changed without a new revision (kubectl scale, a HorizontalPodAutoscaler through the
 * scale subresource): the revision's run, while open, is told and sizes the pods where the rollout
 * is; a Healthy Rollout with no run open has its stable ReplicaSet scaled here, as a Deployment would.
 * status.replicas says what the pods are sized to, status.selector lets an autoscaler find them.
 */
export class RolloutScaler {
  /** The replicas each run was told last, so resyncs do not repeat the signal. */
  private readonly told = new Map<string, number>();

  constructor(
    private readonly kube: KubeClients,
    private readonly workflows: RolloutWorkflows,
    private readonly log: Logger,
  ) {}

  async settle(
    rollout: Rollout,
    decision: RevisionDecision,
    openRuns: RolloutWorkflowRun[],
  ): Promise<StatusWrite | 'unchanged'> {
    const { metadata, spec } = rollout;
    const status = rollout.status ?? {};
    const selector = selectorText(spec.selector);
    if (status.replicas === spec.replicas && status.selector === selector) return 'unchanged';
    const version = {
      namespace: metadata.namespace,
      name: metadata.name,
      resourceVersion: metadata.resourceVersion ?? '',
    };
    const writeSelector = () =>
      status.selector === selector
        ? ('unchanged' as const)
        : patchRolloutStatus(this.kube.custom, version, { selector });
    if (status.replicas === spec.replicas) return writeSelector();

    const { workflowId } = decision;
    const log = this.log.with({ namespace: metadata.namespace, name: metadata.name, workflowId });
    const open =
      openRuns.some((run) => run.workflowId === workflowId) ||
      (await this.workflows.describe(workflowId))?.status === 'RUNNING';
    if (open) {
      if (
        this.told.get(workflowId) !== spec.replicas &&
        (await this.workflows.resize(workflowId, spec.replicas))
      ) {
        this.told.set(workflowId, spec.replicas);
        log.info('told the run of a new spec.replicas', { replicas: spec.replicas });
      }
      return writeSelector();
    }
    // Without a run, only a Healthy revision has pods to size: a Degraded or Invalid one is sized by
    // the run that retries it, from the spec as it is then.
    if (status.phase !== 'Healthy' || status.stableTemplateHash !== decision.templateHash)
      return writeSelector();
    const ref = { namespace: metadata.namespace, name: metadata.name, uid: metadata.uid ?? '' };
    const before = (await readOwnedReplicaSet(this.kube, ref, decision.templateHash))?.spec?.replicas;
    await scaleReplicaSet(this.kube, {
      rollout: ref,
      templateHash: decision.templateHash,
      replicas: spec.replicas,
    });
    if (before !== spec.replicas) {
      log.info('scaled the stable revision to spec.replicas', { from: before, replicas: spec.replicas });
      await recordRolloutEvent(this.kube, {
        rollout: ref,
        type: 'Normal',
        reason: EventReason.Resized,
        message: `r${decision.revision}: resized to spec.replicas ${spec.replicas}: stable ${spec.replicas}`,
      });
    }
    return patchRolloutStatus(this.kube.custom, version, { replicas: spec.replicas, selector });
  }
}
