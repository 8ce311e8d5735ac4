import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { recordRolloutEvent } from '../activities/rollout-events';
import type { KubeClients } from '../kubernetes/client';
import { isNotFound } from '../kubernetes/errors';
import { RETRY_ANNOTATION } from '../kubernetes/labels';
import { mergePatch } from '../kubernetes/merge-patch';
import type { Logger } from '../observability/log';
import { ROLLOUT_GROUP, ROLLOUT_PLURAL, ROLLOUT_VERSION, type RolloutStatus } from '../schemas/rollout';
import {
  abortUpdate,
  promoteUpdate,
  retryUpdate,
  setWeightUpdate,
  type RolloutRef,
  type RolloutState,
} from '../workflows/rollout-api';
import { isTimeout } from './annotation-commands';
import type { HttpCommandRequest } from './http-command-request';
import { endedWithoutVerdict } from './runs-without-verdict';

/**
 * Hands a command that came over HTTP to the Rollout's current run as a Temporal Update, whose answer
 * is the command's: accepted with the rollout's state, or refused with the workflow's reason. The
 * request ID is the Update ID (under the client's name), so a request sent again, after a timeout or
 * a lost answer, gets the first answer and acts once. Each answer is recorded as an Event on the
 * Rollout, naming who sent it.
 */

/** What the endpoint answers, with its HTTP status. */
export type CommandOutcome =
  | { status: 200; body: CommandAnswer & { accepted: true; rollout: RolloutSummary } }
  /** A retry of a run that ended without a verdict, handed to the bridge's reconcile. */
  | { status: 202; body: CommandAnswer & { accepted: true } }
  | { status: 409; body: CommandAnswer & { accepted: false; reason: string } }
  | { status: 404 | 504; body: { error: string } };

interface CommandAnswer {
  requestId: string;
  command: string;
  by: string;
  workflowId?: string;
  message: string;
}

/** The part of the workflow's state an outside system acts on. */
export interface RolloutSummary {
  phase: RolloutState['phase'];
  revision: number;
  currentStepIndex: number;
  stepCount: number;
  paused: boolean;
  weights: RolloutState['weights'];
  message: string;
}

interface StoredRollout {
  metadata: { name: string; namespace: string; uid: string; annotations?: Record<string, string> };
  status?: RolloutStatus;
}

const CAPITALIZED = { promote: 'Promote', abort: 'Abort', retry: 'Retry', setWeight: 'SetWeight' } as const;

export class HttpCommandDelivery {
  constructor(
    private readonly kube: KubeClients,
    private readonly client: Client,
    private readonly log: Logger,
    private readonly updateTimeoutMs: number,
    /** The one namespace this bridge watches, if it watches one: others are not its business. */
    private readonly watchNamespace?: string,
  ) {}

  /** `sender` is the client the token belongs to; the body's `by`, if any, says for whom it sends. */
  async deliver(
    target: { namespace: string; name: string },
    request: HttpCommandRequest,
    sender: string,
  ): Promise<CommandOutcome> {
    const by = request.by ? `${request.by} via ${sender}` : sender;
    const described = `Rollout ${target.namespace}/${target.name}`;
    if (this.watchNamespace !== undefined && target.namespace !== this.watchNamespace) {
      return notFound(`${described} is not in namespace ${this.watchNamespace}, the one this bridge watches`);
    }
    const stored = await this.read(target);
    if (!stored) return notFound(`${described} not found; check the namespace and name in the path`);
    const rollout: RolloutRef = { namespace: target.namespace, name: target.name, uid: stored.metadata.uid };
    const answer = { requestId: request.requestId, command: request.command, by };
    const workflowId = stored.status?.workflowId;
    if (!workflowId) {
      const reason = `${described} has no revision running (phase ${stored.status?.phase ?? 'none'}); fix what its Valid condition names first`;
      return this.refused(rollout, request, answer, reason);
    }
    if (request.command === 'retry' && endedWithoutVerdict(stored.status))
      return this.retryAnew(rollout, answer);

    const log = this.log.with({
      ...target,
      workflowId,
      command: request.command,
      requestId: request.requestId,
      by,
    });
    const handle = this.client.workflow.getHandle(workflowId);
    // Under the client's name: one client's request ID never meets another's answer.
    const updateId = `http:${sender}:${request.requestId}`;
    let state: RolloutState;
    try {
      state = await this.client.withDeadline(Date.now() + this.updateTimeoutMs, () => {
        switch (request.command) {
          case 'promote':
            return handle.executeUpdate(promoteUpdate, { args: [{ full: request.full, by }], updateId });
          case 'abort':
            return handle.executeUpdate(abortUpdate, { args: [{ reason: request.reason, by }], updateId });
          case 'retry':
            return handle.executeUpdate(retryUpdate, { args: [{ by }], updateId });
          case 'setWeight':
            return handle.executeUpdate(setWeightUpdate, {
              args: [{ weight: request.weight, by }],
              updateId,
            });
        }
      });
    } catch (error) {
      if (isTimeout(error)) {
        log.warn('command not answered in time');
        return {
          status: 504,
          body: {
            error:
              `${workflowId} did not answer within ${this.updateTimeoutMs / 1_000} s; send the same request ` +
              '(the same requestId) again: it acts once. Is a Siirto worker running?',
          },
        };
      }
      const reason =
        error instanceof WorkflowUpdateFailedError
          ? refusal(request, error.cause?.message ?? error.message)
          : error instanceof WorkflowNotFoundError
            ? `${workflowId} is not running, so there is nothing to ${request.command}`
            : undefined;
      if (reason === undefined) throw error;
      log.info('command refused', { reason });
      return this.refused(rollout, request, { ...answer, workflowId }, reason);
    }
    log.info('command accepted');
    const message = `${describe(request)} by ${by} accepted by ${workflowId}`;
    await this.event(
      rollout,
      'Normal',
      `${CAPITALIZED[request.command]}Requested`,
      `${message} (over HTTP, request ${request.requestId})`,
    );
    return {
      status: 200,
      body: { ...answer, accepted: true, workflowId, message, rollout: summary(state) },
    };
  }

