import type { Behaviour } from '../../stack/pod-server/behaviour';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';
import { startLoad, type ResponseCounts } from '../../stack/load-generator';
import { podServer } from './pod-server';

/**
 * Real traffic for a test: a steady load sent through the stack's gateway (Traefik) to one HTTPRoute,
 * by its hostname. Traefik splits it by the route's weights between the Services' Ready pods, found
 * through their EndpointSlices, and the pod server answers as each pod's image and environment say.
 */

export interface TrafficOptions {
  /** The hostname of the HTTPRoute the load goes to (`routeHost` in rollout-fixtures.ts). */
  host: string;
  /** More request headers, such as one a header route matches. */
  headers?: Record<string, string>;
  /** Requests a second sent to the gateway; 50 unless given. */
  ratePerSecond?: number;
  /** Requests in flight at most; 100 unless given. */
  concurrency?: number;
}

export interface Traffic {
  /** What the load generator has received so far. */
  responses(): ResponseCounts;
  /**
   * Waits until `count` more answers have come in, and returns the share each version gave of them:
   * what a person watching the traffic would see of the split at this moment.
   */
  measureSplit(count: number, timeoutMs?: number): Promise<Split>;
  /** Stops the load. Safe to call twice. */
  stop(): Promise<void>;
}

export interface Split {
  answered: number;
  /** Version (image tag) → share of the answers, from 0 to 1. */
  shares: Record<string, number>;
  /** Answers that were 5xx from the gateway itself, or no answer at all. */
  failures: number;
}

// Whatever a test did, its load stops after its file's tests.
const cleanUps = new Set<() => Promise<void>>();
afterAll(async () => {
  await Promise.all([...cleanUps].map((cleanUp) => cleanUp()));
});

export function startTraffic(options: TrafficOptions): Traffic {
  const load = startLoad({
    url: `${stack.gatewayUrl}/`,
    host: options.host,
    headers: options.headers,
    ratePerSecond: options.ratePerSecond ?? 50,
    concurrency: options.concurrency,
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= load.stop().then(() => {
      cleanUps.delete(stop);
    });
    return stopping;
  };
  cleanUps.add(stop);

  // Requests that got no answer at all end a window too: they are part of what the load met.
  const answered = (counts: ResponseCounts) => counts.answered + counts.failed;

  return {
    responses: () => load.responses(),
    async measureSplit(count, timeoutMs = (count / (options.ratePerSecond ?? 50)) * 2_000 + 5_000) {
      const before = load.responses();
      const deadline = Date.now() + timeoutMs;
      let after = before;
      while (answered(after) - answered(before) < count) {
        if (Date.now() > deadline) {
          throw new Error(
            `only ${answered(after) - answered(before)} of ${count} requests answered within ${timeoutMs} ms`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
        after = load.responses();
      }
      const total = answered(after) - answered(before);
      const shares: Record<string, number> = {};
      for (const [version, served] of Object.entries(after.byVersion)) {
        const delta = served - (before.byVersion[version] ?? 0);
        if (delta > 0) shares[version] = delta / total;
      }
      return {
        answered: total,
        shares,
        failures: after.gatewayErrors - before.gatewayErrors + after.failed - before.failed,
      };
    },
    stop,
  };
}

/** Changes how every pod of an image in a namespace answers, from its next request on. */
export function setBehaviour(
  namespace: string,
  image: string,
  change: Partial<Behaviour>,
): Promise<Behaviour> {
  return podServer.setBehaviour(namespace, image, change);
}

/**
 * How far a share may stray when the stream shares its rule's round robin with another stream. The
 * round robin is exact over the requests of both, but which turns fall to this stream depends on how
 * the two interleave, so its window is a sample: four binomial standard deviations of the share
 * furthest from 0 or 1, rounded up to a point. A sound split strays past it about once in 15,000
 * windows; a split off by a step (80/20 against 50/50) stays far outside it. A share of 1 gets 0.
 */
export function sampledShareTolerance(expected: Record<string, number>, window: number): number {
  const variance = Math.max(...Object.values(expected).map((share) => share * (1 - share)));
  return Math.ceil(4 * Math.sqrt(variance / window) * 100) / 100;
}

/**
 * Waits for the traffic to settle at the expected shares (version → share), measuring windows of
 * `settleWindow` answers, then measures one window of `window` answers and checks it: no failures, and
 * every share within `tolerance` of the expected one.
 */
export async function splitSettledAt(
  traffic: Traffic,
  expected: Record<string, number>,
  { tolerance, window, settleWindow = 50 }: { tolerance: number; window: number; settleWindow?: number },
): Promise<Split> {
  // Shares are counts over a window: one exactly at the tolerance (0.53 against 0.5) is within it,
  // though its floating-point difference comes out a hair above.
  const deviation = (split: Split, version: string, share: number) =>
    Math.round(Math.abs((split.shares[version] ?? 0) - share) * 1e9) / 1e9;
  const near = (split: Split) =>
    Object.entries(expected).every(([version, share]) => deviation(split, version, share) <= tolerance);
  await waitFor(`the traffic to settle at ${JSON.stringify(expected)}`, async () => {
    const split = await traffic.measureSplit(settleWindow);
    return near(split) && split;
  });
  const split = await traffic.measureSplit(window);
  expect(split.failures).toBe(0);
  for (const [version, share] of Object.entries(expected)) {
    expect(deviation(split, version, share)).toBeLessThanOrEqual(tolerance);
  }
  return split;
}
