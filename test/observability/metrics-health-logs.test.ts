import { rmSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROMOTE_ANNOTATION } from '../../kubernetes/labels';
import { freePort } from '../../observability/free-port';
import { isolate } from '../harness/isolation';
import { observer } from '../harness/observe';
import {
  annotateRollout,
  kubectlApply,
  patchRolloutSpec,
  rolloutManifest,
  servicesAndRoute,
  setImage,
} from '../harness/rollout-fixtures';
import { SiirtoProcess, siirtoBridge, siirtoEnvironment, siirtoWorker } from '../harness/siirto-processes';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';
import { fetchText, metricsPortOf, sampleValue, sdkMetricsPortOf } from './scrape';

interface QueryResponse {
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

describe('metrics, health and logs of the worker and the bridge', () => {
  const scope = isolate('observability');
  const { namespace } = scope;
  const app = 'checkout';
  const see = observer(namespace);
  const targetFile = () => path.join(stack.prometheusTargetsDir, `${scope.workflowIdPrefix}.json`);
  let worker: SiirtoProcess;
  let bridge: SiirtoProcess;
  let workerPort: number;
  let bridgePort: number;

  beforeAll(async () => {
    await kubectlApply(servicesAndRoute(namespace, app));
    // Debug shows the SDK's line for every activity, each of which must carry its workflow ID.
    worker = siirtoWorker(scope, 'worker', {
      SIIRTO_LOG_LEVEL: 'debug',
      SIIRTO_PROMETHEUS_URL: stack.prometheusUrl,
    });
    // An analysis that needs no traffic: Prometheus' own `vector(0)` always passes.
    await kubectlApply(
      JSON.stringify({
        apiVersion: 'siirto.dev/v1alpha1',
        kind: 'AnalysisTemplate',
        metadata: { name: 'always-fine', namespace },
        spec: {
          metrics: [
            {
              name: 'always-fine',
              interval: '1s',
              count: 2,
              successCondition: 'result < 1',
              provider: { prometheus: { query: 'vector(0)' } },
            },
          ],
        },
      }),
    );
    bridge = siirtoBridge(scope);
    await Promise.all([worker.start(), bridge.start()]);
    workerPort = metricsPortOf(worker);
    bridgePort = metricsPortOf(bridge);
  });

  afterAll(async () => {
    rmSync(targetFile(), { force: true });
    await Promise.all([worker?.stop(), bridge?.stop()]);
  });

  const waitForRevision = (revision: number, phase = 'Healthy') =>
    waitFor(
      `r${revision} to become ${phase}`,
      async () => {
        const status = await see.rolloutStatus(app);
        return status.phase === phase && status.revision === revision && status;
      },
      { timeoutMs: 60_000 },
    );

  /** The worker's /metrics once `ready` accepts them: counters move a moment after the status a test waits on. */
  const workerMetricsWhen = (description: string, ready: (metrics: string) => boolean) =>
    waitFor(description, async () => {
      const { body } = await fetchText(workerPort, '/metrics');
      return ready(body) && body;
    });

  it('counts rollouts, activities, reconciles and workflow starts through a first revision and a canary', async () => {
    await kubectlApply(
      rolloutManifest({
        namespace,
        app,
        steps: [{ setWeight: 50 }, { analysis: { templates: [{ templateName: 'always-fine' }] } }],
        image: `registry.example/${app}:1`,
      }),
    );
    await waitForRevision(1);
    await setImage(namespace, app, `registry.example/${app}:2`);
    await waitForRevision(2);

    const workerMetrics = await workerMetricsWhen(
      'the worker to count both rollouts as healthy',
      (body) => sampleValue(body, 'siirto_rollouts_completed_total', { outcome: 'healthy' }) === 2,
    );
    expect(sampleValue(workerMetrics, 'siirto_rollouts_started_total', { strategy: 'canary' })).toBe(2);
    // The analysis is a child workflow: its measurements count, it does not count as a rollout.
    expect(sampleValue(workerMetrics, 'siirto_rollouts_started_total', { strategy: 'analysisRun' })).toBe(
      undefined,
    );
    expect(sampleValue(workerMetrics, 'siirto_analysis_measurements_total', { verdict: 'Successful' })).toBe(
      2,
    );
    // r2 went through two steps (50%, then its analysis), both timed; r1 went straight to stable.
    expect(sampleValue(workerMetrics, 'siirto_step_duration_seconds_count', { strategy: 'canary' })).toBe(2);
    expect(
      sampleValue(workerMetrics, 'siirto_rollouts_completed_total', {
        outcome: 'healthy',
        reason: 'RolloutCompleted',
      }),
    ).toBe(2);
    expect(
      sampleValue(workerMetrics, 'siirto_rollouts_completed_total', {
        strategy: 'canary',
        outcome: 'healthy',
      }),
    ).toBe(2);
    expect(
      sampleValue(workerMetrics, 'siirto_activity_duration_seconds_count', {
        activity: 'setTrafficWeights',
        outcome: 'success',
      }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      sampleValue(workerMetrics, 'siirto_activity_duration_seconds_count', {
        activity: 'writeRolloutStatus',
        outcome: 'success',
      }),
    ).toBeGreaterThanOrEqual(4);
    expect(sampleValue(workerMetrics, 'siirto_process_resident_memory_bytes')).toBeGreaterThan(0);
    const sdkMetrics = await fetchText(sdkMetricsPortOf(worker), '/metrics');
    expect(sdkMetrics.body).toMatch(/^temporal_activity_execution_latency\S* /m);

    const bridgeMetrics = await waitFor('the bridge to see the Rollout Healthy', async () => {
      const { body } = await fetchText(bridgePort, '/metrics');
      return sampleValue(body, 'siirto_rollouts_by_phase', { phase: 'Healthy' }) === 1 && body;
    });
    expect(sampleValue(bridgeMetrics, 'siirto_rollouts_by_phase', { phase: 'Progressing' })).toBe(0);
    expect(sampleValue(bridgeMetrics, 'siirto_workflows_started_total')).toBe(2);
    expect(sampleValue(bridgeMetrics, 'siirto_reconcile_total', { outcome: 'done' })).toBeGreaterThanOrEqual(
      2,
    );
    expect(sampleValue(bridgeMetrics, 'siirto_reconcile_errors_total')).toBe(0);
    expect(sampleValue(bridgeMetrics, 'siirto_watch_restarts_total')).toBe(0);
    expect(sampleValue(bridgeMetrics, 'siirto_process_cpu_seconds_total')).toBeGreaterThan(0);
  });

  it('is scraped by Prometheus as a real target', async () => {
    mkdirSync(stack.prometheusTargetsDir, { recursive: true });
    writeFileSync(
      targetFile(),
      JSON.stringify([
        {
          targets: [`127.0.0.1:${bridgePort}`, `127.0.0.1:${workerPort}`],
          labels: { test: scope.workflowIdPrefix },
        },
      ]),
    );
    const query = async (expression: string) => {
      const response = await fetch(
        `${stack.prometheusUrl}/api/v1/query?query=${encodeURIComponent(expression)}`,
      );
      return ((await response.json()) as QueryResponse).data.result;
    };
    const workflowsStarted = await waitFor('Prometheus to scrape the bridge', async () => {
      const result = await query(`siirto_workflows_started_total{test="${scope.workflowIdPrefix}"}`);
      return result[0];
    });
    expect(workflowsStarted.metric.instance).toBe(`127.0.0.1:${bridgePort}`);
    expect(Number(workflowsStarted.value[1])).toBe(2);
    const rolloutsStarted = await waitFor('Prometheus to scrape the worker', async () => {
      const result = await query(`siirto_rollouts_started_total{test="${scope.workflowIdPrefix}"}`);
      return result[0];
    });
    expect(rolloutsStarted.metric.instance).toBe(`127.0.0.1:${workerPort}`);
  });

  it('answers /healthz and /readyz while it reaches Kubernetes and Temporal', async () => {
    for (const port of [workerPort, bridgePort]) {
      expect(await fetchText(port, '/healthz')).toMatchObject({ status: 200 });
      const ready = await fetchText(port, '/readyz');
      expect(ready.status).toBe(200);
      expect(JSON.parse(ready.body)).toMatchObject({
        ready: true,
        checks: { kubernetes: 'ok', temporal: 'ok' },
      });
    }
  });

  it('is alive but not ready, saying why, while Temporal cannot be reached', async () => {
    const closedPort = await freePort();
    const stranded = new SiirtoProcess(
      'k8s-bridge/main.ts',
      siirtoEnvironment(scope, { TEMPORAL_ADDRESS: `127.0.0.1:${closedPort}` }),
      /serving metrics and health/,
      `${namespace}-bridge-without-temporal`,
    );
    try {
      await stranded.start();
      const port = metricsPortOf(stranded);
      expect(await fetchText(port, '/healthz')).toMatchObject({ status: 200 });
      const ready = await fetchText(port, '/readyz');
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body)).toMatchObject({
        ready: false,
        checks: {
          kubernetes: 'ok',
          temporal: `not connected to Temporal at 127.0.0.1:${closedPort} yet`,
        },
      });
    } finally {
      await stranded.stop();
    }
    expect(stranded.logText()).not.toContain('bridge started');
  });

  it('stops at start with the variable to fix when a metrics port is wrong', async () => {
    const misconfigured = siirtoWorker(scope, 'worker-bad-metrics-port', {
      SIIRTO_METRICS_PORT: 'ninety',
      SIIRTO_SDK_METRICS_PORT: '70000',
    });
    await expect(misconfigured.start()).rejects.toThrow(/exited with 1/);
    expect(misconfigured.logText()).toContain(
      'SIIRTO_METRICS_PORT must be a port number such as 9464, or 0 for any free port',
    );
    expect(misconfigured.logText()).toContain(
      'SIIRTO_SDK_METRICS_PORT must be between 0 and 65535; set SIIRTO_SDK_METRICS_PORT=9466, or 0 for any free port',
    );
  });

  it('writes every worker log line as JSON, with the workflow ID on every line about a rollout', () => {
    const lines = worker
      .logText()
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          throw new Error(`worker log line is not JSON: ${line}`);
        }
      });
    expect(lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['worker started']));
    const aboutRollouts = lines.filter((line) => line.activityType ?? line.workflowType);
    expect(aboutRollouts.length).toBeGreaterThan(0);
    for (const line of aboutRollouts) {
      expect(line.workflowId).toMatch(new RegExp(`^${namespace}/${app}/r[12](/analysis/.+)?$`));
    }
    expect(aboutRollouts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ workflowId: `${namespace}/${app}/r2`, namespace, name: app, revision: 2 }),
      ]),
    );
  });

  it('counts a canary superseded by a newer image once, as superseded', async () => {
    await patchRolloutSpec(namespace, app, {
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
    });
    await setImage(namespace, app, `registry.example/${app}:3`);
    await waitForRevision(3, 'Paused');
    await setImage(namespace, app, `registry.example/${app}:4`);
    await waitForRevision(4, 'Paused');

    const workerMetrics = await workerMetricsWhen(
      'the worker to count r3 as superseded',
      (body) => sampleValue(body, 'siirto_rollouts_completed_total', { outcome: 'superseded' }) === 1,
    );
    expect(sampleValue(workerMetrics, 'siirto_rollouts_started_total', { strategy: 'canary' })).toBe(4);
    expect(sampleValue(workerMetrics, 'siirto_rollouts_completed_total', { outcome: 'healthy' })).toBe(2);
    const bridgeMetrics = await fetchText(bridgePort, '/metrics');
    expect(sampleValue(bridgeMetrics.body, 'siirto_workflows_started_total')).toBe(4);
    expect(sampleValue(bridgeMetrics.body, 'siirto_rollouts_by_phase', { phase: 'Paused' })).toBe(1);

    // Promoted to the end, so no run is left waiting once the worker stops.
    await annotateRollout(namespace, app, `${PROMOTE_ANNOTATION}=full`);
    await waitForRevision(4);
    await workerMetricsWhen(
      'the worker to count r4 as healthy',
      (body) => sampleValue(body, 'siirto_rollouts_completed_total', { outcome: 'healthy' }) === 3,
    );
  });
});