  private async refused(
    rollout: RolloutRef,
    request: HttpCommandRequest,
    answer: CommandAnswer | Omit<CommandAnswer, 'message'>,
    reason: string,
  ): Promise<CommandOutcome> {
    const message = `${describe(request)} by ${answer.by} refused: ${reason}`;
    await this.event(
      rollout,
      'Warning',
      `${CAPITALIZED[request.command]}Rejected`,
      `${message} (over HTTP, request ${request.requestId})`,
    );
    return { status: 409, body: { ...answer, accepted: false, reason, message } };
  }

  /**
   * A run that ended without a verdict has no one left to answer; only the bridge starts runs. So the
   * retry goes through the retry annotation, as `siirto retry` sends it, which the reconcile takes.
   */
  private async retryAnew(
    rollout: RolloutRef,
    answer: Omit<CommandAnswer, 'message'>,
  ): Promise<CommandOutcome> {
    await this.kube.custom.patchNamespacedCustomObject(
      {
        group: ROLLOUT_GROUP,
        version: ROLLOUT_VERSION,
        plural: ROLLOUT_PLURAL,
        namespace: rollout.namespace,
        name: rollout.name,
        body: { metadata: { annotations: { [RETRY_ANNOTATION]: answer.by } } },
      },
      mergePatch,
    );
    const message =
      `the run ended without a verdict: the retry is handed to the bridge, which starts it again from its ` +
      `first step; follow it with \`kubectl events --for rollouts.siirto.dev/${rollout.name}\``;
    return { status: 202, body: { ...answer, accepted: true, message } };
  }

  private async read(target: { namespace: string; name: string }): Promise<StoredRollout | undefined> {
    try {
      return (await this.kube.custom.getNamespacedCustomObject({
        group: ROLLOUT_GROUP,
        version: ROLLOUT_VERSION,
        plural: ROLLOUT_PLURAL,
        ...target,
      })) as StoredRollout;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private async event(rollout: RolloutRef, type: 'Normal' | 'Warning', reason: string, message: string) {
    try {
      await recordRolloutEvent(this.kube, { rollout, type, reason, message });
    } catch (error) {
      // The command's answer stands without its Event: the workflow's history records it too.
      this.log.warn('could not record the command as an Event', { ...rollout, reason, error });
    }
  }
}

/** The workflow's reason, said for a user where the SDK's words would puzzle one. */
function refusal(request: HttpCommandRequest, message: string): string {
  // Only a canary's run takes weights: a blue-green's has no handler for them.
  if (request.command === 'setWeight' && message.startsWith('No registered handler for update')) {
    return 'this rollout takes no weight from outside: only a canary step pause: {external: true} does';
  }
  return message;
}

function notFound(error: string): CommandOutcome {
  return { status: 404, body: { error } };
}

function describe(request: HttpCommandRequest): string {
  switch (request.command) {
    case 'promote':
      return request.full ? 'full promotion' : 'promotion';
    case 'abort':
      return request.reason ? `abort (${request.reason})` : 'abort';
    case 'retry':
      return 'retry';
    case 'setWeight':
      return `weight ${request.weight}%`;
  }
}

function summary(state: RolloutState): RolloutSummary {
  const { phase, revision, currentStepIndex, stepCount, paused, weights, message } = state;
  return { phase, revision, currentStepIndex, stepCount, paused, weights, message };
}
