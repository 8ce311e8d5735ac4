import * as k8s from '@kubernetes/client-node';
import {
  isGrpcCancelledError,
  isGrpcDeadlineError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { recordRolloutEvent } from '../activities/rollout-events';
import type { KubeClients } from '../kubernetes/client';
import { apiStatus } from '../kubernetes/errors';
import {
  ABORT_ANNOTATION,
  CONCLUDE_ANNOTATION,
  PROMOTE_ANNOTATION,
  RETRY_ANNOTATION,
} from '../kubernetes/labels';
import { lastWriterOf } from '../kubernetes/managed-fields';
import { ROLLOUT_GROUP, ROLLOUT_PLURAL, ROLLOUT_VERSION } from '../schemas/rollout';
import {
  abortUpdate,
  concludeUpdate,
  promoteUpdate,
  retryUpdate,
  rolloutWorkflowId,
  type AbortRequest,
  type ConcludeRequest,
  type PromoteRequest,
  type RetryRequest,
  type RolloutRef,
} from '../workflows/rollout-api';
import type { Logger } from '../observability/log';
import type { FleetApprovalDelivery } from './fleet-approval';

/**
 * Commands for users with only kubectl: `kubectl annotate sro checkout siirto.dev/promote=true`.
 * The bridge hands each to the current revision's workflow as an Update, so it learns at once
 * whether the workflow accepted it, says so in an Event, and removes the annotation.
 */

export const COMMAND_SOURCE = 'kubectl annotation';

export type AnnotationCommand =
  | { kind: 'promote'; annotation: string; value: string; request: PromoteRequest }
  | { kind: 'abort'; annotation: string; value: string; request: AbortRequest }
  | { kind: 'retry'; annotation: string; value: string; request: RetryRequest }
  | { kind: 'conclude'; annotation: string; value: string; request: ConcludeRequest }
  | {
      kind: 'unreadable';
      command: 'promote' | 'conclude';
      annotation: string;
      value: string;
      problem: string;
    };

/** The commands a Rollout's annotations carry, abort first: when a user asks both, stopping is safer. */
export function annotationCommands(
  annotations: Readonly<Record<string, string>> | undefined,
): AnnotationCommand[] {
  const commands: AnnotationCommand[] = [];
  const abort = annotations?.[ABORT_ANNOTATION];
  if (abort !== undefined) {
    const reason = abort.trim();
    commands.push({
      kind: 'abort',
      annotation: ABORT_ANNOTATION,
      value: abort,
      request: {
        reason: reason === '' || reason.toLowerCase() === 'true' ? undefined : reason,
        by: COMMAND_SOURCE,
      },
    });
  }
  const retry = annotations?.[RETRY_ANNOTATION];
  if (retry !== undefined) {
    // Any value but "true" says who asks, as `siirto retry` writes it.
    const by = retry.trim();
    commands.push({
      kind: 'retry',
      annotation: RETRY_ANNOTATION,
      value: retry,
      request: { by: by === '' || by.toLowerCase() === 'true' ? COMMAND_SOURCE : by },
    });
  }
  const conclude = annotations?.[CONCLUDE_ANNOTATION];
  if (conclude !== undefined) {
    const winner = conclude.trim().toUpperCase();
    if (winner === 'A' || winner === 'B') {
      commands.push({
        kind: 'conclude',
        annotation: CONCLUDE_ANNOTATION,
        value: conclude,
        request: { winner, by: COMMAND_SOURCE },
      });
    } else {
      commands.push({
        kind: 'unreadable',
        command: 'conclude',
        annotation: CONCLUDE_ANNOTATION,
        value: conclude,
        problem:
          `annotation ${CONCLUDE_ANNOTATION}=${JSON.stringify(conclude)} is not understood; set it to "B" to ` +
          'promote variant B, or "A" to keep the stable and remove B',
      });
    }
  }
  const promote = annotations?.[PROMOTE_ANNOTATION];
  if (promote !== undefined) {
    const mode = promote.trim().toLowerCase();
    if (mode === 'true' || mode === 'full') {
      commands.push({
        kind: 'promote',
        annotation: PROMOTE_ANNOTATION,
        value: promote,
        request: { full: mode === 'full', by: COMMAND_SOURCE },
      });
    } else {
      commands.push({
        kind: 'unreadable',
        command: 'promote',
        annotation: PROMOTE_ANNOTATION,
        value: promote,
        problem:
          `annotation ${PROMOTE_ANNOTATION}=${JSON.stringify(promote)} is not understood; set it to "true" to ` +
          'end the current pause, or "full" to skip every remaining step',
      });
    }
  }
  return commands;
}

/**
 * Temporal keeps an Update's outcome under its ID, so asking again with the same ID (after a timeout,
 * a crash, or from a second bridge) does not promote twice. The ID names the annotation, its value and
 * when it was set; a user who sets it again later sends a new command.
 */
export function commandUpdateId(annotation: string, value: string, setAt: string): string {
  return `${annotation}=${value}@${setAt}`;
}

/**
 * When the annotation was last set, as the apiserver records it in managedFields: every bridge, and a
 * bridge after a restart, reads the same time, where a resourceVersion moves with every other change.
 */
export function annotationSetAt(managedFields: unknown, annotation: string): string | undefined {
  return lastWriterOf(managedFields, ['f:metadata', 'f:annotations', `f:${annotation}`])?.time;
}

/** JSON-pointer escaping of a key, as in `/metadata/annotations/siirto.dev~1promote`. */
export function annotationPointer(annotation: string): string {
  return `/metadata/annotations/${annotation.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/**
 * Removes an annotation from a Rollout only if it still holds `value`: a user who annotated again
 * meanwhile keeps the new value, which the next reconcile handles. False when the Rollout is gone
 * (404) or the value changed (422: the patch's `test` failed).
 */
export async function removeAnnotationIfUnchanged(
  kube: KubeClients,
  rollout: RolloutRef,
  annotation: string,
  value: string,
): Promise<boolean> {
  const path = annotationPointer(annotation);
  try {
    await kube.custom.patchNamespacedCustomObject(
      {
        group: ROLLOUT_GROUP,
        version: ROLLOUT_VERSION,
        plural: ROLLOUT_PLURAL,
        namespace: rollout.namespace,
        name: rollout.name,
        body: [
          { op: 'test', path, value },
          { op: 'remove', path },
        ],
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );
    return true;
  } catch (error) {
    const status = apiStatus(error);
    if (status === 404 || status === 422) return false;
    throw error;
  }
}

export interface CommandTarget {
  rollout: RolloutRef;
  resourceVersion: string;
  annotations?: Record<string, string>;
  /** The Rollout's metadata.managedFields, which tell when each annotation was set. */
  managedFields?: unknown;
  /** The revision commands go to; undefined when the Rollout has none yet (it was never valid). */
  revision?: number;
  /** Its run, as the status recorded it (revisions.ts): perhaps an ID from before SIIRTO_CLUSTER_ID was set. */
  workflowId?: string;
  /**
   * Set when the revision's run ended without a verdict: a retry starts it anew rather than going to
   * it. Undefined result: the Rollout changed meanwhile, and the annotation waits for the next reconcile.
   */
  rerun?: (request: RetryRequest) => Promise<{ accepted: boolean; message: string } | undefined>;
}

const CAPITALIZED = { promote: 'Promote', abort: 'Abort', retry: 'Retry', conclude: 'Conclude' } as const;

/** An Update that got no answer in time; the annotation stays and the delivery is tried again later. */
export class CommandNotDeliveredError extends Error {
  override name = 'CommandNotDeliveredError';
}

export class AnnotationCommandDelivery {
  /** Where each annotation value was first seen, so retries reuse its update ID. */
  private readonly firstSeen = new Map<string, string>();

  constructor(
    private readonly kube: KubeClients,
    private readonly client: Client,
    private readonly log: Logger,
    private readonly updateTimeoutMs = 10_000,
    /** Approvals of the fleet release a Rollout belongs to (fleet-approval.ts), sent to the release. */
    private readonly fleetApprovals?: FleetApprovalDelivery,
  ) {}

  /** Delivers every command annotation on the Rollout; throws CommandNotDeliveredError when one must wait. */
  async deliver(target: CommandTarget): Promise<void> {
    await this.fleetApprovals?.deliver(target);
    const commands = annotationCommands(target.annotations);
    this.forgetRemoved(target.rollout, commands);
    for (const command of commands) await this.deliverOne(target, command);
  }

  private async deliverOne(target: CommandTarget, command: AnnotationCommand): Promise<void> {
    const { rollout } = target;
    const label = command.kind === 'unreadable' ? command.command : command.kind;
    const rejected = `${CAPITALIZED[label]}Rejected`;
    if (command.kind === 'unreadable') {
      await this.event(rollout, 'Warning', rejected, command.problem);
      await this.removeAnnotation(target, command);
      return;
    }
    if (target.revision === undefined) {
      await this.event(
        rollout,
        'Warning',
        rejected,
        `${command.annotation}: Rollout ${rollout.namespace}/${rollout.name} has no revision to ${label} yet; ` +
          'fix what its Valid condition names first',
      );
      await this.removeAnnotation(target, command);
      return;
    }
    if (command.kind === 'retry' && target.rerun) {
      const outcome = await target.rerun(command.request);
      if (!outcome) return;
      await this.event(
        rollout,
        outcome.accepted ? 'Normal' : 'Warning',
        outcome.accepted ? 'RetryRequested' : rejected,
        `retry by ${command.request.by} ${outcome.accepted ? 'accepted' : 'refused'}: ${outcome.message} ` +
          `(from annotation ${command.annotation})`,
      );
      await this.removeAnnotation(target, command);
      return;
    }
    const workflowId =
      target.workflowId ?? rolloutWorkflowId(rollout.namespace, rollout.name, target.revision);
    const seenKey = `${rollout.uid} ${command.annotation}=${command.value}`;
    // Without managedFields (stripped by some tooling), the first resourceVersion seen stands in.
    const seenAt = this.firstSeen.get(seenKey) ?? target.resourceVersion;
    this.firstSeen.set(seenKey, seenAt);
    const setAt = annotationSetAt(target.managedFields, command.annotation) ?? `rv${seenAt}`;
    const updateId = commandUpdateId(command.annotation, command.value, setAt);
    const log = this.log.with({
      namespace: rollout.namespace,
      name: rollout.name,
      revision: target.revision,
      workflowId,
      annotation: command.annotation,
      updateId,
    });

    try {
      const handle = this.client.workflow.getHandle(workflowId);
      const deadline = Date.now() + this.updateTimeoutMs;
      await this.client.withDeadline(deadline, async () => {
        if (command.kind === 'promote') {
          await handle.executeUpdate(promoteUpdate, { args: [command.request], updateId });
        } else if (command.kind === 'abort') {
          await handle.executeUpdate(abortUpdate, { args: [command.request], updateId });
        } else if (command.kind === 'conclude') {
          await handle.executeUpdate(concludeUpdate, { args: [command.request], updateId });
        } else {
          await handle.executeUpdate(retryUpdate, { args: [command.request], updateId });
        }
      });
      log.info(`${label} delivered`);
      await this.event(
        rollout,
        'Normal',
        `${CAPITALIZED[label]}Requested`,
        `${describeCommand(command)} accepted by ${workflowId} (from annotation ${command.annotation})`,
      );
    } catch (error) {
      if (isTimeout(error)) {
        log.warn(`${label} not answered in time; the annotation stays and is delivered again later`, {
          error,
        });
        throw new CommandNotDeliveredError(
          `${workflowId} did not answer ${command.annotation} within ${this.updateTimeoutMs} ms; is a Siirto worker running?`,
        );
      }
      const reason =
        error instanceof WorkflowUpdateFailedError
          ? (error.cause?.message ?? error.message)
          : error instanceof WorkflowNotFoundError
            ? `${workflowId} is not running, so there is nothing to ${label}`
            : undefined;
      if (reason === undefined) throw error;
      log.warn(`${label} refused`, { reason });
      await this.event(rollout, 'Warning', rejected, `${describeCommand(command)} refused: ${reason}`);
    }
    await this.removeAnnotation(target, command);
  }

  private forgetRemoved(rollout: RolloutRef, present: AnnotationCommand[]): void {
    const keep = new Set(present.map((command) => `${rollout.uid} ${command.annotation}=${command.value}`));
    for (const key of this.firstSeen.keys()) {
      if (key.startsWith(`${rollout.uid} `) && !keep.has(key)) this.firstSeen.delete(key);
    }
  }

  /** The watch brings the Rollout as it is now when the annotation changed, and delivers the new value then. */
  private async removeAnnotation(target: CommandTarget, command: AnnotationCommand): Promise<void> {
    if (!(await removeAnnotationIfUnchanged(this.kube, target.rollout, command.annotation, command.value)))
      this.log.info('annotation changed before it could be removed', {
        namespace: target.rollout.namespace,
        name: target.rollout.name,
        annotation: command.annotation,
      });
  }

  private async event(rollout: RolloutRef, type: 'Normal' | 'Warning', reason: string, message: string) {
    await recordRolloutEvent(this.kube, { rollout, type, reason, message });
  }
}

function describeCommand(command: Exclude<AnnotationCommand, { kind: 'unreadable' }>): string {
  switch (command.kind) {
    case 'promote':
      return command.request.full ? 'full promotion' : 'promotion';
    case 'abort':
      return command.request.reason ? `abort (${command.request.reason})` : 'abort';
    case 'retry':
      return 'retry';
    case 'conclude':
      return `conclusion with winner ${command.request.winner}`;
  }
}

/** An Update that got no answer in time (the deadline passed, or the call was cancelled). */
export function isTimeout(error: unknown): boolean {
  return (
    error instanceof WorkflowUpdateRPCTimeoutOrCancelledError ||
    isGrpcDeadlineError(error) ||
    isGrpcCancelledError(error)
  );
}
