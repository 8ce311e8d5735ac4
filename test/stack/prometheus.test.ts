import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import path from 'node:path';
import { Gauge, Registry } from 'prom-client';
import { isolate } from '../harness/isolation';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';

interface QueryResponse {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

describe('the local Prometheus', () => {
  const scope = isolate('prometheus');
  const targetFile = () => path.join(stack.prometheusTargetsDir, `${scope.workflowIdPrefix}.json`);
  let server: Server;

  afterAll(async () => {
    rmSync(targetFile(), { force: true });
    await new Promise((resolve) => server?.close(resolve));
  });

  it('scrapes a target a test adds and answers queries with its sample', async () => {
    const registry = new Registry();
    new Gauge({
      name: 'siirto_smoke_value',
      help: 'A value only this test exports.',
      registers: [registry],
    }).set(42);
    server = createServer(async (_request, response) => {
      response.setHeader('Content-Type', registry.contentType);
      response.end(await registry.metrics());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    mkdirSync(stack.prometheusTargetsDir, { recursive: true });
    writeFileSync(
      targetFile(),
      JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { test: scope.workflowIdPrefix } }]),
    );

    const query = `siirto_smoke_value{test="${scope.workflowIdPrefix}"}`;
    const sample = await waitFor('Prometheus to scrape the test target', async () => {
      const response = await fetch(`${stack.prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
      const body = (await response.json()) as QueryResponse;
      return body.data.result[0];
    });
    expect(sample.metric.instance).toBe(`127.0.0.1:${port}`);
    expect(Number(sample.value[1])).toBe(42);
  });
});
