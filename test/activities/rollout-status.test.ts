import { mergeConditions, writeRolloutStatus } from '../../activities/rollout-status';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { waitFor } from '../harness/wait';
import { activityKubeClients, createRollout, failureOf } from './fixtures';

interface ShownRollout {
  metadata: { resourceVersion: string };
  status?: {
    phase?: string;
    message?: string;
    currentStepIndex?: number;
    weights?: { stable: number; canary: number };
    conditions?: { type: string; status: string; reason?: string; lastTransitionTime?: string }[];
  };
}

describe("writing a Rollout's status", () => {
  const scope = isolate('activity-status');
  const kube = activityKubeClients();
  const show = async (name: string): Promise<ShownRollout> =>
    JSON.parse(
      await runOrThrow('kubectl', ['get', 'rollouts.siirto.dev', name, '-n', scope.namespace, '-o', 'json']),
    );
  const conditionOf = (rollout: ShownRollout, type: string) =>
    rollout.status?.conditions?.find((c) => c.type === type);

  it('shows in kubectl, merging fields and conditions into what is there', async () => {
    const { ref } = await createRollout(scope.namespace, 'shop');

    await writeRolloutStatus(kube, {
      rollout: ref,
      revision: 1,
      status: {
        phase: 'Progressing',
        currentStepIndex: 0,
        stepCount: 3,
        weights: { stable: 100, canary: 0 },
      },
      condition: { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' },
    });
    await writeRolloutStatus(kube, {
      rollout: ref,
      revision: 1,
      status: { currentStepIndex: 1, stepCount: 3, weights: { stable: 80, canary: 20 } },
      condition: { type: 'Paused', status: 'False', reason: 'Running' },
    });

    const shown = await show('shop');
    expect(shown.status).toMatchObject({
      phase: 'Progressing',
      currentStepIndex: 1,
      step: '2/3',
      weights: { stable: 80, canary: 20 },
    });
    expect(shown.status?.conditions?.map((condition) => condition.type)).toEqual(['Progressing', 'Paused']);
    const table = await runOrThrow('kubectl', ['get', 'rollouts.siirto.dev', 'shop', '-n', scope.namespace]);
    // Steps as people count them: the second of three.
    expect(table).toMatch(/shop\s+Progressing\s+2\/3\s+20/);
  });

  it("keeps a condition's lastTransitionTime while its status stays, and moves it when the status changes", async () => {
    const { ref } = await createRollout(scope.namespace, 'transitions');
    await writeRolloutStatus(kube, {
      rollout: ref,
      revision: 1,
      status: {},
      condition: { type: 'Available', status: 'False', reason: 'Scaling' },
    });
    const first = conditionOf(await show('transitions'), 'Available');
    expect(first?.lastTransitionTime).toEqual(expect.any(String));

    // Timestamps have one-second resolution: wait until a change would show.
    await waitFor(
      'a new second',
      () => new Date().toISOString().slice(0, 19) !== first?.lastTransitionTime?.slice(0, 19),
    );
    await writeRolloutStatus(kube, {
      rollout: ref,
      revision: 1,
      status: {},
      condition: { type: 'Available', status: 'False', reason: 'StillScaling' },
    });
    const same = conditionOf(await show('transitions'), 'Available');
    expect(same).toMatchObject({ reason: 'StillScaling', lastTransitionTime: first?.lastTransitionTime });

    await writeRolloutStatus(kube, {
      rollout: ref,
      revision: 1,
      status: {},
      condition: { type: 'Available', status: 'True', reason: 'AllPodsReady' },
    });
    const changed = conditionOf(await show('transitions'), 'Available');
    expect(changed?.status).toBe('True');
    expect(changed?.lastTransitionTime).not.toBe(first?.lastTransitionTime);
  });

  it('does not write when nothing changes, so the resourceVersion stays', async () => {
    const { ref } = await createRollout(scope.namespace, 'unchanged');
    const write = () =>
      writeRolloutStatus(kube, {
        rollout: ref,
        revision: 1,
        status: { phase: 'Paused', message: 'waiting for a promote' },
        condition: { type: 'Paused', status: 'True', reason: 'PausedByStep' },
      });
    await write();
    const before = await show('unchanged');

    await write();

    expect((await show('unchanged')).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('keeps the conditions of two writers writing at the same time', async () => {
    const { ref } = await createRollout(scope.namespace, 'two-writers');
    const types = ['Progressing', 'Paused', 'Available', 'TrafficShifted'];

    await Promise.all(
      types.map((type) =>
        writeRolloutStatus(kube, {
          rollout: ref,
          revision: 1,
          status: {},
          condition: { type, status: 'True' },
        }),
      ),
    );

    const shown = await show('two-writers');
    expect(shown.status?.conditions?.map((condition) => condition.type).sort()).toEqual([...types].sort());
  });

  it('drops a write from a revision older than the one the status records', async () => {
    const { ref } = await createRollout(scope.namespace, 'superseded');
    await writeRolloutStatus(kube, {
      rollout: ref,
      revision: 3,
      status: { revision: 3, phase: 'Progressing' },
    });
    await writeRolloutStatus(kube, {
      rollout: ref,
      revision: 2,
      status: { phase: 'Paused', message: 'late' },
    });
    const shown = await show('superseded');
    expect(shown.status).toMatchObject({ revision: 3, phase: 'Progressing' });
    expect(shown.status).not.toHaveProperty('message');
  });

  it('fails with RolloutGone once the Rollout is deleted', async () => {
    const { ref } = await createRollout(scope.namespace, 'deleted');
    await runOrThrow('kubectl', [
      'delete',
      'rollouts.siirto.dev',
      'deleted',
      '-n',
      scope.namespace,
      '--wait=true',
    ]);

    const failure = await failureOf(
      writeRolloutStatus(kube, { rollout: ref, revision: 1, status: { phase: 'Healthy' } }),
    );

    expect(failure.type).toBe('RolloutGone');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(`Rollout ${scope.namespace}/deleted`);
  });
});

describe('merging conditions by type', () => {
  const earlier = '2030-01-01T00:00:00Z';
  const now = '2030-01-01T00:05:00Z';

  it('replaces the condition of the same type and appends new types, keeping the others', () => {
    const merged = mergeConditions(
      [
        { type: 'Progressing', status: 'True', lastTransitionTime: earlier },
        { type: 'Paused', status: 'False', lastTransitionTime: earlier },
      ],
      [
        { type: 'Paused', status: 'True', reason: 'PausedByStep' },
        { type: 'Available', status: 'True' },
      ],
      now,
    );

    expect(merged).toEqual([
      { type: 'Progressing', status: 'True', lastTransitionTime: earlier },
      { type: 'Paused', status: 'True', reason: 'PausedByStep', lastTransitionTime: now },
      { type: 'Available', status: 'True', lastTransitionTime: now },
    ]);
  });

  it('keeps lastTransitionTime when only the reason or message changes', () => {
    const merged = mergeConditions(
      [{ type: 'Progressing', status: 'True', reason: 'Step0', lastTransitionTime: earlier }],
      [{ type: 'Progressing', status: 'True', reason: 'Step1', message: 'at step 1' }],
      now,
    );

    expect(merged).toEqual([
      {
        type: 'Progressing',
        status: 'True',
        reason: 'Step1',
        message: 'at step 1',
        lastTransitionTime: earlier,
      },
    ]);
  });
});
