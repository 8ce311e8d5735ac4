import { recordRolloutEvent } from '../../activities/rollout-events';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { activityKubeClients, createRollout } from './fixtures';

interface ShownEvent {
  type: string;
  reason: string;
  message: string;
  count: number;
  source?: { component?: string };
  reportingComponent?: string;
  involvedObject: { apiVersion: string; kind: string; name: string; namespace: string; uid: string };
}

describe('recording Events on a Rollout', () => {
  const scope = isolate('activity-events');
  const kube = activityKubeClients();
  const eventsOf = async (uid: string): Promise<ShownEvent[]> =>
    JSON.parse(
      await runOrThrow('kubectl', [
        'get',
        'events',
        '-n',
        scope.namespace,
        '--field-selector',
        `involvedObject.uid=${uid}`,
        '-o',
        'json',
      ]),
    ).items;

  it('shows them in kubectl describe rollout and kubectl get events, from siirto', async () => {
    const { ref } = await createRollout(scope.namespace, 'shop');

    await recordRolloutEvent(kube, {
      rollout: ref,
      type: 'Normal',
      reason: 'WeightSet',
      message: 'canary weight set to 20%',
    });
    await recordRolloutEvent(kube, {
      rollout: ref,
      type: 'Warning',
      reason: 'ProgressDeadlineExceeded',
      message: '0 of 2 pods available',
    });

    const events = await eventsOf(ref.uid);
    expect(events).toHaveLength(2);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'Normal',
        reason: 'WeightSet',
        message: 'canary weight set to 20%',
        count: 1,
        source: { component: 'siirto' },
        reportingComponent: 'siirto',
        involvedObject: expect.objectContaining({
          apiVersion: 'siirto.dev/v1alpha1',
          kind: 'Rollout',
          name: 'shop',
          namespace: scope.namespace,
          uid: ref.uid,
        }),
      }),
    );
    const described = await runOrThrow('kubectl', [
      'describe',
      'rollouts.siirto.dev',
      'shop',
      '-n',
      scope.namespace,
    ]);
    expect(described).toMatch(/Normal\s+WeightSet\s+.*siirto\s+canary weight set to 20%/);
    expect(described).toMatch(/Warning\s+ProgressDeadlineExceeded\s+.*0 of 2 pods available/);
  });

  it('counts the same event again on one Event, as a retried activity records it', async () => {
    const { ref } = await createRollout(scope.namespace, 'retried');
    const event = { rollout: ref, type: 'Normal' as const, reason: 'Promoted', message: 'promoted by alice' };

    await recordRolloutEvent(kube, event);
    await Promise.all([recordRolloutEvent(kube, event), recordRolloutEvent(kube, event)]);

    const events = await eventsOf(ref.uid);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ reason: 'Promoted', count: 3 });
  });
});
