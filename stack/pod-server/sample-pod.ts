import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Histogram, Registry } from 'prom-client';
import { Behaviour, changeBehaviour, DEFAULT_BEHAVIOUR } from './behaviour';
import type { Pod } from './pod-watch';

/**
 * What one pod runs: the sample app, one program whose image tag is its version. It answers every path
 * with 200 or 500 after an added latency and exports what it served on /metrics, as an app would for
 * Prometheus to scrape. Its container's environment sets how it behaves from the start:
 * SAMPLE_APP_ERROR_RATE (0 to 1) and SAMPLE_APP_LATENCY_MILLISECONDS.
 */

// Fine around the latencies tests set (50 ms, 400 ms): Prometheus interpolates within a bucket, so a
// p95 lands at most one bucket width above the real value.
const DURATION_BUCKETS_SECONDS = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.75, 1, 1.5, 2.5,
];

/** The port a container serves when it declares none: the one Services' targetPort names by convention. */
export const DEFAULT_CONTAINER_PORT = 8080;

export class SamplePod {
  readonly version: string;
  /** As the image and environment set it, before any change a test makes at runtime. */
  readonly initialBehaviour: Behaviour;
  private readonly registry = new Registry();
  private readonly requests: Counter;
  private readonly durations: Histogram;
  private failureDebt = 0;
  served = 0;

  constructor(
    readonly pod: Pod,
    private readonly behaviour: () => Behaviour,
  ) {
    const container = pod.spec.containers[0];
    this.version = imageTag(container?.image ?? '');
    const env = Object.fromEntries((container?.env ?? []).map(({ name, value }) => [name, value]));
    try {
      this.initialBehaviour = changeBehaviour(DEFAULT_BEHAVIOUR, {
        errorRate: env.SAMPLE_APP_ERROR_RATE,
        latencyMilliseconds: env.SAMPLE_APP_LATENCY_MILLISECONDS,
      });
    } catch (error) {
      throw new Error(
        `${(error as Error).message} (set by SAMPLE_APP_ERROR_RATE or SAMPLE_APP_LATENCY_MILLISECONDS)`,
        { cause: error },
      );
    }
    this.requests = new Counter({
      name: 'http_requests_total',
      help: 'Requests answered, by version and status code.',
      labelNames: ['version', 'code'],
      registers: [this.registry],
    });
    this.durations = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from a request arriving to its answer being sent.',
      labelNames: ['version'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers: [this.registry],
    });
    // Only successes exist until the first failure, as in an app that exports what it has served: the
    // built-in error rate must read a missing 5xx series as no errors.
    this.requests.inc({ version: this.version, code: '200' }, 0);
    this.durations.zero({ version: this.version });
  }

  get name(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  handle(request: IncomingMessage, response: ServerResponse): void {
    const path = new URL(request.url ?? '/', 'http://pod').pathname;
    if (path === '/metrics') {
      this.registry.metrics().then(
        (text) => {
          response.writeHead(200, { 'Content-Type': this.registry.contentType });
          response.end(text);
        },
        (error: Error) => {
          response.writeHead(500);
          response.end(error.message);
        },
      );
      return;
    }
    const arrived = performance.now();
    const { errorRate, latencyMilliseconds } = this.behaviour();
    const code = this.nextIsFailure(errorRate) ? 500 : 200;
    const { version } = this;
    request.resume();
    response.once('finish', () => {
      this.served += 1;
      this.requests.inc({ version, code: String(code) });
      this.durations.observe({ version }, (performance.now() - arrived) / 1_000);
    });
    const answer = () => {
      response.writeHead(code, {
        'Content-Type': 'application/json',
        'X-Served-By-Version': version,
        'X-Served-By-Pod': this.pod.metadata.name,
      });
      response.end(JSON.stringify({ version, pod: this.pod.metadata.name, code }));
    };
    if (latencyMilliseconds > 0) setTimeout(answer, latencyMilliseconds);
    else answer();
  }

  // Failures are spread evenly rather than drawn at random: 0.3 fails exactly 3 requests in 10, so a
  // test's tolerance has to cover timing only, not chance.
  private nextIsFailure(errorRate: number): boolean {
    this.failureDebt += errorRate;
    if (this.failureDebt < 1) return false;
    this.failureDebt -= 1;
    return true;
  }
}

/** `registry.example/shop:2` → `2`; an image without a tag is `latest`, as a container runtime reads it. */
export function imageTag(image: string): string {
  const name = image.split('@')[0] ?? '';
  const lastPart = name.slice(name.lastIndexOf('/') + 1);
  const colon = lastPart.lastIndexOf(':');
  return colon === -1 ? 'latest' : lastPart.slice(colon + 1);
}

/** The ports a pod's containers serve: those they declare, or the default one. */
export function servedPorts(pod: Pod): number[] {
  const declared = pod.spec.containers.flatMap((container) =>
    (container.ports ?? [])
      .filter((port) => (port.protocol ?? 'TCP') === 'TCP')
      .map((port) => port.containerPort),
  );
  return declared.length > 0 ? [...new Set(declared)] : [DEFAULT_CONTAINER_PORT];
}
