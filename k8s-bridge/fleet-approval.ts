import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { FLEET_RELEASE_ANNOTATION } from '../activities/fleet/cluster-rollouts';
import { recordRolloutEvent } from '../activities/rollout-events';
import type { KubeClients } from '../kubernetes/client';
import { lastWriterOf } from '../kubernetes/managed-fields';
import type { Logger } from '../observability/log';
import { parseReleaseValue, releaseValue, type ReleaseName } from '../temporal/release-attribute';
import { approveUpdate, fleetWorkflowId, type ApproveRequest } from '../workflows/fleet-api';
import type { RolloutRef } from '../workflows/rollout-api';
import {
  removeAnnotationIfUnchanged,
  annotationSetAt,
  CommandNotDeliveredError,
  commandUpdateId,
  isTimeout,
} from './annotation-commands';

/**
 * Approval of a fleet release's held wave for users with only kubectl, on any Rollout of the release
 * in any cluster: `kubectl annotate rollout checkout siirto.dev/fleet-approve=checkout-2-1`. The value
 * names the release (its metadata.name, or `<app>/<release>`), so an annotation meant for one release
 * never opens another's gate. The bridge of the Rollout's cluster sends the release's `approve` Update,
 * as `siirto fleet approve` does, saying who asked and where; it then records an Event on the Rollout
 * and removes the annotation.
 */
export const FLEET_APPROVE_ANNOTATION = 'siirto.dev/fleet-approve';

export interface FleetApprovalTarget {
  rollout: RolloutRef;
  resourceVersion: string;
  annotations?: Record<string, string>;
  managedFields?: unknown;
}

/** What the annotation asks, or why it cannot be sent, as the Rollout's Event says it. */
export type FleetApproval =
  | { kind: 'approve'; release: ReleaseName; value: string }
  | { kind: 'refused'; value: string; problem: string };

/** Reads the annotation against the release the Rollout belongs to (its `siirto.dev/fleet-release`). */
export function fleetApprovalOf(
  annotations: Readonly<Record<string, string>> | undefined,
): FleetApproval | undefined {
  const value = annotations?.[FLEET_APPROVE_ANNOTATION];
  if (value === undefined) return undefined;
  const asked = value.trim();
  const marked = annotations?.[FLEET_RELEASE_ANNOTATION];
  const release = parseReleaseValue(marked);
  if (!release) {
    return {
      kind: 'refused',
      value,
      problem:
        `annotation ${FLEET_APPROVE_ANNOTATION}=${JSON.stringify(value)}: this Rollout belongs to no fleet ` +
        `release (it has no valid ${FLEET_RELEASE_ANNOTATION} annotation); annotate a Rollout the release ` +
        'has changed, or use siirto fleet approve <app>',
    };
  }
  if (asked !== release.release && asked !== releaseValue(release)) {
    return {
      kind: 'refused',
      value,
      problem:
        `annotation ${FLEET_APPROVE_ANNOTATION}=${JSON.stringify(value)} names no release of this Rollout: ` +
        `it belongs to release ${releaseValue(release)} (${FLEET_RELEASE_ANNOTATION}); set ` +
        `${FLEET_APPROVE_ANNOTATION}=${release.release} to approve that release's held wave`,
    };
  }
  return { kind: 'approve', release, value };
}

export class FleetApprovalDelivery {
  /** Where each annotation value was first seen, so retries reuse its update ID. */
  private readonly firstSeen = new Map<string, string>();

  constructor(
    private readonly kube: KubeClients,
    private readonly client: Client,
    private readonly log: Logger,
    /** SIIRTO_CLUSTER_ID of this bridge's cluster, named in the approval. */
    private readonly clusterId: string | undefined,
    private readonly updateTimeoutMs = 10_000,
  ) {}

