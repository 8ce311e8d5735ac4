import { ServiceError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { executeUpdateWhenReady, isNotReadyYet } from '../../temporal/update-when-ready';

/** An error as @temporalio/client hands it on from a gRPC call the server refused. */
const refusedByServer = (code: number, details: string) =>
  new ServiceError('Workflow Update failed', {
    cause: Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} }),
  });
const taskInFailedState = () =>
  refusedByServer(9, 'Unable to perform workflow execution update due to Workflow Task in failed state.');

describe('sending an Update to a workflow that may not take it yet', () => {
  const clock = () => {
    let time = 0;
    return { now: () => time, sleep: async (ms: number) => void (time += ms) };
  };

  it('sends it again under the same Update ID while the workflow task is in a failed state', async () => {
    const ids: string[] = [];
    const result = await executeUpdateWhenReady(async (updateId) => {
      ids.push(updateId);
      if (ids.length < 3) throw taskInFailedState();
      return 'accepted';
    }, clock());
    expect(result).toBe('accepted');
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(1);
  });

  it('hands a refusal by the workflow itself to the caller at once', async () => {
    let calls = 0;
    const refusal = new WorkflowUpdateFailedError(
      'Workflow Update failed',
      ApplicationFailure.create({ message: 'not paused' }),
    );
    await expect(
      executeUpdateWhenReady(async () => {
        calls++;
        throw refusal;
      }, clock()),
    ).rejects.toBe(refusal);
    expect(calls).toBe(1);
  });

  it('gives up with the last error once the deadline has passed', async () => {
    const times = clock();
    let calls = 0;
    await expect(
      executeUpdateWhenReady(
        async () => {
          calls++;
          throw taskInFailedState();
        },
        { ...times, deadlineMilliseconds: 10_000 },
      ),
    ).rejects.toThrow('Workflow Update failed');
    // 250 + 500 + 1000 + 2000 + 4000 ms of waits fit in ten seconds; the next 5 s would not.
    expect(calls).toBe(6);
    expect(times.now()).toBeLessThanOrEqual(10_000);
  });

  it('counts an unavailable server as not ready, but not a precondition that is something else', () => {
    expect(isNotReadyYet(taskInFailedState())).toBe(true);
    expect(isNotReadyYet(refusedByServer(14, 'connection refused'))).toBe(true);
    expect(isNotReadyYet(refusedByServer(9, 'update rejected: workflow is closing'))).toBe(false);
    expect(isNotReadyYet(new Error('Workflow Task in failed state'))).toBe(false);
  });
});
