import { isSettled } from '../../k8s-bridge/settled-rollouts';
import type { RolloutWorkflowRun } from '../../k8s-bridge/rollout-workflows';

const WORKFLOW_ID = 'shop/checkout/r2';

/** A Rollout as a list returns it once its run has paused at its first step. */
function paused(change: (rollout: ReturnType<typeof base>) => void = () => undefined) {
  const rollout = base();
  change(rollout);
  return rollout;
}

function base() {
  return {
    metadata: {
      namespace: 'shop',
      name: 'checkout',
      uid: 'u1',
      generation: 3,
      resourceVersion: '42',
      annotations: {} as Record<string, string>,
      deletionTimestamp: undefined as string | undefined,
    },
    spec: { replicas: 2 as number | undefined, selector: { matchLabels: { app: 'checkout' } } },
    status: {
      phase: 'Paused',
      revision: 2,
      workflowId: WORKFLOW_ID,
      observedGeneration: 3,
      replicas: 2,
      selector: 'app=checkout',
      conditions: [
        { type: 'Valid', status: 'True', reason: 'SpecValid', message: 'ok', lastTransitionTime: 't' },
        {
          type: 'WorkflowStarted',
          status: 'True',
          reason: 'Started',
          message: 'ok',
          lastTransitionTime: 't',
        },
      ],
    },
  };
}

const run = (workflowId: string, revision = 2, rolloutUid = 'u1'): RolloutWorkflowRun => ({
  workflowId,
  revision,
  rolloutUid,
});

describe('a resync leaves a Rollout alone', () => {
  it('when its run wrote a verdict, whether or not the run is still open to scale down', () => {
    for (const phase of ['Healthy', 'Degraded']) {
      const rollout = paused((r) => (r.status.phase = phase));
      expect(isSettled(rollout, [])).toBe(true);
      expect(isSettled(rollout, [run(WORKFLOW_ID)])).toBe(true);
    }
  });

  it('when spec.replicas is left out and the pods are sized to its default of 1', () => {
    const rollout = paused((r) => {
      r.spec.replicas = undefined;
      r.status.replicas = 1;
      r.status.phase = 'Healthy';
    });
    expect(isSettled(rollout, [run(WORKFLOW_ID)])).toBe(true);
  });
});

describe('a resync reconciles a Rollout', () => {
  const open = [run(WORKFLOW_ID)];
  const cases: [string, (r: ReturnType<typeof base>) => void, RolloutWorkflowRun[]][] = [
    ['whose paused run is no longer open (it ended behind the watch)', () => undefined, []],
    [
      'that is paused with its run open, so a template its next step needs that goes is reported',
      () => undefined,
      open,
    ],
    ['that is Invalid, so it heals once what it lacks appears', (r) => (r.status.phase = 'Invalid'), open],
    [
      'whose spec was found invalid while its run goes on',
      (r) => (r.status.conditions[0]!.status = 'False'),
      open,
    ],
    ['whose new generation the status has not observed', (r) => (r.metadata.generation = 4), open],
    ['that is Pending', (r) => (r.status.phase = 'Pending'), open],
    [
      'that is Progressing, so a route that goes meanwhile is reported',
      (r) => (r.status.phase = 'Progressing'),
      open,
    ],
    ['whose run is not yet recorded as started', (r) => (r.status.conditions[1]!.status = 'Unknown'), open],
    ['whose pods are not sized to spec.replicas', (r) => (r.status.replicas = 1), open],
    ['whose selector in the status is not the spec\u2019s', (r) => (r.status.selector = 'app=other'), open],
    [
      'that carries a command annotation',
      (r) => (r.metadata.annotations['siirto.dev/promote'] = 'true'),
      open,
    ],
    ['that is being deleted', (r) => (r.metadata.deletionTimestamp = '2026-12-07T00:00:00Z'), open],
    ['with an older revision still open', () => undefined, [...open, run('shop/checkout/r1', 1)]],
    ['with an open run of a deleted namesake', () => undefined, [...open, run('shop/checkout/r9', 9, 'u0')]],
    [
      'whose status records no workflow',
      (r) => {
        r.status.workflowId = '';
      },
      open,
    ],
  ];
  it.each(cases)('%s', (_what, change, runs) => {
    expect(isSettled(paused(change), runs)).toBe(false);
  });

  it('with a status the schema rejects', () => {
    expect(isSettled({ ...base(), status: { phase: 'Sleeping' } }, [run(WORKFLOW_ID)])).toBe(false);
  });
});
