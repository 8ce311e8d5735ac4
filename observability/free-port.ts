import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A port free at the moment of asking, for a listener that cannot report the port it bound to
 * (the Temporal SDK's metrics exporter).
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
