import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { measureMetric as measureWithProviders } from '../../activities/metric-measurement';
import type { PrometheusSettings } from '../../activities/prometheus-settings';
import { createMetricProviders } from '../../analysis/metric-providers';
import { resolveMetrics } from '../../analysis/metric-resolution';
import type { ResolvedMetric } from '../../analysis/resolved-metric';
import { RolloutAnalysisSchema } from '../../schemas/analysis';
import { POD_TEMPLATE_HASH_LABEL } from '../../kubernetes/labels';
import { failureOf } from '../activities/fixtures';
import { kubectlApply, podMetadata, sampleContainer } from '../harness/rollout-fixtures';
import { type LoadGenerator, startLoad } from '../../stack/load-generator';
import { podServer } from '../traffic/pod-server';
import { isolate } from '../harness/isolation';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';

/** Measures as a worker with these Prometheus settings does. */
const measureMetric = (input: { metric: ResolvedMetric }, prometheus: PrometheusSettings) =>
  measureWithProviders(input, createMetricProviders({ prometheus }));

/** Serves `handler`'s text on an ephemeral port of the loopback interface. */
async function serve(
  handler: Parameters<typeof createServer>[1],
): Promise<{ server: Server; address: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function close(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('measuring a metric with the local Prometheus', () => {
  const scope = isolate('measurement');
  const { namespace } = scope;
  // Every series of this file carries its own `test` label (from the target file) or namespace label.
  const test = scope.workflowIdPrefix;
  const targetFile = () => path.join(stack.prometheusTargetsDir, `${test}.json`);
  const settings = (): PrometheusSettings => ({ defaultPrometheusUrl: stack.prometheusUrl });
  const servers: Server[] = [];

  /** The target's exposition: a gauge for each case. */
  function exposition(): string {
    return [
      '# TYPE siirto_analysis_value gauge',
      'siirto_analysis_value{case="low"} 0.02',
      'siirto_analysis_value{case="high"} 0.31',
      'siirto_analysis_value{case="middle"} 0.07',
      'siirto_analysis_value{case="tiny"} 1.5e-05',
      'siirto_analysis_value{case="nan"} NaN',
      'siirto_analysis_value{case="pair",part="a"} 1',
      'siirto_analysis_value{case="pair",part="b"} 2',
      '',
    ].join('\n');
  }

  const metric = (query: string, conditions: Partial<ResolvedMetric> = {}): ResolvedMetric => ({
    name: 'probe',
    source: 'AnalysisTemplate test/probe',
    query,
    intervalMilliseconds: 1_000,
    count: 1,
    initialDelayMilliseconds: 0,
    failureLimit: 0,
    inconclusiveLimit: 0,
    consecutiveErrorLimit: 0,
    ...conditions,
  });
  const value = (labels: string) => `siirto_analysis_value{test="${test}",${labels}}`;

  async function instantQuery(query: string): Promise<unknown[]> {
    const response = await fetch(`${stack.prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
    const body = (await response.json()) as { data: { result: unknown[] } };
    return body.data.result;
  }

  beforeAll(async () => {
    const target = await serve((_request, response) => {
      response.setHeader('Content-Type', 'text/plain; version=0.0.4');
      response.end(exposition());
    });
    servers.push(target.server);
    mkdirSync(stack.prometheusTargetsDir, { recursive: true });
    writeFileSync(
      targetFile(),
      JSON.stringify([{ targets: [target.address.replace('http://', '')], labels: { test } }]),
    );
    await waitFor('Prometheus to scrape every gauge of the test target', async () => {
      return (await instantQuery(`siirto_analysis_value{test="${test}"}`)).length === 7;
    });
  });

  afterAll(async () => {
    rmSync(targetFile(), { force: true });
    await Promise.all(servers.map(close));
  });

  it('is Successful when the success condition holds, and says so with the value', async () => {
    await expect(
      measureMetric(
        { metric: metric(value('case="low"'), { successCondition: 'result < 0.05' }) },
        settings(),
      ),
    ).resolves.toEqual({
      verdict: 'Successful',
      value: '0.02',
      message: '0.02: success condition "result < 0.05" held',
    });
  });

  it('is Failed when the failure condition holds, even if the success condition holds too', async () => {
    const conditions = { successCondition: 'result > 0', failureCondition: 'result >= 0.1' };
    await expect(
      measureMetric({ metric: metric(value('case="high"'), conditions) }, settings()),
    ).resolves.toEqual({
      verdict: 'Failed',
      value: '0.31',
      message: '0.31: failure condition "result >= 0.1" held',
    });
  });

  it.each([
    [
      'only a success condition, which fails',
      { successCondition: 'result < 0.05' },
      'Failed',
      'success condition "result < 0.05" did not hold',
    ],
    [
      'only a failure condition, which does not hold',
      { failureCondition: 'result >= 0.1' },
      'Successful',
      'failure condition "result >= 0.1" did not hold',
    ],
    [
      'both conditions, neither holding',
      { successCondition: 'result < 0.05', failureCondition: 'result >= 0.1' },
      'Inconclusive',
      'neither the success condition "result < 0.05" nor the failure condition "result >= 0.1" held',
    ],
  ])('with %s, judges 0.07 %s', async (_case, conditions, verdict, why) => {
    await expect(
      measureMetric({ metric: metric(value('case="middle"'), conditions) }, settings()),
    ).resolves.toEqual({
      verdict,
      value: '0.07',
      message: `0.07: ${why}`,
    });
  });

  it('reads scalar results and numbers in any notation', async () => {
    const outcome = await measureMetric(
      {
        metric: metric(`scalar(${value('case="tiny"')})`, {
          successCondition: 'result < 1e-4 and result > 1e-6',
        }),
      },
      settings(),
    );
    // Prometheus writes small numbers in full and large ones with an exponent.
    expect(outcome).toMatchObject({ verdict: 'Successful', value: '0.000015' });
    await expect(
      measureMetric(
        { metric: metric('vector(1.5e300)', { successCondition: 'result > 1e299' }) },
        settings(),
      ),
    ).resolves.toMatchObject({ verdict: 'Successful', value: '1.5e+300' });
  });

  it('is Inconclusive, not Successful, when the selector matches nothing', async () => {
    const outcome = await measureMetric(
      { metric: metric(value('case="absent"'), { failureCondition: 'result > 1' }) },
      settings(),
    );
    expect(outcome).toEqual({
      verdict: 'Inconclusive',
      message: 'no data: the query matched no series (no traffic yet, or selectors that match nothing)',
    });
  });

  it.each([
    ['a gauge set to NaN', value('case="nan"'), 'NaN'],
    ['0/0', '0/0', 'NaN'],
    ['a division by zero', '1/0', '+Inf'],
    ['a negative division by zero', '-1/0', '-Inf'],
  ])('is Inconclusive for %s, whatever the conditions say', async (_case, query, text) => {
    // `result != 5` would hold for NaN and the infinities if they reached the condition.
    const outcome = await measureMetric(
      { metric: metric(query, { successCondition: 'result != 5' }) },
      settings(),
    );
    expect(outcome).toMatchObject({ verdict: 'Inconclusive', value: text });
    expect(outcome.message.startsWith(`${text}: the query's result is`)).toBe(true);
  });

  it('is Inconclusive for several series, telling to aggregate them', async () => {
    const outcome = await measureMetric(
      { metric: metric(value('case="pair"'), { successCondition: 'result > 0' }) },
      settings(),
    );
    expect(outcome.verdict).toBe('Inconclusive');
    expect(outcome.message).toMatch(
      /^the query returned 2 series \(\{.*part="a".*\}, \{.*part="b".*\}\), not one number: aggregate them, such as with sum\(\.\.\.\) or max\(\.\.\.\)$/,
    );
    await expect(
      measureMetric(
        { metric: metric(`sum(${value('case="pair"')})`, { successCondition: 'result == 3' }) },
        settings(),
      ),
    ).resolves.toMatchObject({ verdict: 'Successful', value: '3' });
  });

  it('is Inconclusive for a range vector or a string, saying what it got', async () => {
    const range = await measureMetric(
      { metric: metric(`${value('case="low"')}[5s]`, { successCondition: 'result > 0' }) },
      settings(),
    );
    expect(range).toEqual({
      verdict: 'Inconclusive',
      message:
        'the query returned a range vector, not a number: wrap the [range] selector in rate(...) or similar',
    });
    const text = await measureMetric(
      { metric: metric('"words"', { successCondition: 'result > 0' }) },
      settings(),
    );
    expect(text).toEqual({
      verdict: 'Inconclusive',
      message: 'the query returned a string, not a number: make it return a scalar or one series',
    });
  });

  it('fails non-retryably as InvalidConfiguration when Prometheus cannot parse the query', async () => {
    const failure = await failureOf(
      measureMetric(
        { metric: metric('sum(rate(http_requests_total[1m]', { successCondition: 'result > 0' }) },
        settings(),
      ),
    );
    expect(failure.type).toBe('InvalidConfiguration');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(
      /^Prometheus cannot run the query of metric "probe" \(AnalysisTemplate test\/probe\): .*parse error.*\. Fix the query: sum\(rate\(http_requests_total\[1m\]$/,
    );
  });

  it('uses the address a metric names over the default, once the worker allows it', async () => {
    const unreachableDefault = {
      defaultPrometheusUrl: 'http://127.0.0.1:9',
      allowedAddresses: [stack.prometheusUrl],
    };
    const outcome = await measureMetric(
      {
        metric: metric(value('case="low"'), {
          successCondition: 'result < 0.05',
          address: `${stack.prometheusUrl}/`,
        }),
      },
      unreachableDefault,
    );
    expect(outcome.verdict).toBe('Successful');
  });

  it('refuses non-retryably an address the worker does not allow, sending it nothing', async () => {
    let requests = 0;
    const { server, address } = await serve((_request, response) => {
      requests++;
      response.end();
    });
    servers.push(server);
    const failure = await failureOf(
      measureMetric({ metric: metric('vector(1)', { successCondition: 'result > 0', address }) }, settings()),
    );
    expect(failure).toMatchObject({
      type: 'InvalidConfiguration',
      nonRetryable: true,
      message:
        `metric "probe" (AnalysisTemplate test/probe) provider.prometheus.address is "${address}", a Prometheus ` +
        'this worker is not allowed to query: add it to SIIRTO_PROMETHEUS_ALLOWED_ADDRESSES on the worker, or ' +
        'leave the address out to use SIIRTO_PROMETHEUS_URL',
    });
    expect(requests).toBe(0);
  });

  it('is an Error when nothing listens at the address', async () => {
    const { server, address } = await serve(() => undefined);
    await close(server);
    const outcome = await measureMetric(
      { metric: metric('vector(1)', { successCondition: 'result > 0' }) },
      { defaultPrometheusUrl: address },
    );
    expect(outcome).toEqual({
      verdict: 'Error',
      message: `Prometheus at ${address} could not be reached: connect ECONNREFUSED ${address.replace('http://', '')}`,
    });
  });

  it('is an Error when Prometheus does not answer in time', async () => {
    // Accepts the request and never answers, as an overloaded Prometheus would.
    const { server, address } = await serve(() => undefined);
    servers.push(server);
    const started = Date.now();
    const outcome = await measureMetric(
      { metric: metric('vector(1)', { successCondition: 'result > 0' }) },
      { defaultPrometheusUrl: address, timeoutMilliseconds: 500 },
    );
    expect(outcome).toEqual({
      verdict: 'Error',
      message: `Prometheus at ${address} did not answer within 500ms`,
    });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('is an Error when Prometheus answers with a server error', async () => {
    const { server, address } = await serve((_request, response) => {
      response.statusCode = 503;
      response.setHeader('Content-Type', 'application/json');
      response.end(JSON.stringify({ status: 'error', errorType: 'unavailable', error: 'TSDB not ready' }));
    });
    servers.push(server);
    const outcome = await measureMetric(
      { metric: metric('vector(1)', { successCondition: 'result > 0' }) },
      { defaultPrometheusUrl: address },
    );
    expect(outcome).toEqual({
      verdict: 'Error',
      message: `Prometheus at ${address} answered HTTP 503: unavailable: TSDB not ready`,
    });
  });

  describe('the built-in error rate, on pods Prometheus discovers', () => {
    // Revisions of an app as Siirto labels their pods: the canary fails 1 request in 10, the stable
    // one in 2; the clean revision never failed one, so it has no 5xx series at all; the idle one
    // serves nothing. Each gets its requests straight at its pod's address.
    const revisions = { canary: 0.1, stable: 0.5, clean: 0, idle: 0 };
    const loads: LoadGenerator[] = [];

    beforeAll(async () => {
      await kubectlApply(
        Object.entries(revisions)
          .map(([hash, errorRate]) =>
            JSON.stringify({
              apiVersion: 'apps/v1',
              kind: 'ReplicaSet',
              metadata: { name: `web-${hash}`, namespace },
              spec: {
                replicas: 1,
                selector: { matchLabels: { app: 'web', [POD_TEMPLATE_HASH_LABEL]: hash } },
                template: {
                  metadata: {
                    ...podMetadata('web'),
                    labels: { app: 'web', [POD_TEMPLATE_HASH_LABEL]: hash },
                  },
                  spec: {
                    containers: [
                      sampleContainer('registry.example/web:1', { SAMPLE_APP_ERROR_RATE: errorRate }),
                    ],
                  },
                },
              },
            }),
          )
          .join('\n---\n'),
      );
      const pods = await waitFor('a running pod of each revision', async () => {
        const running = await podServer.pods(namespace);
        return running.length === Object.keys(revisions).length && running;
      });
      for (const pod of pods) {
        if (pod.labels[POD_TEMPLATE_HASH_LABEL] === 'idle') continue;
        loads.push(startLoad({ url: `http://${pod.ip}:8080/`, ratePerSecond: 20 }));
      }
      // Every series spans the whole 10 s window measured below: rate() extrapolates a series that
      // began inside the window from its own first sample, so a 5xx series that began a scrape after
      // its revision's other series would be extrapolated differently, and the share between them skewed.
      await waitFor(
        'Prometheus to hold samples of every revision from before the window',
        async () => {
          const counts = await instantQuery(
            `count_over_time(http_requests_total{namespace="${namespace}",code="200"}[10s] offset 10s) >= 6`,
          );
          return counts.length === Object.keys(revisions).length;
        },
        { timeoutMs: 60_000 },
      );
    }, 90_000);

    afterAll(async () => {
      await Promise.all(loads.map((load) => load.stop()));
    });

    const builtInErrorRate = (canaryHash: string) => {
      const [errorRate] = resolveMetrics({
        templates: [],
        analysis: RolloutAnalysisSchema.parse({ builtIn: { errorRate: { max: 0.2 }, window: '10s' } }),
        context: {
          namespace,
          rollout: 'web',
          canaryHash,
          stableHash: 'stable',
          canaryService: 'web-canary',
          stableService: 'web-stable',
        },
        mode: 'step',
      });
      return errorRate!;
    };

    /**
     * Failures are spread evenly, so the share of n requests is exact to within 1/n: the tolerances
     * below hold when the window has 100 requests or more. A busy machine can slow the load for a
     * while; the measurement then waits until the window is full again.
     */
    const windowHoldsRequests = (hash: string) =>
      waitFor(
        `the 10 s window to hold 100 requests of ${hash}`,
        async () => {
          const full = await instantQuery(
            `sum(increase(http_requests_total{namespace="${namespace}",siirto_dev_pod_template_hash="${hash}"}[10s])) >= 100`,
          );
          return full.length === 1;
        },
        { timeoutMs: 60_000 },
      );

    it('computes the share of 5xx responses of the canary alone', async () => {
      await windowHoldsRequests('canary');
      const outcome = await measureMetric({ metric: builtInErrorRate('canary') }, settings());
      expect(outcome.verdict).toBe('Successful');
      expect(Math.abs(Number(outcome.value) - 0.1)).toBeLessThan(0.02);
      expect(outcome.message).toBe(`${outcome.value}: success condition "result <= 0.2" held`);
    });

    it('fails a revision whose share is above the threshold', async () => {
      await windowHoldsRequests('stable');
      const outcome = await measureMetric({ metric: builtInErrorRate('stable') }, settings());
      expect(outcome.verdict).toBe('Failed');
      expect(Math.abs(Number(outcome.value) - 0.5)).toBeLessThan(0.02);
    });

    it('is 0 for a revision that has never answered a 5xx, though it exports no 5xx series', async () => {
      await expect(measureMetric({ metric: builtInErrorRate('clean') }, settings())).resolves.toEqual({
        verdict: 'Successful',
        value: '0',
        message: '0: success condition "result <= 0.2" held',
      });
    });

    it('is Inconclusive, never Successful, for a revision without traffic (0/0)', async () => {
      await expect(measureMetric({ metric: builtInErrorRate('idle') }, settings())).resolves.toMatchObject({
        verdict: 'Inconclusive',
        value: 'NaN',
      });
    });
  });
});
