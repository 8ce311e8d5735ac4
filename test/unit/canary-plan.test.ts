import {
  canaryPods,
  canaryReplicasFor,
  describeStep,
  weightPath,
} from '../../workflows/strategies/canary-plan';

describe('canary planning', () => {
  it.each([
    [3, 20, 1],
    [3, 50, 2],
    [3, 100, 3],
    [10, 5, 1],
    [10, 0, 0],
    [0, 50, 0],
  ])('%d replicas at %d%% need %d canary pods', (replicas, weight, pods) => {
    expect(canaryReplicasFor(replicas, weight)).toBe(pods);
  });

  it.each([
    ['no setCanaryScale', undefined, [0, 1, 2, 3]],
    ['replicas 2', { replicas: 2 }, [2, 2, 2, 3]],
    ['replicas 0, one pod while it has traffic', { replicas: 0 }, [0, 1, 1, 3]],
    ['weight 50 (of 3 replicas)', { weight: 50 }, [2, 2, 2, 3]],
    ['matchTrafficWeight', { matchTrafficWeight: true as const }, [0, 1, 2, 3]],
  ])('with %s, the canary of 3 replicas has pods at 0/20/50/100%% of traffic: %j', (_name, scale, pods) => {
    expect([0, 20, 50, 100].map((share) => canaryPods(3, share, scale))).toEqual(pods);
  });

  it('describes steps as the UI shows them', () => {
    expect(describeStep({ setWeight: 20 })).toBe('20%');
    expect(describeStep({ pause: { duration: '300s' } })).toBe('pause 5m');
    expect(describeStep({ pause: { duration: 90 } })).toBe('pause 1m30s');
    expect(describeStep({ pause: {} })).toBe('pause until promoted');
    expect(describeStep({ pause: { external: true } })).toBe('weight set from outside until promoted');
    expect(
      describeStep({
        setHeaderRoute: {
          name: 'beta',
          match: [
            { headerName: 'x-beta', headerValue: { exact: '1' } },
            { headerName: 'x-team', headerValue: { prefix: 'web' } },
          ],
        },
      }),
    ).toBe('header route beta: x-beta=1, x-team starting web to canary');
    expect(describeStep({ setHeaderRoute: { name: 'beta' } })).toBe('remove header route beta');
    expect(
      describeStep({
        setMirrorRoute: { name: 'shadow', percentage: 25, match: [{ path: { prefix: '/a' } }] },
      }),
    ).toBe('mirror route shadow: 25% of matched requests to canary');
    expect(describeStep({ setMirrorRoute: { name: 'shadow' } })).toBe('remove mirror route shadow');
    expect(describeStep({ setCanaryScale: { replicas: 1 } })).toBe('canary scale 1 pod');
    expect(describeStep({ setCanaryScale: { weight: 50 } })).toBe('canary scale 50% of replicas');
    expect(describeStep({ setCanaryScale: { matchTrafficWeight: true } })).toBe(
      'canary scale with traffic weight',
    );
  });

  it('summarises the weights a canary passes through, ending at 100', () => {
    expect(weightPath([{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { setWeight: 100 }])).toBe(
      '20→50→100',
    );
    expect(weightPath([])).toBe('100');
  });

  it('marks where header and mirror routes are set (+) and removed (-) on the way', () => {
    const beta = { name: 'beta', match: [{ headerName: 'x-beta', headerValue: { exact: '1' } }] };
    expect(
      weightPath([
        { setWeight: 20 },
        { setHeaderRoute: beta },
        { pause: {} },
        { setHeaderRoute: { name: 'beta' } },
        { setWeight: 50 },
      ]),
    ).toBe('20→+beta→-beta→50→100');
  });
});
