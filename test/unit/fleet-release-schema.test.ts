import { FleetReleaseError, parseFleetRelease } from '../../schemas/fleet-release';

const valid = {
  apiVersion: 'siirto.dev/v1alpha1',
  kind: 'FleetRelease',
  metadata: { name: 'checkout-2-1' },
  spec: {
    app: 'checkout',
    change: { images: { checkout: 'registry.example/checkout:2.1' } },
    waves: [
      { name: 'canary', targets: ['prod-eu-1/shop/checkout'], gates: { soak: '10m', approval: true } },
      {
        maxParallel: 2,
        targets: [
          { cluster: 'prod-us-1', namespace: 'shop', name: 'checkout' },
          { cluster: 'prod-ap-1', namespace: 'shop', selector: { matchLabels: { app: 'checkout' } } },
        ],
      },
    ],
    windows: [
      {
        days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'],
        start: '09:00',
        end: '16:00',
        timeZone: 'Europe/Helsinki',
      },
    ],
  },
};

function problems(change: (release: typeof valid) => unknown): string[] {
  const release = structuredClone(valid);
  change(release);
  try {
    parseFleetRelease(release);
  } catch (error) {
    if (error instanceof FleetReleaseError) return error.problems;
    throw error;
  }
  return [];
}

describe('the fleet release file', () => {
  test('takes targets as cluster/namespace/name or as objects, with defaults for what it leaves out', () => {
    const release = parseFleetRelease(valid);
    expect(release.spec.waves[0]?.targets[0]).toEqual({
      cluster: 'prod-eu-1',
      namespace: 'shop',
      name: 'checkout',
    });
    expect(release.spec.waves[0]?.maxParallel).toBe(1);
    expect(release.spec.abortOnDegraded).toBe(true);
    expect(release.spec.rollback).toBe('none');
  });

  test.each([
    [
      'a target that is not cluster/namespace/name',
      (r: typeof valid) => ((r.spec.waves[0] as { targets: unknown[] }).targets = ['prod-eu-1/checkout']),
      /spec\.waves\[0\]\.targets\[0\] must be cluster\/namespace\/name, such as prod-eu-1\/shop\/checkout/,
    ],
    [
      'a cluster ID with a bad character',
      (r: typeof valid) => ((r.spec.waves[0] as { targets: unknown[] }).targets = ['prod eu/shop/checkout']),
      /spec\.waves\[0\]\.targets\[0\] cluster "prod eu" must be a name of letters, digits/,
    ],
    [
      'a target with both name and selector',
      (r: typeof valid) =>
        ((r.spec.waves[1] as { targets: unknown[] }).targets = [
          { cluster: 'a', namespace: 'shop', name: 'x', selector: {} },
        ]),
      /spec\.waves\[1\]\.targets\[0\] needs either name \(one Rollout\) or selector/,
    ],
    [
      'maxParallel 0',
      (r: typeof valid) => ((r.spec.waves[1] as { maxParallel: number }).maxParallel = 0),
      /spec\.waves\[1\]\.maxParallel must be at least 1/,
    ],
    [
      'a soak that is no duration',
      (r: typeof valid) => ((r.spec.waves[0] as { gates: { soak: string } }).gates.soak = 'ten minutes'),
      /spec\.waves\[0\]\.gates\.soak must be a duration such as 10m/,
    ],
    [
      'an unknown time zone',
      (r: typeof valid) => ((r.spec.windows[0] as { timeZone: string }).timeZone = 'Europe/Atlantis'),
      /spec\.windows\[0\]\.timeZone must be an IANA time zone, such as Europe\/Helsinki/,
    ],
    [
      'a window ending before it starts',
      (r: typeof valid) => ((r.spec.windows[0] as { end: string }).end = '08:00'),
      /spec\.windows\[0\]\.end must be later than start \(09:00\)/,
    ],
    [
      'a day that is not one',
      (r: typeof valid) => ((r.spec.windows[0] as { days: string[] }).days = ['Monday']),
      /spec\.windows\[0\]\.days\[0\] must be one of Mon, Tue/,
    ],
    [
      'a change with nothing in it',
      (r: typeof valid) => ((r.spec as { change: unknown }).change = {}),
      /spec\.change needs images \(container: image\) or a templatePatch/,
    ],
    [
      'a Rollout in two waves',
      (r: typeof valid) =>
        (r.spec.waves[1] as { targets: unknown[] }).targets.push('prod-eu-1/shop/checkout'),
      /spec\.waves\[1\]\.targets\[2\] names prod-eu-1\/shop\/checkout again \(first at waves\[0\]\.targets\[0\]\)/,
    ],
    [
      'an unknown field',
      (r: typeof valid) => ((r.spec as Record<string, unknown>).wave = []),
      /spec has unknown field wave: remove it or check its spelling/,
    ],
    [
      'a rollback it does not know',
      (r: typeof valid) => ((r.spec as Record<string, unknown>).rollback = 'all'),
      /spec\.rollback must be none or completedWaves/,
    ],
    ['no app', (r: typeof valid) => delete (r.spec as Partial<typeof r.spec>).app, /spec\.app is required/],
  ])('names the field and the fix for %s', (_what, change, expected) => {
    expect(problems(change).join('\n')).toMatch(expected);
  });
});
