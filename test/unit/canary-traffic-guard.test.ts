import { canaryReadiness } from '../../activities/canary-traffic-guard';
import type { PodState } from '../../activities/pod-readiness';

type Condition = NonNullable<NonNullable<PodState['status']>['conditions']>[number];
type ContainerStatus = NonNullable<NonNullable<PodState['status']>['containerStatuses']>[number];

function pod(
  name: string,
  ready: Omit<Condition, 'type'>,
  { containers = [], deleting }: { containers?: ContainerStatus[]; deleting?: Date | string } = {},
): PodState {
  return {
    metadata: { name, ...(deleting ? { deletionTimestamp: deleting } : {}) },
    status: {
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Ready', ...ready },
      ],
      containerStatuses: containers,
    },
  };
}

const readyPod = (name: string) => pod(name, { status: 'True' });
const probeFailing = (name: string) =>
  pod(
    name,
    { status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [app]' },
    { containers: [{ name: 'app', state: {} }] },
  );

describe('whether the canary can serve its traffic', () => {
  it('can while one pod is Ready, however many are not', () => {
    const readiness = canaryReadiness([probeFailing('web-a'), readyPod('web-b'), probeFailing('web-c')]);

    expect(readiness).toEqual({ ready: true, readyPods: 1, message: '1 of 3 canary pods Ready' });
  });

  it('cannot when no pod is Ready, and says why the first pod that tells is not', () => {
    const readiness = canaryReadiness([probeFailing('web-a'), probeFailing('web-b')]);

    expect(readiness).toEqual({
      ready: false,
      readyPods: 0,
      message: '2 canary pods, none Ready: pod web-a: containers with unready status: [app]',
    });
  });

  it('does not count a pod being deleted, though its Ready condition is still True', () => {
    const readiness = canaryReadiness([
      pod('web-a', { status: 'True' }, { deleting: '2025-01-01T00:00:00Z' }),
    ]);

    expect(readiness).toEqual({
      ready: false,
      readyPods: 0,
      message: '1 canary pod, none Ready: pod web-a: being deleted',
    });
  });

  it('names a container waiting to run, as in a crash loop', () => {
    const crashLooping = pod(
      'web-a',
      { status: 'False', reason: 'ContainersNotReady' },
      {
        containers: [
          {
            name: 'app',
            state: {
              waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container' },
            },
          },
        ],
      },
    );

    expect(canaryReadiness([crashLooping]).message).toBe(
      '1 canary pod, none Ready: pod web-a: CrashLoopBackOff: back-off 10s restarting failed container',
    );
  });

  it('names a container that exited, with its exit code', () => {
    const exited = pod(
      'web-a',
      { status: 'False', reason: 'ContainersNotReady' },
      { containers: [{ name: 'app', state: { terminated: { reason: 'Error', exitCode: 137 } } }] },
    );

    expect(canaryReadiness([exited]).message).toBe(
      '1 canary pod, none Ready: pod web-a: container app exited with code 137 (Error)',
    );
  });

  it('passes over pods that give no reason to the first that does', () => {
    const silent: PodState = { metadata: { name: 'web-a' }, status: {} };

    expect(canaryReadiness([silent, probeFailing('web-b')]).message).toBe(
      '2 canary pods, none Ready: pod web-b: containers with unready status: [app]',
    );
    expect(canaryReadiness([silent]).message).toBe('1 canary pod, none Ready');
  });

  it('cannot with no pods at all', () => {
    expect(canaryReadiness([])).toEqual({ ready: false, readyPods: 0, message: 'no canary pods' });
  });
});
