import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An HTTP server of a Siirto process once it listens: the port it got, and how to stop it. */
export interface ListeningServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Starts `server` on `port` (0 for any free one) at `address` (all interfaces when absent); a port
 * taken or an address not here fails with `fix`, the setting that changes it.
 */
export async function listen(
  server: Server,
  where: { port: number; address?: string },
  what: string,
  fix: string,
): Promise<ListeningServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.address, () => resolve());
  }).catch((error: unknown) => {
    const at = where.address ? `${where.address}:${where.port}` : `port ${where.port}`;
    throw new Error(`cannot serve ${what} on ${at} (${String(error)}); ${fix}`, { cause: error });
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Clients (Prometheus between scrapes, say) keep connections open; shutdown need not wait for them to idle out.
        server.closeAllConnections();
      }),
  };
}
