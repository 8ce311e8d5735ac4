import { defaultPayloadConverter } from '@temporalio/common';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AnalysisRunStatus } from '../../schemas/analysis';
import type { RolloutStatus } from '../../schemas/rollout';
import type { AnalysisRunInput } from '../../workflows/analysis-run';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { privatePrometheus } from '../harness/private-prometheus';
import { kubectlApply, patchRolloutSpec, sampleContainer } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'gate';

/**
 * A server that answers every query as a Prometheus would, with a 1 that passes any gate below, and
 * counts what it is asked: what a template's author could point `provider.prometheus.address` at.
 */
async function impostorPrometheus(): Promise<{ url: string; queries: string[]; server: Server }> {
  const queries: string[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      queries.push(new URLSearchParams(body).get('query') ?? request.url ?? '');
      response.setHeader('Content-Type', 'application/json');
      response.end(
        JSON.stringify({
          status: 'success',
          data: { resultType: 'vector', result: [{ metric: {}, value: [Date.now() / 1000, '1'] }] },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, queries, server };
}

/** How many instant queries a Prometheus has answered, from its own metrics. */
async function queriesAnswered(prometheusUrl: string): Promise<number> {
  const text = await (await fetch(`${prometheusUrl}/metrics`)).text();
  const match = /^prometheus_http_requests_total\{code="200",handler="\/api\/v1\/query"\} (\d+)/m.exec(text);
  return Number(match?.[1] ?? 0);
}

describe('analysis inputs: what a Rollout passes cannot rewrite a query, nor send it elsewhere', () => {
  const scope = isolate('analysis-inputs');
  const { namespace } = scope;
  const { custom } = kubeClients();
  let allowed: Awaited<ReturnType<typeof privatePrometheus>>;
  let impostor: Awaited<ReturnType<typeof impostorPrometheus>>;

  beforeAll(async () => {
    [allowed, impostor] = await Promise.all([privatePrometheus(), impostorPrometheus()]);
    await allowed.start();
  });
  const scenario = rolloutScenario(scope, app, {
    workerEnvironment: () => ({
      SIIRTO_PROMETHEUS_URL: stack.prometheusUrl,
      SIIRTO_PROMETHEUS_ALLOWED_ADDRESSES: allowed.url,
    }),
  });

  afterAll(async () => {
    impostor?.server.closeAllConnections();
    impostor?.server.close();
    await allowed?.remove();
  });

  /**
   * A platform team's release gate: it passes only once the release has been approved, which none is
   * here, so it must fail whatever the Rollout passes as `release`.
   */
  async function applyGate(
    name: string,
    query: string,
    { address, args = [{ name: 'release' }] }: { address?: string; args?: unknown[] } = {},
  ): Promise<void> {
    await kubectlApply(
      JSON.stringify({
        apiVersion: 'siirto.dev/v1alpha1',
        kind: 'AnalysisTemplate',
        metadata: { name, namespace },
        spec: {
          args,
          metrics: [
            {
              name: 'approved',
              interval: '1s',
              successCondition: 'result >= 1',
              provider: { prometheus: { query, ...(address ? { address } : {}) } },
            },
          ],
        },
      }),
    );
  }

  let imageCounter = 1;
  /**
   * Rolls out a new image through 50% and a step analysis of `template` with `args`, and waits for
   * where that ends: Healthy or Degraded for the new revision, or the new spec found invalid.
   */
  async function rollOutGatedBy(
    template: string,
    args: { name: string; value: string }[],
    canary: Record<string, unknown> = {},
  ): Promise<RolloutStatus> {
    const before = await scenario.see.rolloutStatus(app);
    await patchRolloutSpec(namespace, app, {
      template: { spec: { containers: [sampleContainer(`registry.example/${app}:${++imageCounter}`)] } },
      strategy: {
        canary: {
          steps: [{ setWeight: 50 }, { analysis: { templates: [{ templateName: template }], args } }],
          analysis: null,
          ...canary,
        },
      },
    });
    const { metadata } = (await custom.getNamespacedCustomObject({
      group: 'siirto.dev',
      version: 'v1alpha1',
      namespace,
      plural: 'rollouts',
      name: app,
    })) as { metadata: { generation: number } };
    return scenario.waitForStatus(
      `image ${imageCounter} to end Healthy, Degraded or Invalid`,
      (status) =>
        ((status.observedGeneration ?? 0) >= metadata.generation &&
          (status.conditions ?? []).some(
            (condition) => condition.type === 'Valid' && condition.status === 'False',
          )) ||
        ((status.revision ?? 0) > (before.revision ?? 0) &&
          (status.phase === 'Healthy' || status.phase === 'Degraded')),
      90_000,
    );
  }

  const stepAnalysis = (status: RolloutStatus): AnalysisRunStatus | undefined => status.analysis?.step;

  /** What the step analysis of a revision was started with, from its child workflow's history. */
  async function analysisInput(workflowId: string): Promise<AnalysisRunInput> {
    const history = await scenario.client.workflow
      .getHandle(`${workflowId}/analysis/step-2/a1`)
      .fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    return defaultPayloadConverter.fromPayload(payload!);
  }

  beforeAll(async () => {
    await scenario.firstRevisionHealthy([], { replicas: 1 });
  });

  it.each([
    [
      'single',
      `count(siirto_release_approved{release='{{args.release}}'}) or vector(0)`,
      "2.0'}) or vector(1) #",
    ],
    [
      'double',
      'count(siirto_release_approved{release="{{args.release}}"}) or vector(0)',
      '2.0"}) or vector(1) #',
    ],
  ])(
    'keeps an argument inside %s quotes a label value: a quote and a comment cannot make a failing gate pass',
    async (quotes, query, release) => {
      const template = `release-gate-${quotes}`;
      await applyGate(template, query);
      const outcome = await rollOutGatedBy(template, [{ name: 'release', value: release }]);
      expect(outcome).toMatchObject({ phase: 'Degraded', weights: { stable: 100, canary: 0 } });
      expect(outcome.message).toBe(
        'analysis failed: approved 0: success condition "result >= 1" did not hold',
      );
      expect(stepAnalysis(outcome)?.metrics[0]).toMatchObject({
        name: 'approved',
        phase: 'Failed',
        failed: 1,
      });
      // The value went in escaped: the query Prometheus was sent asks for that odd release, no more.
      const quote = quotes === 'single' ? "'" : '"';
      const { metrics } = await analysisInput(outcome.workflowId ?? '');
      expect(metrics[0]?.query).toBe(query.replace('{{args.release}}', release.replace(quote, `\\${quote}`)));
    },
  );

  it('refuses to query a Prometheus address the worker does not allow, and rolls back without asking it', async () => {
    await applyGate(
      'remote-gate',
      'count(siirto_release_approved{release="{{args.release}}"}) or vector(0)',
      { address: impostor.url },
    );
    const outcome = await rollOutGatedBy('remote-gate', [{ name: 'release', value: '2.0' }]);
    expect(outcome).toMatchObject({ phase: 'Degraded', weights: { stable: 100, canary: 0 } });
    expect(outcome.message).toContain(
      `AnalysisTemplate ${namespace}/remote-gate spec.metrics[0].provider.prometheus.address (metric "approved") ` +
        `is "${impostor.url}", a Prometheus this worker is not allowed to query: add it to ` +
        'SIIRTO_PROMETHEUS_ALLOWED_ADDRESSES on the worker, or leave the address out to use SIIRTO_PROMETHEUS_URL',
    );
    expect(impostor.queries).toEqual([]);
  });

  it('ends an analysis whose query Prometheus cannot parse with a Failed verdict, its workflow Completed', async () => {
    await applyGate('unparsable-gate', 'count(siirto_release_approved{release="{{args.release}}"}');
    const outcome = await rollOutGatedBy('unparsable-gate', [{ name: 'release', value: '2.0' }]);
    expect(outcome).toMatchObject({ phase: 'Degraded', weights: { stable: 100, canary: 0 } });
    expect(outcome.message).toMatch(
      /^analysis failed: approved Prometheus cannot run the query of metric "approved"/,
    );
    expect(stepAnalysis(outcome)).toMatchObject({ phase: 'Failed' });
    expect(stepAnalysis(outcome)?.metrics[0]).toMatchObject({ phase: 'Failed', errors: 1 });

    const child = scenario.client.workflow.getHandle(`${outcome.workflowId}/analysis/step-2/a1`);
    await waitFor(
      'the analysis workflow to close',
      async () => (await child.describe()).status.name !== 'RUNNING',
    );
    expect((await child.describe()).status.name).toBe('COMPLETED');
    await expect(child.result()).resolves.toMatchObject({ phase: 'Failed' });
    await recordHistoryFixture('analysis-run-unusable-metric', child);
  });

  it('queries a Prometheus the worker allows beside its default', async () => {
    const answeredBefore = await queriesAnswered(allowed.url);
    await applyGate('allowed-gate', 'vector(1)', { address: `${allowed.url}/` });
    const outcome = await rollOutGatedBy('allowed-gate', []);
    expect(outcome.phase).toBe('Healthy');
    expect(stepAnalysis(outcome)?.metrics[0]).toMatchObject({ name: 'approved', phase: 'Successful' });
    expect(await queriesAnswered(allowed.url)).toBeGreaterThan(answeredBefore);
  });

  /**
   * Waits until the last revision's run has closed (a Healthy one, after its old stable's scale-down
   * delay): while a revision is in flight the bridge reports a spec's problems as a condition only.
   */
  async function nothingInFlight(): Promise<void> {
    const { workflowId } = await scenario.see.rolloutStatus(app);
    const run = scenario.client.workflow.getHandle(workflowId ?? '');
    await waitFor(`${workflowId} to close`, async () => (await run.describe()).status.name !== 'RUNNING');
  }

  /** Invalid, with the problem in the message and in the Valid condition. */
  function expectInvalid(status: RolloutStatus, problem: string): void {
    expect(status.phase).toBe('Invalid');
    expect(status.message).toContain(problem);
    expect(status.conditions).toContainEqual(
      expect.objectContaining({ type: 'Valid', status: 'False', message: expect.stringContaining(problem) }),
    );
  }

  it('refuses an argument outside quotes that is not a number or a duration, naming the field', async () => {
    await nothingInFlight();
    await applyGate(
      'release-threshold',
      'count(siirto_release_approved{release="{{args.release}}"}) >= {{args.approvals}} or vector(0)',
      { args: [{ name: 'release' }, { name: 'approvals', value: '2' }] },
    );
    const outcome = await rollOutGatedBy('release-threshold', [
      { name: 'release', value: '2.0' },
      { name: 'approvals', value: '0 or vector(1)' },
    ]);
    expectInvalid(
      outcome,
      `AnalysisTemplate ${namespace}/release-threshold spec.metrics[0].provider.prometheus.query (metric "approved") ` +
        'uses {{args.approvals}} outside quotes, where its value "0 or vector(1)" would be read as PromQL: write ' +
        'the placeholder inside quotes, such as label="{{args.approvals}}", or pass a number or a duration such ' +
        'as 5m, the only values that may stand outside quotes',
    );
  });

  it('makes a Rollout Invalid whose background analysis starts beyond its last step', async () => {
    await nothingInFlight();
    await applyGate(
      'release-gate-double',
      'count(siirto_release_approved{release="{{args.release}}"}) or vector(0)',
    );
    const outcome = await rollOutGatedBy('release-gate-double', [{ name: 'release', value: '2.0' }], {
      steps: [{ setWeight: 50 }, { pause: { duration: '1s' } }],
      analysis: {
        startingStep: 2,
        templates: [{ templateName: 'release-gate-double' }],
        args: [{ name: 'release', value: '2.0' }],
      },
    });
    expectInvalid(
      outcome,
      'spec.strategy.canary.analysis.startingStep: 2 is beyond the last step; spec.strategy.canary.steps has ' +
        '2 steps (indices 0 to 1), so the background analysis would never run: set it to 0–1',
    );
  });
});
