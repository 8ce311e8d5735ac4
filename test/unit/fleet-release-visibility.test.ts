import { buildReleaseCDEvent, type ReleaseCDEventInput } from '../../cdevents/release-event';
import { fleetApprovalOf } from '../../k8s-bridge/fleet-approval';
import { fleetReleaseOfRevision } from '../../k8s-bridge/fleet-release-of-revision';
import { parseReleaseValue, releaseQuery } from '../../temporal/release-attribute';

const marked = (annotations: Record<string, string>) => ({
  metadata: { name: 'checkout', namespace: 'shop', annotations },
});

describe('the SiirtoRelease value a bridge puts on a revision run', () => {
  it('takes `<app>/<release>` as a release writes it', () => {
    expect(parseReleaseValue('checkout/checkout-2-1')).toEqual({ app: 'checkout', release: 'checkout-2-1' });
  });

  it.each([
    ["checkout/v2' OR WorkflowId != '", "checkout/v2' OR WorkflowId != '"],
    ['checkout/v2/extra', 'checkout/v2/extra'],
    ['checkout', 'checkout'],
    ['Checkout/v2', 'Checkout/v2'],
    ['checkout/', 'checkout/'],
    ['a release name of 254 letters', `checkout/${'a'.repeat(254)}`],
  ])('refuses %s, which no release writes', (_label, value) => {
    expect(parseReleaseValue(value)).toBeUndefined();
  });

  it('quotes the value in the visibility query, so no text widens it', () => {
    expect(releaseQuery('checkout/v2')).toBe("SiirtoRelease = 'checkout/v2'");
    expect(releaseQuery("x' OR 'a'='a")).toBe("SiirtoRelease = 'x\\' OR \\'a\\'=\\'a'");
  });

  it('marks a revision of the release’s template, not a return to the one it replaced', () => {
    const rollout = marked({
      'siirto.dev/fleet-release': 'checkout/v2',
      'siirto.dev/fleet-previous-template-hash': 'old',
    });
    expect(fleetReleaseOfRevision(rollout, 'new')).toBe('checkout/v2');
    expect(fleetReleaseOfRevision(rollout, 'old')).toBeUndefined();
    expect(fleetReleaseOfRevision(marked({}), 'new')).toBeUndefined();
    expect(
      fleetReleaseOfRevision(marked({ 'siirto.dev/fleet-release': "v2' OR 'x" }), 'new'),
    ).toBeUndefined();
  });
});

describe('the siirto.dev/fleet-approve annotation', () => {
  const ofRelease = { 'siirto.dev/fleet-release': 'checkout/checkout-2-1' };

  it('approves the Rollout’s release named by its name or by `<app>/<release>`', () => {
    for (const value of ['checkout-2-1', 'checkout/checkout-2-1', ' checkout-2-1 ']) {
      expect(fleetApprovalOf({ ...ofRelease, 'siirto.dev/fleet-approve': value })).toMatchObject({
        kind: 'approve',
        release: { app: 'checkout', release: 'checkout-2-1' },
      });
    }
  });

  it('refuses another release’s name, naming the annotation and the value to set', () => {
    const refused = fleetApprovalOf({ ...ofRelease, 'siirto.dev/fleet-approve': 'true' });
    expect(refused).toMatchObject({ kind: 'refused' });
    expect(refused?.kind === 'refused' && refused.problem).toBe(
      'annotation siirto.dev/fleet-approve="true" names no release of this Rollout: it belongs to release ' +
        'checkout/checkout-2-1 (siirto.dev/fleet-release); set siirto.dev/fleet-approve=checkout-2-1 to ' +
        "approve that release's held wave",
    );
  });

  it('refuses it on a Rollout no release has changed', () => {
    const refused = fleetApprovalOf({ 'siirto.dev/fleet-approve': 'checkout-2-1' });
    expect(refused?.kind === 'refused' && refused.problem).toContain('belongs to no fleet release');
  });

  it('is nothing when absent', () => {
    expect(fleetApprovalOf(ofRelease)).toBeUndefined();
  });
});

describe('a fleet release’s CDEvents', () => {
  const origin = { clusterId: 'c1', temporalNamespace: 'default', webUiUrl: 'https://temporal.example/' };
  const input: ReleaseCDEventInput = {
    kind: 'finished',
    app: 'checkout',
    release: 'v2',
    workflowId: 'fleet/checkout',
    runId: 'run-1',
    sequence: 6,
    waves: [
      { name: 'canary', clusters: ['c1'], targets: ['c1/shop/checkout'] },
      { name: 'rest', clusters: ['c2', 'c3'], targets: ['c2/shop/checkout', 'c3/shop/checkout'] },
    ],
    phase: 'Aborted',
    outcome: 'failure',
    errors: 'aborted by ana',
    occurredAt: '2026-12-07T05:00:00Z',
  };

  it('makes the release a pipelineRun with its outcome, the same event on every retry', () => {
    const event = buildReleaseCDEvent(input, origin);
    expect(event).toEqual(buildReleaseCDEvent(input, origin));
    expect(event.context).toEqual({
      specversion: '0.5.1',
      id: 'fleet/checkout/run-1/6-finished',
      source: '/siirto/fleet/checkout',
      type: 'dev.cdevents.pipelinerun.finished.0.2.0',
      timestamp: '2026-12-07T05:00:00.000Z',
    });
    expect(event.subject).toEqual({
      id: 'checkout/v2',
      source: '/siirto/fleet/checkout',
      content: {
        pipelineName: 'checkout',
        url: 'https://temporal.example/namespaces/default/workflows/fleet%2Fcheckout',
        outcome: 'failure',
        errors: 'aborted by ana',
      },
    });
    expect(event.customData.clusters).toEqual(['c1', 'c2', 'c3']);
  });

  it('makes a wave a taskRun of the release', () => {
    const event = buildReleaseCDEvent({ ...input, kind: 'waveStarted', wave: 1, phase: 'Running' }, origin);
    expect(event.context.type).toBe('dev.cdevents.taskrun.started.0.2.0');
    expect(event.subject).toEqual({
      id: 'checkout/v2/rest',
      source: '/siirto/fleet/checkout',
      content: {
        taskName: 'rest',
        url: 'https://temporal.example/namespaces/default/workflows/fleet%2Fcheckout',
        pipelineRun: { id: 'checkout/v2', source: '/siirto/fleet/checkout' },
      },
    });
    expect(event.customData.wave).toMatchObject({ index: 1, name: 'rest', clusters: ['c2', 'c3'] });
  });

  it('names the field when the input cannot make an event', () => {
    expect(() => buildReleaseCDEvent({ ...input, kind: 'waveFinished', wave: 5 }, origin)).toThrow(
      'release CDEvent input wave must be the index of one of the release’s 2 waves, got 5'.replace('’', "'"),
    );
  });
});
