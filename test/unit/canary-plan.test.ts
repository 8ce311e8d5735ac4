import { canaryReplicasFor, describeStep, weightPath } from '../../workflows/strategies/canary-plan';

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

  it('describes steps as the UI shows them', () => {
    expect(describeStep({ setWeight: 20 })).toBe('20%');
    expect(describeStep({ pause: { duration: '300s' } })).toBe('pause 5m');
    expect(describeStep({ pause: {} })).toBe('pause until promoted');
  });

  it('summarises the weights a canary passes through, ending at 100', () => {
    expect(weightPath([{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { setWeight: 100 }])).toBe(
      '20→50→100',
    );
    expect(weightPath([])).toBe('100');
  });
});
