import type { WorkflowExecutionStatusName } from '@temporalio/client';
import type { AnalysisRunStatus } from '../../schemas/analysis';
import type { RolloutStatus } from '../../schemas/rollout';
import { decidedBy, revisionRuns } from '../../cli/rollout-history';
import { renderStatus, type StatusView } from '../../cli/rollout-status-view';
import type { ShownRollout } from '../../cli/rollouts';
import { POD_TEMPLATE_HASH_LABEL } from '../../kubernetes/labels';

const NOW = Date.parse('2026-11-20T10:00:00Z');

function view(status: RolloutStatus, extra: Partial<StatusView> = {}): StatusView {
  const rollout: ShownRollout = {
    metadata: { name: 'checkout', namespace: 'shop' },
    spec: {
      strategy: {
        canary: {
          stableService: 'checkout-stable',
          canaryService: 'checkout-canary',
          trafficRouting: { gatewayAPI: { httpRoute: 'checkout' } },
          scaleDownDelaySeconds: 30,
          abortScaleDownDelaySeconds: 30,
          steps: [{ setWeight: 20 }, { analysis: { templates: [], args: [] } }, { pause: {} }],
        },
      },
    },
    status,
  };
  return { rollout, replicaSets: [], ...extra };
}

function analysisRun(revision: number, overrides: Partial<AnalysisRunStatus> = {}): AnalysisRunStatus {
  return {
    revision,
    stepIndex: 1,
    phase: 'Running',
    message: 'error-rate: 2 of 3 measured',
    metrics: [
      {
        name: 'error-rate',
        phase: 'Running',
        successful: 2,
        failed: 0,
        inconclusive: 1,
        errors: 0,
        measurements: [
          { verdict: 'Inconclusive', message: 'no data', measuredAt: '2026-11-20T09:59:50Z' },
          {
            verdict: 'Successful',
            value: '0.012',
            message: 'result < 0.05',
            measuredAt: '2026-11-20T09:59:58Z',
          },
        ],
      },
      {
        name: 'latency-p95',
        phase: 'Running',
        successful: 0,
        failed: 0,
        inconclusive: 0,
        errors: 0,
        measurements: [],
      },
    ],
    ...overrides,
  };
}

describe('siirto status, rendered', () => {
  it('shows each analysis of the current revision with its tallies and last measurement per metric', () => {
    const text = renderStatus(
      view({
        phase: 'Progressing',
        revision: 4,
        currentStepIndex: 1,
        weights: { stable: 80, canary: 20 },
        analysis: {
          step: analysisRun(4),
          background: analysisRun(4, {
            stepIndex: undefined,
            phase: 'Failed',
            message: 'error-rate failed',
            metrics: [
              {
                name: 'error-rate',
                phase: 'Failed',
                successful: 1,
                failed: 2,
                inconclusive: 0,
                errors: 1,
                measurements: [
                  {
                    verdict: 'Failed',
                    value: '0.2',
                    message: 'result >= 0.1',
                    measuredAt: '2026-11-20T09:59:59Z',
                  },
                ],
              },
            ],
          }),
        },
      }),
      NOW,
    );
    expect(text).toContain('▶ 2. analysis');
    expect(text.split('\n').slice(-6)).toEqual([
      '  analysis',
      '    step 2: Running — error-rate: 2 of 3 measured',
      '      error-rate  Running  2 successful, 0 failed, 1 inconclusive, 0 errors  last Successful 0.012: result < 0.05',
      '      latency-p95  Running  0 successful, 0 failed, 0 inconclusive, 0 errors  not measured yet',
      '    background: Failed — error-rate failed',
      '      error-rate  Failed  1 successful, 2 failed, 0 inconclusive, 1 errors  last Failed 0.2: result >= 0.1',
    ]);
  });

  it("leaves out an earlier revision's analysis, which stays in the status until replaced", () => {
    const text = renderStatus(
      view({ phase: 'Paused', revision: 5, currentStepIndex: 0, analysis: { step: analysisRun(4) } }),
      NOW,
    );
    expect(text.split('\n')).not.toContain('  analysis');
    expect(text).not.toContain('error-rate');
  });

  it('shows an analysis the rollout ended as stopped, not running', () => {
    const text = renderStatus(
      view({ phase: 'Healthy', revision: 4, analysis: { background: analysisRun(4) } }),
      NOW,
    );
    expect(text).toContain('    background: Stopped — error-rate: 2 of 3 measured');
    expect(text).toContain('      error-rate  Stopped  2 successful');
  });

  it('says a measurement had no value', () => {
    const noValue = analysisRun(2, {
      metrics: [
        {
          name: 'error-rate',
          phase: 'Inconclusive',
          successful: 0,
          failed: 0,
          inconclusive: 1,
          errors: 0,
          measurements: [{ verdict: 'Inconclusive', message: 'no data', measuredAt: '2026-11-20T09:59:50Z' }],
        },
      ],
    });
    expect(renderStatus(view({ revision: 2, analysis: { step: noValue } }), NOW)).toContain(
      'last Inconclusive (no value): no data',
    );
  });

  it('counts down a timed pause, and says why the time left is unknown when Temporal does not answer', () => {
    const paused: RolloutStatus = { phase: 'Paused', revision: 2, currentStepIndex: 2 };
    const workflow = {
      phase: 'Paused' as const,
      revision: 2,
      templateHash: 'abc',
      currentStepIndex: 2,
      stepCount: 3,
      weights: { stable: 80, canary: 20 },
      paused: true,
      pauseEndsAt: '2026-11-20T10:01:30Z',
      message: 'step 3/3: paused 2m or until promoted',
    };
    expect(renderStatus(view(paused, { workflow }), NOW)).toContain('  pause: 90s left (or until promoted)');
    const unknown = renderStatus(view(paused, { workflowUnknown: 'cannot reach Temporal at x:1' }), NOW);
    expect(unknown).toContain('  pause: time left unknown (cannot reach Temporal at x:1)');
    expect(unknown).toContain('▶ 3. pause until promoted');
  });
});

