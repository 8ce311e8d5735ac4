import type { Server } from 'node:http';

/**
 * Keeps idle keep-alive connections open for longer than any test runs. Node closes them after 5 s by
 * default; one closed just as its client sends the next request on it fails that request
 * (ECONNRESET), which the tests would count against the gateway.
 */
export function keepIdleConnectionsOpen(server: Server): void {
  server.keepAliveTimeout = 10 * 60_000;
}
