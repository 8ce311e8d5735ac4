import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebhookPayload } from '../../workflows/rollout-core/webhook-payload';

/** One call a receiver took: the path it came to, its headers and payload, and when it arrived. */
export interface ReceivedCall {
  path: string;
  headers: IncomingHttpHeaders;
  payload: WebhookPayload;
  at: number;
  /** The status the receiver answered with. */
  status: number;
}

/**
 * A user's webhook receiver on loopback, as a team runs its approval gate or smoke tests: each path
 * answers with the status set for it (200 unless set), and every call is recorded.
 */
export async function startWebhookReceiver() {
  const calls: ReceivedCall[] = [];
  const answers = new Map<string, { status: number; delayMs?: number; location?: string }>();
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const path = request.url ?? '/';
      const { status, delayMs = 0, location } = answers.get(path) ?? { status: 200 };
      let payload: WebhookPayload;
      try {
        payload = JSON.parse(body) as WebhookPayload;
      } catch {
        response.writeHead(400).end();
        return;
      }
      calls.push({ path, headers: request.headers, payload, at: Date.now(), status });
      const headers = { 'content-type': 'text/plain', ...(location ? { location } : {}) };
      const reply = () => response.writeHead(status, headers).end(status < 300 ? 'yes' : 'no');
      if (delayMs > 0) setTimeout(reply, delayMs);
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    calls,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    /** From now on, `path` answers with `status`, after `delayMs`, with a Location header if given. */
    answer(path: string, status: number, options: { delayMs?: number; location?: string } = {}) {
      answers.set(path, { status, ...options });
    },
    /** The calls of one revision (by its pod-template hash), in the order they arrived. */
    callsFor(checksum: string | undefined) {
      return calls.filter((call) => call.payload.checksum === checksum);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback URL nobody listens at: a receiver that is down. */
export async function downReceiverUrl(path: string): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}${path}`;
}