describe('siirto history, who decided', () => {
  it.each([
    ['r2 is stable (promoted by alice (siirto CLI))', 'alice (siirto CLI)'],
    ['aborted by kubectl annotation: error budget', 'kubectl annotation'],
    ['aborted by bob (siirto CLI)', 'bob (siirto CLI)'],
    ['r2 is stable', undefined],
    ['analysis failed: error-rate 0.2 breaks result < 0.05', undefined],
    ['superseded by r3', undefined],
  ])('%s → %s', (message, by) => {
    expect(decidedBy(message)).toBe(by);
  });
});

describe('siirto history of a revision whose run continued as new', () => {
  const run = (workflowId: string, started: string, status: WorkflowExecutionStatusName) => ({
    workflowId,
    startTime: new Date(started),
    status: { name: status },
  });

  it('shows each chain of runs once, from its first run, as its last run stands', () => {
    const runs = [
      run('shop/checkout/r2', '2026-11-20T10:05:00Z', 'RUNNING'),
      run('shop/checkout/r2', '2026-11-20T10:00:00Z', 'CONTINUED_AS_NEW'),
      run('shop/checkout/r1', '2026-11-19T09:00:00Z', 'COMPLETED'),
      run('shop/checkout/r2', '2026-11-20T10:02:00Z', 'CONTINUED_AS_NEW'),
      // A retry after a terminated chain is a chain of its own.
      run('shop/checkout/r3', '2026-11-21T08:00:00Z', 'CONTINUED_AS_NEW'),
      run('shop/checkout/r3', '2026-11-21T08:10:00Z', 'TERMINATED'),
      run('shop/checkout/r3', '2026-11-21T09:00:00Z', 'RUNNING'),
    ];
    expect(
      revisionRuns(runs).map(({ run: last, startTime }) => [
        last.workflowId,
        last.status.name,
        startTime.toISOString(),
      ]),
    ).toEqual([
      ['shop/checkout/r1', 'COMPLETED', '2026-11-19T09:00:00.000Z'],
      ['shop/checkout/r2', 'RUNNING', '2026-11-20T10:00:00.000Z'],
      ['shop/checkout/r3', 'TERMINATED', '2026-11-21T08:00:00.000Z'],
      ['shop/checkout/r3', 'RUNNING', '2026-11-21T09:00:00.000Z'],
    ]);
  });
});

describe('siirto status of a canary without a traffic router', () => {
  it('shows the weight as the Ready pods give it, with the pods of each revision', () => {
    const replicaSet = (hash: string, ready: number) => ({
      metadata: { name: `checkout-${hash}`, labels: { [POD_TEMPLATE_HASH_LABEL]: hash } },
      spec: { replicas: ready, selector: {} },
      status: { replicas: ready, readyReplicas: ready },
    });
    const shown = view(
      {
        phase: 'Paused',
        revision: 2,
        currentStepIndex: 1,
        stableTemplateHash: 'aaa',
        currentTemplateHash: 'bbb',
        weights: { stable: 80, canary: 20 },
      },
      { replicaSets: [replicaSet('aaa', 4), replicaSet('bbb', 1)] },
    );
    shown.rollout.spec.strategy = {
      canary: { scaleDownDelaySeconds: 30, abortScaleDownDelaySeconds: 30, steps: [] },
    };
    const text = renderStatus(shown, NOW);
    expect(text).toContain('canary 20% / stable 80% by Ready pods (canary 1, stable 4; no traffic router)');
    expect(text).toContain('checkout-bbb (canary)  1/1 Ready');
  });
});
