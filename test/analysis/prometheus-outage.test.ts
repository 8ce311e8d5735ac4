import { promoteUpdate } from '../../workflows/rollout-api';
import type { RolloutStatus } from '../../schemas/rollout';
import { isolate } from '../harness/isolation';
import { privatePrometheus } from '../harness/private-prometheus';
import { patchRolloutSpec, routeHost, sampleContainer } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { recordHistoryFixture } from '../harness/temporal';
import { startTraffic, type Traffic } from '../traffic/traffic';

const app = 'orders';

describe('analysis while Prometheus is down', () => {
  const scope = isolate('outage');
  const { namespace } = scope;
  let prometheus: Awaited<ReturnType<typeof privatePrometheus>>;
  let traffic: Traffic | undefined;

  beforeAll(async () => {
    prometheus = await privatePrometheus();
    await prometheus.start();
  });
  const scenario = rolloutScenario(scope, app, {
    workerEnvironment: () => ({ SIIRTO_PROMETHEUS_URL: prometheus.url }),
  });

  afterAll(async () => {
    await traffic?.stop();
    await prometheus?.remove();
  });

  const errorRate = (status: RolloutStatus) =>
    status.analysis?.step?.metrics.find((metric) => metric.name === 'error-rate');

  it('holds the rollout as inconclusive, never promotes it, and goes on when Prometheus is back', async () => {
    const stable = await scenario.firstRevisionHealthy([]);
    traffic = startTraffic({ host: routeHost(namespace, app), ratePerSecond: 40 });
    await patchRolloutSpec(namespace, app, {
      template: { spec: { containers: [sampleContainer(`registry.example/${app}:2`)] } },
      strategy: {
        canary: {
          steps: [
            { setWeight: 50 },
            {
              analysis: {
                builtIn: {
                  errorRate: { max: 0.05 },
                  window: '10s',
                  interval: '2s',
                  initialDelay: '12s',
                  count: 10,
                  inconclusiveLimit: 1,
                  consecutiveErrorLimit: 1,
                },
              },
            },
          ],
        },
      },
    });

    await scenario.waitForStatus(
      'two successful measurements',
      (status) => status.revision === 2 && (errorRate(status)?.successful ?? 0) >= 2,
      60_000,
    );
    await prometheus.stop();

    const held = await scenario.waitForStatus(
      'the rollout held as inconclusive',
      (status) => status.phase === 'Paused' && /inconclusive/.test(status.message ?? ''),
      60_000,
    );
    expect(held.weights).toEqual({ stable: 50, canary: 50 });
    expect(errorRate(held)?.phase).toBe('Inconclusive');
    expect(errorRate(held)?.measurements.at(-1)?.verdict).toBe('Error');
    // Still held several intervals later: missing data never promotes.
    const errorsWhenHeld = errorRate(held)?.errors ?? 0;
    const stillHeld = await scenario.waitForStatus(
      'three more measurements while Prometheus is down',
      (status) => (errorRate(status)?.errors ?? 0) >= errorsWhenHeld + 3,
      30_000,
    );
    expect(stillHeld.phase).toBe('Paused');
    expect(stillHeld.weights).toEqual({ stable: 50, canary: 50 });
    expect(stillHeld.stableTemplateHash).toBe(stable.stableTemplateHash);

    await prometheus.start();
    const healthy = await scenario.waitForStatus(
      'the analysis to resume and the rollout to complete',
      (status) => status.phase === 'Healthy' && status.revision === 2,
      90_000,
    );
    expect(errorRate(healthy)?.phase).toBe('Successful');
    expect(errorRate(healthy)?.measurements.at(-1)?.verdict).toBe('Successful');
    expect(healthy.weights).toEqual({ stable: 100, canary: 0 });
    await recordHistoryFixture(
      'canary-analysis-held-then-resumed',
      scenario.client.workflow.getHandle(`${namespace}/${app}/r2`),
    );
  });

  it('lets a person promote past an analysis that cannot measure', async () => {
    await prometheus.stop();
    await patchRolloutSpec(namespace, app, {
      template: { spec: { containers: [sampleContainer(`registry.example/${app}:3`)] } },
      strategy: {
        canary: {
          steps: [
            { setWeight: 50 },
            {
              analysis: {
                builtIn: {
                  errorRate: { max: 0.05 },
                  interval: '2s',
                  count: 3,
                  inconclusiveLimit: 0,
                  consecutiveErrorLimit: 0,
                },
              },
            },
          ],
        },
      },
    });
    const held = await scenario.waitForStatus(
      'r3 held: Prometheus is down from the start',
      (status) =>
        status.revision === 3 && status.phase === 'Paused' && /inconclusive/.test(status.message ?? ''),
      60_000,
    );
    expect(held.weights).toEqual({ stable: 50, canary: 50 });
    const accepted = await scenario.client.workflow
      .getHandle(held.workflowId ?? '')
      .executeUpdate(promoteUpdate, { args: [{ by: 'on-call' }] });
    expect(accepted.phase).toBe('Paused');
    const healthy = await scenario.waitForStatus(
      'r3 promoted past its analysis',
      (status) => status.revision === 3 && status.phase === 'Healthy',
      60_000,
    );
    expect(healthy.message).toContain('promoted by on-call');
    expect(healthy.weights).toEqual({ stable: 100, canary: 0 });
    // The analysis promoted past says so, rather than Running for ever.
    const stopped = await scenario.waitForStatus(
      "r3's step analysis written Stopped",
      (status) => status.analysis?.step?.revision === 3 && status.analysis.step.phase === 'Stopped',
    );
    expect(stopped.analysis?.step?.message).toMatch(/^stopped by its rollout before a verdict; /);
    const analysis = scenario.client.workflow.getHandle(`${held.workflowId}/analysis/step-2/a1`);
    await analysis.result().catch(() => undefined);
    await recordHistoryFixture('analysis-run-stopped', analysis);
  });
});
