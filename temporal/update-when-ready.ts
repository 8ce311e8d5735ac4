import { randomUUID } from 'node:crypto';
import {
  isGrpcServiceError,
  ServiceError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';

export interface UpdateWhenReadyOptions {
  /** How long to keep asking a workflow that cannot take the Update yet. */
  deadlineMilliseconds?: number;
  /** The first wait between attempts; it doubles up to five seconds. */
  firstDelayMilliseconds?: number;
  sleep?: (milliseconds: number) => Promise<void>;
  now?: () => number;
}

/** gRPC status codes, fixed by the gRPC specification (Siirto does not depend on a gRPC library itself). */
const GRPC = { RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, UNAVAILABLE: 14 } as const;

const DEFAULT_DEADLINE_MILLISECONDS = 120_000;
const LONGEST_DELAY_MILLISECONDS = 5_000;

/**
 * Whether Temporal refused the Update only for now: the workflow's last task failed or timed out
 * (a worker under load, or restarting) and the server admits no Update until a retry of that task
 * completes, or the call itself timed out before the Update's outcome came back.
 */
export function isNotReadyYet(error: unknown): boolean {
  if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
  if (!(error instanceof ServiceError) || !isGrpcServiceError(error.cause)) return false;
  const { code } = error.cause;
  return (
    code === GRPC.UNAVAILABLE ||
    code === GRPC.RESOURCE_EXHAUSTED ||
    (code === GRPC.FAILED_PRECONDITION && /workflow task in failed state/i.test(error.cause.details))
  );
}

/**
 * Sends an Update and, while the workflow cannot take it yet, sends it again under the same Update
 * ID, so that an Update the server admitted before the answer was lost is applied once. Any other
 * error, and a refusal by the workflow itself, goes to the caller at once; after the deadline the last
 * "not ready" error does.
 */
export async function executeUpdateWhenReady<T>(
  send: (updateId: string) => Promise<T>,
  options: UpdateWhenReadyOptions = {},
): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const deadline = now() + (options.deadlineMilliseconds ?? DEFAULT_DEADLINE_MILLISECONDS);
  const updateId = randomUUID();
  let delay = options.firstDelayMilliseconds ?? 250;
  for (;;) {
    try {
      return await send(updateId);
    } catch (error) {
      if (!isNotReadyYet(error) || now() + delay > deadline) throw error;
      await sleep(delay);
      delay = Math.min(delay * 2, LONGEST_DELAY_MILLISECONDS);
    }
  }
}
