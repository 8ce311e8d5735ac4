import { CancelledFailure } from '@temporalio/common';
import { ensureReplicaSet, scaleReplicaSet } from '../../activities/replica-sets';
import { isAvailable, waitForReplicaSetAvailable } from '../../activities/replica-set-availability';
import { isolate } from '../harness/isolation';
import { waitFor } from '../harness/wait';
import { activityKubeClients, createRollout, failureOf, runActivity } from './fixtures';

/** Pods no node will take: kwok's fake nodes carry no such label. */
const UNSCHEDULABLE = { nodeSelector: { 'siirto.dev/test-no-such-node': 'true' } };

describe('waiting for a revision to become available', () => {
  const scope = isolate('activity-wait');
  const kube = activityKubeClients();

  it('fails with ProgressDeadlineExceeded, saying how many pods were available and why not', async () => {
    const { ref, templateHash } = await createRollout(scope.namespace, 'stuck', { podSpec: UNSCHEDULABLE });
    await ensureReplicaSet(kube, { rollout: ref, revision: 1, templateHash, replicas: 2 });

    const startedAt = Date.now();
    const wait = runActivity(() =>
      waitForReplicaSetAvailable(kube, { rollout: ref, templateHash, replicas: 2, deadlineSeconds: 3 }),
    );
    const failure = await failureOf(wait.result);

    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(3_000);
    expect(Date.now() - startedAt).toBeLessThan(15_000);
    expect(failure.type).toBe('ProgressDeadlineExceeded');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(`ReplicaSet ${scope.namespace}/stuck-${templateHash}`);
    expect(failure.message).toContain('0 of 2 pods available after the progress deadline of 3s');
    expect(failure.message).toContain("didn't match Pod's node affinity/selector");
  });

  it('ends promptly with a cancellation when its activity is cancelled', async () => {
    const { ref, templateHash } = await createRollout(scope.namespace, 'cancelled', {
      podSpec: UNSCHEDULABLE,
    });
    await ensureReplicaSet(kube, { rollout: ref, revision: 1, templateHash, replicas: 1 });
    const wait = runActivity(() =>
      waitForReplicaSetAvailable(kube, { rollout: ref, templateHash, replicas: 1, deadlineSeconds: 600 }),
    );
    await waitFor('the wait to report progress', () => wait.heartbeats.length > 0);

    const cancelledAt = Date.now();
    wait.environment.cancel();
    const failure = await failureOf(wait.result);

    expect(failure).toBeInstanceOf(CancelledFailure);
    expect(Date.now() - cancelledAt).toBeLessThan(2_000);
  });

  it('keeps the deadline of the first attempt when Temporal retries it', async () => {
    const { ref, templateHash } = await createRollout(scope.namespace, 'retried', { podSpec: UNSCHEDULABLE });
    await ensureReplicaSet(kube, { rollout: ref, revision: 1, templateHash, replicas: 1 });
    const firstAttemptStartedAt = Date.now() - 120_000;

    const startedAt = Date.now();
    const retry = runActivity(
      () =>
        waitForReplicaSetAvailable(kube, { rollout: ref, templateHash, replicas: 1, deadlineSeconds: 60 }),
      {
        attempt: 2,
        heartbeatDetails: { startedAtMs: firstAttemptStartedAt, availableReplicas: 0, replicas: 1 },
      },
    );
    const failure = await failureOf(retry.result);

    expect(failure.type).toBe('ProgressDeadlineExceeded');
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(retry.heartbeats).toContainEqual(expect.objectContaining({ startedAtMs: firstAttemptStartedAt }));
  });

  it('notices pods that become available after it started waiting, following the ReplicaSet with a watch', async () => {
    const { ref, templateHash } = await createRollout(scope.namespace, 'growing');
    const { name } = await ensureReplicaSet(kube, { rollout: ref, revision: 1, templateHash, replicas: 0 });
    const wait = runActivity(() =>
      waitForReplicaSetAvailable(kube, { rollout: ref, templateHash, replicas: 2, deadlineSeconds: 60 }),
    );
    await waitFor('the wait to report progress', () => wait.heartbeats.length > 0);

    await scaleReplicaSet(kube, { rollout: ref, templateHash, replicas: 2 });

    expect(await wait.result).toEqual({ name, replicas: 2, availableReplicas: 2 });
    const seen = wait.heartbeats.map(
      (details) => (details as { availableReplicas: number }).availableReplicas,
    );
    expect(seen[0]).toBe(0);
    expect(seen).toContain(2);
  });
});

describe('when a ReplicaSet counts as available', () => {
  const replicaSet = (available: number | undefined, generation: number, observedGeneration: number) => ({
    metadata: { generation },
    status: { availableReplicas: available, observedGeneration },
  });

  it('needs the wanted number of available pods', () => {
    expect(isAvailable(replicaSet(2, 1, 1), 3)).toBe(false);
    expect(isAvailable(replicaSet(3, 1, 1), 3)).toBe(true);
  });

  it('needs the controller to have observed the latest spec, so a fresh scale is not taken as done', () => {
    expect(isAvailable(replicaSet(3, 2, 1), 3)).toBe(false);
  });

  it('at zero replicas, needs no pod left available', () => {
    expect(isAvailable(replicaSet(undefined, 4, 4), 0)).toBe(true);
    expect(isAvailable(replicaSet(1, 4, 4), 0)).toBe(false);
  });
});
