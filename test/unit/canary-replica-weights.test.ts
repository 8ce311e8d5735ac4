import {
  nextPodCounts,
  podCountPath,
  podsForWeight,
  resolveIntOrPercent,
  surgeLimits,
  weightsOfReadyPods,
  type PodCounts,
  type SurgeLimits,
} from '../../workflows/strategies/canary-replica-weights';

/** Checks every change of a path keeps within the limits, as the workflow applies it. */
function expectWithinLimits(
  replicas: number,
  limits: SurgeLimits,
  start: PodCounts,
  path: PodCounts[],
): void {
  let at = start;
  for (const next of path) {
    expect(next.stable + next.canary).toBeLessThanOrEqual(replicas + limits.maxSurge);
    // Pods removed go at once; pods added count only once Ready, which the workflow waits for.
    const readyDuringChange = Math.min(at.stable, next.stable) + Math.min(at.canary, next.canary);
    expect(readyDuringChange).toBeGreaterThanOrEqual(
      Math.min(replicas - limits.maxUnavailable, at.stable + at.canary),
    );
    at = next;
  }
}

describe('a canary without a traffic router sizes pods for its weights', () => {
  it.each([
    [10, 20, { canary: 2, stable: 8 }],
    [5, 20, { canary: 1, stable: 4 }],
    [3, 20, { canary: 1, stable: 2 }],
    [3, 50, { canary: 2, stable: 1 }],
    [1, 1, { canary: 1, stable: 0 }],
    [1, 0, { canary: 0, stable: 1 }],
    [0, 40, { canary: 0, stable: 0 }],
    [4, 100, { canary: 4, stable: 0 }],
  ])(
    '%i replicas at weight %i%% are %o, the canary rounded up as Argo Rollouts does',
    (replicas, weight, pods) => {
      expect(podsForWeight(replicas, weight)).toEqual(pods);
    },
  );

  it('resolves maxSurge percentages rounding up and maxUnavailable percentages rounding down', () => {
    expect(resolveIntOrPercent('25%', 5, true)).toBe(2);
    expect(resolveIntOrPercent('25%', 5, false)).toBe(1);
    expect(resolveIntOrPercent(3, 5, false)).toBe(3);
    expect(surgeLimits({}, 10)).toEqual({ maxSurge: 3, maxUnavailable: 2 });
  });

  it('lets one pod be unavailable when both limits come to zero, as a Deployment does', () => {
    expect(surgeLimits({ maxSurge: 0, maxUnavailable: '10%' }, 5)).toEqual({
      maxSurge: 0,
      maxUnavailable: 1,
    });
    expect(surgeLimits({ maxSurge: '0%', maxUnavailable: 0 }, 1)).toEqual({ maxSurge: 0, maxUnavailable: 1 });
  });

  it('adds the canary pods within maxSurge before any stable pod goes', () => {
    const limits = { maxSurge: 1, maxUnavailable: 0 };
    const start = { stable: 5, canary: 0 };
    const path = podCountPath(5, limits, start, podsForWeight(5, 40));
    expect(path).toEqual([
      { stable: 5, canary: 1 },
      { stable: 4, canary: 1 },
      { stable: 4, canary: 2 },
      { stable: 3, canary: 2 },
    ]);
    expectWithinLimits(5, limits, start, path);
  });

  it('removes stable pods first when there is no surge, never below spec.replicas - maxUnavailable', () => {
    const limits = { maxSurge: 0, maxUnavailable: 1 };
    const start = { stable: 4, canary: 0 };
    const path = podCountPath(4, limits, start, podsForWeight(4, 50));
    expect(path).toEqual([
      { stable: 3, canary: 0 },
      { stable: 3, canary: 1 },
      { stable: 2, canary: 1 },
      { stable: 2, canary: 2 },
    ]);
    expectWithinLimits(4, limits, start, path);
  });

  it('moves in one change each way when the limits allow it (the 25% defaults on 10 pods)', () => {
    const limits = surgeLimits({}, 10);
    expect(podCountPath(10, limits, { stable: 10, canary: 0 }, podsForWeight(10, 20))).toEqual([
      { stable: 10, canary: 2 },
      { stable: 8, canary: 2 },
    ]);
  });

  it('goes back down a weight by adding stable pods first', () => {
    const limits = { maxSurge: 1, maxUnavailable: 0 };
    const start = { stable: 2, canary: 2 };
    const path = podCountPath(4, limits, start, podsForWeight(4, 0));
    expect(path[0]).toEqual({ stable: 3, canary: 2 });
    expect(path.at(-1)).toEqual({ stable: 4, canary: 0 });
    expectWithinLimits(4, limits, start, path);
  });

  it('with one replica, swaps the single pod: the canary comes Ready before the stable goes', () => {
    const limits = surgeLimits({}, 1);
    expect(limits).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(podCountPath(1, limits, { stable: 1, canary: 0 }, podsForWeight(1, 20))).toEqual([
      { stable: 1, canary: 1 },
      { stable: 0, canary: 1 },
    ]);
  });

  it('with zero replicas, has nothing to move', () => {
    expect(
      nextPodCounts(0, surgeLimits({}, 0), { stable: 0, canary: 0 }, podsForWeight(0, 60)),
    ).toBeUndefined();
  });

  it('reports the weights the Ready pods give, and the asked ones when no pod is Ready', () => {
    expect(weightsOfReadyPods({ stable: 4, canary: 1 }, { stable: 80, canary: 20 })).toEqual({
      stable: 80,
      canary: 20,
    });
    expect(weightsOfReadyPods({ stable: 2, canary: 1 }, { stable: 80, canary: 20 })).toEqual({
      stable: 67,
      canary: 33,
    });
    expect(weightsOfReadyPods({ stable: 0, canary: 0 }, { stable: 60, canary: 40 })).toEqual({
      stable: 60,
      canary: 40,
    });
  });
});