  /** Delivers the Rollout's fleet approval, if it has one; throws CommandNotDeliveredError when it must wait. */
  async deliver(target: FleetApprovalTarget): Promise<void> {
    const { rollout } = target;
    const approval = fleetApprovalOf(target.annotations);
    const seenKey = `${rollout.uid} ${approval?.value ?? ''}`;
    for (const key of this.firstSeen.keys()) {
      if (key.startsWith(`${rollout.uid} `) && key !== seenKey) this.firstSeen.delete(key);
    }
    if (!approval) return;
    if (approval.kind === 'refused') {
      await this.event(rollout, 'Warning', 'FleetApproveRejected', approval.problem);
      await this.removeAnnotation(target, approval.value);
      return;
    }
    const workflowId = fleetWorkflowId(approval.release.app);
    const seenAt = this.firstSeen.get(seenKey) ?? target.resourceVersion;
    this.firstSeen.set(seenKey, seenAt);
    const writer = lastWriterOf(target.managedFields, [
      'f:metadata',
      'f:annotations',
      `f:${FLEET_APPROVE_ANNOTATION}`,
    ]);
    const setAt = annotationSetAt(target.managedFields, FLEET_APPROVE_ANNOTATION) ?? `rv${seenAt}`;
    // Per Rollout: the same approval written on Rollouts of two clusters is two requests, each answered.
    const updateId = `${this.clusterId ?? 'local'}/${rollout.namespace}/${rollout.name}/${commandUpdateId(
      FLEET_APPROVE_ANNOTATION,
      approval.value,
      setAt,
    )}`;
    const where = `${this.clusterId ? `${this.clusterId}/` : ''}${rollout.namespace}/${rollout.name}`;
    const request: ApproveRequest = {
      release: approval.release.release,
      by: `annotation ${FLEET_APPROVE_ANNOTATION} on Rollout ${where}${writer ? ` (by ${writer.manager})` : ''}`,
    };
    const log = this.log.with({
      namespace: rollout.namespace,
      name: rollout.name,
      workflowId,
      annotation: FLEET_APPROVE_ANNOTATION,
      updateId,
    });
    try {
      const handle = this.client.workflow.getHandle(workflowId);
      const state = await this.client.withDeadline(Date.now() + this.updateTimeoutMs, () =>
        handle.executeUpdate(approveUpdate, { args: [request], updateId }),
      );
      const approved = state.waves.filter((wave) => wave.approvedBy === request.by).map((wave) => wave.name);
      log.info('fleet approval delivered', { waves: approved });
      await this.event(
        rollout,
        'Normal',
        'FleetApproved',
        `release ${releaseValue(approval.release)}: ${approved.join(', ') || 'its wave'} approved by ` +
          `${workflowId} (from annotation ${FLEET_APPROVE_ANNOTATION})`,
      );
    } catch (error) {
      if (isTimeout(error)) {
        log.warn('fleet approval not answered in time; the annotation stays and is delivered again later', {
          error,
        });
        throw new CommandNotDeliveredError(
          `${workflowId} did not answer ${FLEET_APPROVE_ANNOTATION} within ${this.updateTimeoutMs} ms; is a Siirto worker with a SIIRTO_CLUSTER_ID running?`,
        );
      }
      const reason =
        error instanceof WorkflowUpdateFailedError
          ? (error.cause?.message ?? error.message)
          : error instanceof WorkflowNotFoundError
            ? `${workflowId} is not running: release ${releaseValue(approval.release)} has ended or never started`
            : undefined;
      if (reason === undefined) throw error;
      log.warn('fleet approval refused', { reason });
      await this.event(
        rollout,
        'Warning',
        'FleetApproveRejected',
        `annotation ${FLEET_APPROVE_ANNOTATION}=${JSON.stringify(approval.value)} refused: ${reason}`,
      );
    }
    await this.removeAnnotation(target, approval.value);
  }

  /** Removes the annotation only if it still holds the value handled. */
  private async removeAnnotation(target: FleetApprovalTarget, value: string): Promise<void> {
    await removeAnnotationIfUnchanged(this.kube, target.rollout, FLEET_APPROVE_ANNOTATION, value);
  }

  private async event(rollout: RolloutRef, type: 'Normal' | 'Warning', reason: string, message: string) {
    await recordRolloutEvent(this.kube, { rollout, type, reason, message });
  }
}
