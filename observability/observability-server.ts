import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { listen, type ListeningServer } from './http-listening';
import type { Logger } from './log';
import type { Readiness } from './readiness';

/**
 * The HTTP endpoints every Siirto process serves: /metrics for Prometheus, /healthz (the process
 * answers) for a liveness probe, /readyz (it reaches Kubernetes and Temporal) for a readiness probe.
 */

export const METRIC_PREFIX = 'siirto_';

/** A registry with the process metrics (CPU, memory, event loop lag, ...) under Siirto's prefix. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}

export type ObservabilityServer = ListeningServer;

export async function serveObservability(options: {
  port: number;
  registry: Registry;
  readiness: Readiness;
  log: Logger;
}): Promise<ObservabilityServer> {
  const { registry, readiness, log } = options;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const answer = async () => {
      if (path === '/metrics') {
        response.setHeader('Content-Type', registry.contentType);
        response.end(await registry.metrics());
      } else if (path === '/healthz') {
        response.setHeader('Content-Type', 'application/json');
        response.end(JSON.stringify({ alive: true }));
      } else if (path === '/readyz') {
        const report = await readiness.report();
        response.statusCode = report.ready ? 200 : 503;
        response.setHeader('Content-Type', 'application/json');
        response.end(JSON.stringify(report));
      } else {
        response.statusCode = 404;
        response.end('not found: try /metrics, /healthz or /readyz\n');
      }
    };
    answer().catch((error: unknown) => {
      log.warn('metrics or health request failed', { error, path });
      response.statusCode = 500;
      response.end();
    });
  });
  // All interfaces: Prometheus and the kubelet reach a pod on its own address.
  const listening = await listen(
    server,
    { port: options.port },
    'metrics',
    'set SIIRTO_METRICS_PORT to a free port, or 0 for any',
  );
  log.info('serving metrics and health', {
    port: listening.port,
    paths: ['/metrics', '/healthz', '/readyz'],
  });
  return listening;
}
