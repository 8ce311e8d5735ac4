import { PacedResync } from '../../k8s-bridge/paced-resync';
import type { RolloutKey } from '../../k8s-bridge/rollout-status';

const keys = (count: number): RolloutKey[] =>
  Array.from({ length: count }, (_, index) => ({ namespace: 'shop', name: `app-${index}` }));

/** A pacer whose clock only moves when it sleeps, recording what was enqueued at which moment. */
function pacedAt(perSecond: number) {
  let clockMs = 0;
  const enqueued: { name: string; atMs: number }[] = [];
  const paced = new PacedResync(
    perSecond,
    (key) => enqueued.push({ name: key.name, atMs: clockMs }),
    async (ms) => {
      clockMs += ms;
    },
  );
  return { paced, enqueued, elapsedMs: () => clockMs };
}

describe('a paced resync', () => {
  it('hands over at most its rate of Rollouts in any second, so 1000 Rollouts at 10 a second take 100 s', async () => {
    const { paced, enqueued, elapsedMs } = pacedAt(10);
    expect(await paced.pass(keys(1000))).toBe(true);
    expect(enqueued).toHaveLength(1000);
    expect(new Set(enqueued.map((entry) => entry.name)).size).toBe(1000);
    for (let second = 0; second * 1000 < elapsedMs(); second++) {
      const inSecond = enqueued.filter((e) => e.atMs >= second * 1000 && e.atMs < (second + 1) * 1000);
      expect(inSecond.length).toBeLessThanOrEqual(10);
    }
    expect(elapsedMs()).toBeCloseTo(99_900, -1);
  });

  it('enqueues a few Rollouts at once when they fit in one tick', async () => {
    const { paced, enqueued, elapsedMs } = pacedAt(100);
    await paced.pass(keys(10));
    expect(enqueued.map((entry) => entry.atMs)).toEqual(new Array(10).fill(0));
    expect(elapsedMs()).toBe(0);
  });

  it('paces rates below ten a second one Rollout per tick', async () => {
    const { paced, enqueued } = pacedAt(2);
    await paced.pass(keys(4));
    expect(enqueued.map((entry) => entry.atMs)).toEqual([0, 500, 1000, 1500]);
  });

  it('skips a pass while the previous one is still handing out Rollouts, and stops handing out when stopped', async () => {
    let wake: () => void = () => undefined;
    const enqueued: string[] = [];
    const paced = new PacedResync(
      10,
      (key) => enqueued.push(key.name),
      () => new Promise<void>((resolve) => (wake = resolve)),
    );
    const first = paced.pass(keys(3));
    expect(paced.busy).toBe(true);
    expect(await paced.pass(keys(3))).toBe(false);
    expect(enqueued).toEqual(['app-0']);
    paced.stop();
    wake();
    expect(await first).toBe(true);
    expect(enqueued).toEqual(['app-0']);
    expect(paced.busy).toBe(false);
  });
});
