import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { keepIdleConnectionsOpen } from './idle-connections';
import { parseArgs } from 'node:util';
import { Counter, Histogram, Registry } from 'prom-client';
import { Behaviour, changeBehaviour, DEFAULT_BEHAVIOUR } from './behaviour';
import { endWithParent, fail, listenAndAnnounce } from './child-lifecycle';

/**
 * One version of a sample app, for tests that need real traffic: answers every path with 200 or 500
 * after an added latency, exports what it served on /metrics, and takes new behaviour on
 * `PUT /control`. Neither /metrics nor /control is counted.
 *
 *   node --import tsx test/traffic/sample-app.ts --version v2 [--port 0] [--error-rate 0.3]
 *     [--latency-milliseconds 400]
 *
 * Each flag may come from the environment instead: SAMPLE_APP_PORT, SAMPLE_APP_VERSION,
 * SAMPLE_APP_ERROR_RATE, SAMPLE_APP_LATENCY_MILLISECONDS.
 */

// Fine around the latencies tests set (50 ms, 400 ms): Prometheus interpolates within a bucket, so a
// p95 lands at most one bucket width above the real value.
const DURATION_BUCKETS_SECONDS = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.75, 1, 1.5, 2.5,
];

function readOptions() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: process.env.SAMPLE_APP_PORT ?? '0' },
      version: { type: 'string', default: process.env.SAMPLE_APP_VERSION },
      'error-rate': { type: 'string', default: process.env.SAMPLE_APP_ERROR_RATE },
      'latency-milliseconds': { type: 'string', default: process.env.SAMPLE_APP_LATENCY_MILLISECONDS },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    fail(`--port must be a port number, or 0 for any free port; got ${values.port}`);
  }
  if (!values.version) fail('--version is required: the version label this app reports, such as v2');
  let behaviour: Behaviour;
  try {
    behaviour = changeBehaviour(DEFAULT_BEHAVIOUR, {
      errorRate: values['error-rate'],
      latencyMilliseconds: values['latency-milliseconds'],
    });
  } catch (error) {
    fail(`${(error as Error).message} (flag --error-rate or --latency-milliseconds)`);
  }
  return { port, version: values.version, behaviour };
}

async function main(): Promise<void> {
  const options = readOptions();
  const { version } = options;
  let behaviour = options.behaviour;

  const registry = new Registry();
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'Requests answered, by version and status code.',
    labelNames: ['version', 'code'],
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from a request arriving to its answer being sent.',
    labelNames: ['version'],
    buckets: DURATION_BUCKETS_SECONDS,
    registers: [registry],
  });
  // Only successes exist until the first failure, as in an app that exports what it has served: the
  // built-in error rate must read a missing 5xx series as no errors.
  requests.inc({ version, code: '200' }, 0);
  durations.zero({ version });

  // Failures are spread evenly rather than drawn at random: 0.3 fails exactly 3 requests in 10, so a
  // test's tolerance has to cover timing only, not chance.
  let failureDebt = 0;
  const nextIsFailure = () => {
    failureDebt += behaviour.errorRate;
    if (failureDebt < 1) return false;
    failureDebt -= 1;
    return true;
  };

  const serve = (request: IncomingMessage, response: ServerResponse) => {
    const arrived = performance.now();
    const code = nextIsFailure() ? 500 : 200;
    request.resume();
    response.once('finish', () => {
      requests.inc({ version, code: String(code) });
      durations.observe({ version }, (performance.now() - arrived) / 1_000);
    });
    const answer = () => {
      response.writeHead(code, { 'Content-Type': 'application/json', 'X-Served-By-Version': version });
      response.end(JSON.stringify({ version, code }));
    };
    if (behaviour.latencyMilliseconds > 0) setTimeout(answer, behaviour.latencyMilliseconds);
    else answer();
  };

  const control = async (request: IncomingMessage, response: ServerResponse) => {
    if (request.method === 'PUT') {
      let body = '';
      for await (const chunk of request) body += String(chunk);
      try {
        behaviour = changeBehaviour(behaviour, JSON.parse(body));
      } catch (error) {
        response.writeHead(400, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ error: (error as Error).message }));
        return;
      }
      process.stdout.write(`${JSON.stringify({ event: 'behaviour', ...behaviour })}\n`);
    } else if (request.method !== 'GET') {
      response.writeHead(405, { Allow: 'GET, PUT' });
      response.end();
      return;
    }
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(behaviour));
  };

  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://sample-app').pathname;
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => {
          response.writeHead(200, { 'Content-Type': registry.contentType });
          response.end(text);
        },
        (error: Error) => {
          response.writeHead(500);
          response.end(error.message);
        },
      );
    } else if (path === '/control') {
      void control(request, response);
    } else {
      serve(request, response);
    }
  });
  keepIdleConnectionsOpen(server);
  // Answers already scheduled are not waited for: a stopped app is gone, as a killed pod is.
  endWithParent(() => {
    server.closeAllConnections();
    server.close();
  });
  await listenAndAnnounce(server, options.port);
  process.stdout.write(`${JSON.stringify({ event: 'started', version, ...behaviour })}\n`);
}

main().catch((error: Error) => fail(`sample app failed: ${error.stack ?? error.message}`));
