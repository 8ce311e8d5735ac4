import { judgeFollowed, type FleetRollout } from '../../activities/fleet/rollout-follow';
import { templateHashOf } from '../../activities/fleet/template-change';
import type { RolloutStatus } from '../../schemas/rollout';

const target = { cluster: 'c2', namespace: 'shop', name: 'checkout' };
const template = (image: string) => ({
  metadata: { labels: { app: 'checkout' } },
  spec: { containers: [{ name: 'app', image }] },
});
const released = templateHashOf(template('registry.example/checkout:2'));
const previous = templateHashOf(template('registry.example/checkout:1'));
const rollout = (image: string, status: RolloutStatus): FleetRollout =>
  ({
    metadata: { name: 'checkout', namespace: 'shop' },
    spec: { template: template(image) },
    status,
  }) as FleetRollout;

describe('one sight of a followed Rollout (each event of the watch on it)', () => {
  test("is progress while the cluster's Siirto has not started the release's revision", () => {
    const judged = judgeFollowed(
      target,
      released,
      rollout('registry.example/checkout:2', { phase: 'Healthy', currentTemplateHash: previous }),
    );
    expect(judged).toEqual({
      progress: expect.objectContaining({
        awaitingRevision: true,
        message: expect.stringContaining(released),
      }),
    });
  });

  test('is progress, with step and weights, while the revision is under way', () => {
    const judged = judgeFollowed(
      target,
      released,
      rollout('registry.example/checkout:2', {
        phase: 'Progressing',
        currentTemplateHash: released,
        revision: 2,
        step: '1/2',
        weights: { canary: 50, stable: 50 },
      }),
    );
    expect(judged).toEqual({
      progress: expect.objectContaining({ phase: 'Progressing', step: '1/2', revision: 2 }),
    });
  });

  test('ends the follow at Healthy, and at Degraded or Invalid as Degraded', () => {
    const seen = (phase: RolloutStatus['phase']) =>
      judgeFollowed(
        target,
        released,
        rollout('registry.example/checkout:2', { phase, currentTemplateHash: released, revision: 2 }),
      );
    expect(seen('Healthy')).toEqual({ ended: expect.objectContaining({ phase: 'Healthy', revision: 2 }) });
    expect(seen('Degraded')).toEqual({ ended: expect.objectContaining({ phase: 'Degraded' }) });
    expect(seen('Invalid')).toEqual({ ended: expect.objectContaining({ phase: 'Degraded' }) });
  });

  test('fails for good when the Rollout is gone or its template was changed outside the release', () => {
    expect(() => judgeFollowed(target, released, undefined)).toThrow(
      expect.objectContaining({
        type: 'RolloutGone',
        nonRetryable: true,
        message: expect.stringContaining('shop/checkout does not exist in cluster c2'),
      }),
    );
    expect(() =>
      judgeFollowed(
        target,
        released,
        rollout('registry.example/checkout:3', { phase: 'Progressing', currentTemplateHash: released }),
      ),
    ).toThrow(expect.objectContaining({ type: 'RevisionSuperseded', nonRetryable: true }));
  });
});
