import { chosenBySiirto, starvingShares, type Change } from '../../bench/traffic-on-unready';

/** Changes as `npm run chaos` records them: etcd's revision, then the time this process received it. */
const route = (rv: number, at: number, canaryWeight: number): Change => ({
  kind: 'route',
  rv: BigInt(rv),
  at,
  name: 'web',
  value: [
    { service: 'web-stable', weight: 100 - canaryWeight },
    { service: 'web-canary', weight: canaryWeight },
  ],
});
const service = (rv: number, at: number, name: string, hash: string): Change => ({
  kind: 'service',
  rv: BigInt(rv),
  at,
  name,
  value: hash,
});
const pod = (rv: number, at: number, name: string, hash: string, ready: boolean): Change => ({
  kind: 'pod',
  rv: BigInt(rv),
  at,
  name,
  value: { hash, ready },
});

describe('traffic on a ReplicaSet with no Ready pod, as the chaos suite replays it', () => {
  const services = [
    service(1, 0, 'web-stable', 'a'),
    service(2, 0, 'web-canary', 'b'),
    pod(3, 0, 'a-1', 'a', true),
  ];

  it('replays in etcd’s order, so a route change received before the pod change stored first is no gap', () => {
    // The canary pod became Ready (rv 10), then the route gave it weight (rv 11); the route's watch
    // delivered first.
    const changes = [...services, route(11, 1_000, 20), pod(10, 1_013, 'b-1', 'b', true)];
    expect(starvingShares(changes, 2_000)).toEqual([]);
  });

  it('blames Siirto for a weight written onto a canary whose pods were not Ready', () => {
    const changes = [...services, pod(10, 990, 'b-1', 'b', false), route(11, 1_000, 20), route(12, 1_250, 0)];
    const [gap, ...others] = starvingShares(changes, 2_000);
    expect(others).toEqual([]);
    expect(gap).toMatchObject({ backend: 'web/web-canary', ms: 250, began: { kind: 'route' } });
    expect(chosenBySiirto(gap!)).toBe(true);
  });

  it('tells pods that lost readiness while serving apart, timing the guard’s route write', () => {
    const changes = [
      ...services,
      pod(10, 900, 'b-1', 'b', true),
      route(11, 1_000, 20),
      pod(12, 5_000, 'b-1', 'b', false),
      route(13, 5_180, 0),
    ];
    const [gap] = starvingShares(changes, 9_000);
    expect(gap).toMatchObject({ ms: 180, began: { kind: 'pod', name: 'b-1' }, ended: { kind: 'route' } });
    expect(chosenBySiirto(gap!)).toBe(false);
  });

  it('takes a fresh list as the whole truth of its kind, dropping pods deleted while unwatched', () => {
    const changes: Change[] = [
      ...services,
      pod(10, 900, 'b-1', 'b', true),
      route(11, 1_000, 20),
      { kind: 'pod', rv: 20n, at: 3_000, snapshot: new Map([['a-1', { hash: 'a', ready: true }]]) },
    ];
    expect(starvingShares(changes, 4_000)).toMatchObject([
      { ms: 1_000, began: { kind: 'pod', name: '(list)' } },
    ]);
  });
});
