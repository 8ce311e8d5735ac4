import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stack } from '../harness/stack';
import type { Behaviour } from './behaviour';
import { LoadGenerator, ResponseCounts, startLoad } from './load-generator';
import type { GatewayWeights } from './route-weights';
import { TrafficProcess } from './traffic-process';

/**
 * Real traffic for a test: a stable and a canary sample app, a gateway splitting requests between
 * them by an HTTPRoute's weights, a load generator sending to the gateway, and both apps registered as
 * Prometheus scrape targets labelled as pods of their ReplicaSets would be.
 */

export type Track = 'stable' | 'canary';

export interface AppVersion {
  /** The Service the HTTPRoute names for this version. */
  service: string;
  /** The version label of its metrics, and the `pod_template_hash` label Prometheus gives its target. */
  version: string;
  /** How it answers from the start; changeable later with `setBehaviour`. */
  behaviour?: Partial<Behaviour>;
}

export interface TrafficOptions {
  namespace: string;
  /** Name of the HTTPRoute, in `namespace`, whose weights the gateway follows. */
  route: string;
  stable: AppVersion;
  canary: AppVersion;
  /** Requests a second sent to the gateway; 50 unless given. */
  ratePerSecond?: number;
  /** Requests in flight at most; 100 unless given. */
  concurrency?: number;
}

export interface Traffic {
  gatewayUrl: string;
  apps: Record<Track, { url: string; service: string; version: string }>;
  /** Changes how one app answers from its next request on; resolves with its whole new behaviour. */
  setBehaviour(track: Track, change: Partial<Behaviour>): Promise<Behaviour>;
  /** The weights the gateway is applying now. */
  gatewayWeights(): Promise<GatewayWeights>;
  /** What the load generator has received so far. */
  responses(): ResponseCounts;
  /** Requests each app has answered so far, as its own http_requests_total counts them. */
  served(): Promise<Record<Track, number>>;
  /** Stops the load, then the processes, and removes the scrape targets. Safe to call twice. */
  stop(): Promise<void>;
}

// Whatever a test did, its traffic stops after its file's tests, even traffic whose start failed
// halfway (traffic-process.ts also stops the processes, for tests that start them without this module).
const cleanUps = new Set<() => Promise<void>>();
afterAll(async () => {
  await Promise.all([...cleanUps].map((cleanUp) => cleanUp()));
});

export async function startTraffic(options: TrafficOptions): Promise<Traffic> {
  const { namespace, route } = options;
  const processes: TrafficProcess[] = [];
  const targetsFile = path.join(stack.prometheusTargetsDir, `traffic-${namespace}-${route}.json`);
  let load: LoadGenerator | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await load?.stop();
      await Promise.all(processes.map((process) => process.stop()));
      rmSync(targetsFile, { force: true });
      cleanUps.delete(stop);
    })();
    return stopping;
  };
  cleanUps.add(stop);

  const startApp = async (track: Track) => {
    const { version, behaviour = {} } = options[track];
    const args = ['--version', version];
    if (behaviour.errorRate !== undefined) args.push('--error-rate', String(behaviour.errorRate));
    if (behaviour.latencyMilliseconds !== undefined) {
      args.push('--latency-milliseconds', String(behaviour.latencyMilliseconds));
    }
    const app = await TrafficProcess.start(
      'test/traffic/sample-app.ts',
      args,
      `${namespace}-${route}-${track}-${version}`,
    );
    processes.push(app);
    return app;
  };

  try {
    const [stable, canary] = await Promise.all([startApp('stable'), startApp('canary')]);
    writeTargets(targetsFile, [
      {
        targets: [`127.0.0.1:${stable.port}`],
        labels: { namespace, pod_template_hash: options.stable.version },
      },
      {
        targets: [`127.0.0.1:${canary.port}`],
        labels: { namespace, pod_template_hash: options.canary.version },
      },
    ]);
    const gateway = await TrafficProcess.start(
      'test/traffic/weighted-gateway.ts',
      [
        ['--namespace', namespace],
        ['--route', route],
        ['--backend', `${options.stable.service}=${stable.url}`],
        ['--backend', `${options.canary.service}=${canary.url}`],
      ].flat(),
      `${namespace}-${route}-gateway`,
    );
    processes.push(gateway);
    const running = startLoad({
      url: `${gateway.url}/`,
      ratePerSecond: options.ratePerSecond ?? 50,
      concurrency: options.concurrency,
    });
    load = running;

    const apps = {
      stable: { url: stable.url, service: options.stable.service, version: options.stable.version },
      canary: { url: canary.url, service: options.canary.service, version: options.canary.version },
    };
    return {
      gatewayUrl: gateway.url,
      apps,
      setBehaviour: (track, change) => request<Behaviour>(`${apps[track].url}/control`, 'PUT', change),
      gatewayWeights: () => request<GatewayWeights>(`${gateway.url}/gateway/weights`),
      responses: () => running.responses(),
      served: async () => {
        const [stableServed, canaryServed] = await Promise.all([
          requestsServed(stable.url),
          requestsServed(canary.url),
        ]);
        return { stable: stableServed, canary: canaryServed };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface FileTargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** Written aside and renamed, so Prometheus, which rereads the folder every second, never sees half a file. */
function writeTargets(file: string, groups: FileTargetGroup[]): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const partial = `${file}.partial`;
  writeFileSync(partial, JSON.stringify(groups, null, 2));
  renameSync(partial, file);
}

async function request<T>(url: string, method = 'GET', body?: unknown): Promise<T> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** Sums an app's http_requests_total over all codes, read from its /metrics as Prometheus reads it. */
async function requestsServed(appUrl: string): Promise<number> {
  const response = await fetch(`${appUrl}/metrics`);
  if (!response.ok) throw new Error(`GET ${appUrl}/metrics answered ${response.status}`);
  let total = 0;
  for (const line of (await response.text()).split('\n')) {
    const sample = /^http_requests_total\{[^}]*\} (\S+)$/.exec(line);
    if (sample) total += Number(sample[1]);
  }
  return total;
}
