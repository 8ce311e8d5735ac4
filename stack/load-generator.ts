import { Agent, request as httpRequest } from 'node:http';

/**
 * Sends requests at a steady rate to one URL with at most `concurrency` in flight, and counts the
 * answers by status and by the version that answered (the sample app's `X-Served-By-Version`). It runs
 * in the test process: 50 requests a second is light work for Node, and counts read straight from
 * memory are never stale.
 */

export interface LoadOptions {
  /** Where requests go, such as the gateway's URL. */
  url: string;
  /** The Host header, which picks the HTTPRoute at the gateway. */
  host?: string;
  /** More request headers, such as the one a header route sends to the canary. */
  headers?: Record<string, string>;
  ratePerSecond: number;
  /** Requests in flight at most; a request due while all are busy is skipped, not queued. */
  concurrency?: number;
  /** A request with no answer after this long counts as failed. */
  requestTimeoutMs?: number;
}

export interface ResponseCounts {
  /** Answers by HTTP status code, such as `{ "200": 480, "500": 20 }`. */
  byStatus: Record<string, number>;
  /** Answers of any status. */
  answered: number;
  /** Answers by the version that gave them, such as `{ "1": 400, "2": 100 }`; the gateway's own have none. */
  byVersion: Record<string, number>;
  /** Answers of 5xx not given by an app: the gateway found no backend, or could not reach one. */
  gatewayErrors: number;
  /** Requests that got no answer: refused, reset, timed out. */
  failed: number;
  /** Requests due while `concurrency` were already in flight, and so never sent. */
  skipped: number;
  inFlight: number;
  /** Answers of any status per second since the start. */
  achievedRatePerSecond: number;
  elapsedMs: number;
}

export interface LoadGenerator {
  responses(): ResponseCounts;
  /** Sends no more, and resolves once the requests in flight have ended (or after a few seconds). */
  stop(): Promise<void>;
}

const STOP_TIMEOUT_MS = 3_000;

export function startLoad({
  url,
  host,
  headers: extraHeaders = {},
  ratePerSecond,
  concurrency = 100,
  requestTimeoutMs = 10_000,
}: LoadOptions): LoadGenerator {
  if (!(ratePerSecond > 0)) throw new Error(`ratePerSecond must be above 0; got ${ratePerSecond}`);
  if (!(concurrency >= 1)) throw new Error(`concurrency must be at least 1; got ${concurrency}`);
  const target = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const startedAt = performance.now();
  const byStatus: Record<string, number> = {};
  const byVersion: Record<string, number> = {};
  let gatewayErrors = 0;
  let failed = 0;
  let skipped = 0;
  let due = 0;
  let inFlight = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let allLanded: (() => void) | undefined;

  const landed = () => {
    inFlight -= 1;
    if (stopped && inFlight === 0) allLanded?.();
  };

  const send = () => {
    inFlight += 1;
    let answered = false;
    const headers = { ...extraHeaders, ...(host ? { Host: host } : {}) };
    const request = httpRequest(target, { agent, headers, timeout: requestTimeoutMs }, (response) => {
      answered = true;
      const status = String(response.statusCode);
      const version = response.headers['x-served-by-version'];
      response.resume();
      response.once('end', () => {
        byStatus[status] = (byStatus[status] ?? 0) + 1;
        if (typeof version === 'string') byVersion[version] = (byVersion[version] ?? 0) + 1;
        else if ((response.statusCode ?? 0) >= 500) gatewayErrors += 1;
        landed();
      });
      response.once('error', () => {
        failed += 1;
        landed();
      });
    });
    request.once('timeout', () => request.destroy(new Error(`no answer within ${requestTimeoutMs} ms`)));
    request.once('error', () => {
      // An error after the response arrived is counted by the response's own handlers.
      if (answered) return;
      failed += 1;
      landed();
    });
    request.end();
  };

  // Catches up by count rather than ticking at a fixed interval, so a busy event loop delays requests
  // but does not lower the rate over a second.
  const tick = () => {
    if (stopped) return;
    const elapsedMs = performance.now() - startedAt;
    const owed = Math.floor((elapsedMs * ratePerSecond) / 1_000) + 1;
    for (; due < owed; due += 1) {
      if (inFlight < concurrency) send();
      else skipped += 1;
    }
    const nextAtMs = (due * 1_000) / ratePerSecond;
    timer = setTimeout(tick, Math.max(0, nextAtMs - elapsedMs));
  };
  tick();

  return {
    responses() {
      const elapsedMs = performance.now() - startedAt;
      const answered = Object.values(byStatus).reduce((sum, count) => sum + count, 0);
      return {
        byStatus: { ...byStatus },
        answered,
        byVersion: { ...byVersion },
        gatewayErrors,
        failed,
        skipped,
        inFlight,
        achievedRatePerSecond: (answered * 1_000) / elapsedMs,
        elapsedMs,
      };
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      if (inFlight > 0) {
        let deadline: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          allLanded = resolve;
          deadline = setTimeout(resolve, STOP_TIMEOUT_MS);
        });
        clearTimeout(deadline);
      }
      agent.destroy();
    },
  };
}
