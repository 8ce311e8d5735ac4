import { changeTemplate, mergePatch, TemplateChangeError } from '../../activities/fleet/template-change';
import { fleetStatusTable } from '../../cli/fleet-status-table';
import { parseFleetRelease } from '../../schemas/fleet-release';
import {
  addFoundRollouts,
  initialState,
  releaseSummary,
  waveTargets,
} from '../../workflows/fleet/release-plan';

const release = parseFleetRelease({
  apiVersion: 'siirto.dev/v1alpha1',
  kind: 'FleetRelease',
  metadata: { name: 'v2' },
  spec: {
    app: 'checkout',
    change: { images: { checkout: 'registry.example/checkout:2' } },
    waves: [
      { targets: ['c1/shop/checkout'] },
      {
        targets: [
          'c2/shop/checkout',
          { cluster: 'c3', namespace: 'shop', selector: { matchLabels: { app: 'checkout' } } },
        ],
      },
    ],
  },
});

describe('a release plan', () => {
  test('begins with every wave Pending and every named Rollout Waiting in its wave', () => {
    const state = initialState('v2', release.spec);
    expect(state.waves.map((wave) => `${wave.name} ${wave.stage}`)).toEqual([
      'wave 1 Pending',
      'wave 2 Pending',
    ]);
    expect(state.targets.map((target) => `${target.wave} ${target.cluster} ${target.phase}`)).toEqual([
      '0 c1 Waiting',
      '1 c2 Waiting',
    ]);
    expect(releaseSummary('v2', state)).toBe('fleet release checkout v2: [c1] → [c2]');
  });

  test('adds the Rollouts a selector found to their wave, each once', () => {
    const state = initialState('v2', release.spec);
    addFoundRollouts(state, 1, [
      { cluster: 'c3', namespace: 'shop', name: 'checkout' },
      { cluster: 'c2', namespace: 'shop', name: 'checkout' },
      { cluster: 'c3', namespace: 'shop', name: 'checkout' },
    ]);
    expect(waveTargets(state, 1).map((target) => target.cluster)).toEqual(['c2', 'c3']);
  });
});

describe("a release's change to a template", () => {
  const template = {
    metadata: { labels: { app: 'checkout' } },
    spec: {
      containers: [
        { name: 'checkout', image: 'registry.example/checkout:1', env: [{ name: 'A', value: '1' }] },
      ],
    },
  };

  test('sets the named containers’ images and merges the patch, leaving the rest', () => {
    const changed = changeTemplate(template, {
      images: { checkout: 'registry.example/checkout:2' },
      templatePatch: { metadata: { annotations: { release: 'v2' } } },
    });
    expect(changed.spec.containers).toEqual([
      { name: 'checkout', image: 'registry.example/checkout:2', env: [{ name: 'A', value: '1' }] },
    ]);
    expect(changed.metadata).toEqual({ labels: { app: 'checkout' }, annotations: { release: 'v2' } });
    expect(template.spec.containers[0]?.image).toBe('registry.example/checkout:1');
  });

  test('refuses an image for a container the template does not have, naming the ones it has', () => {
    expect(() => changeTemplate(template, { images: { web: 'x' } })).toThrow(TemplateChangeError);
    expect(() => changeTemplate(template, { images: { web: 'x' } })).toThrow(
      /names container web, which the template does not have \(it has checkout\)/,
    );
  });

  test('merges as RFC 7386 says: null removes, objects merge, arrays replace', () => {
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1, 2] }, { a: null, b: { c: 4 }, e: [3] })).toEqual({
      b: { c: 4, d: 3 },
      e: [3],
    });
  });
});

describe('siirto fleet status', () => {
  test('shows each Rollout with its live phase, step and weight, and names a cluster that does not answer', () => {
    const state = initialState('v2', release.spec);
    state.targets[0] = { ...state.targets[0]!, phase: 'Progressing', templateHash: 'abc' };
    state.targets[1] = { ...state.targets[1]!, phase: 'Applying' };
    const text = fleetStatusTable(state, [
      {
        activityId: 'follow/c1/shop/checkout',
        followed: { phase: 'Paused', step: '2/4', weights: { stable: 80, canary: 20 }, revision: 7 },
        attempt: 1,
        waitingForWorker: false,
      },
      {
        activityId: 'apply/c2/shop/checkout',
        attempt: 4,
        lastFailure: 'connect ECONNREFUSED',
        waitingForWorker: true,
      },
    ]);
    const lines = text.split('\n');
    expect(lines.find((line) => line.includes('c1 '))).toMatch(
      /wave 1\s+c1\s+shop\/checkout\s+Progressing\s+Paused\s+2\/4\s+20%\s+7/,
    );
    expect(lines.find((line) => line.includes('c2 '))).toMatch(
      /cluster c2 not answering \(attempt 4\): connect ECONNREFUSED/,
    );
  });
});
