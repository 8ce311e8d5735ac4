import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The child side of a traffic process: how it tells its parent where it listens, and how it ends.
 * The parent (traffic-process.ts) learns the port from the `listening` JSON line on stdout.
 */

export interface ListeningAnnouncement {
  event: 'listening';
  port: number;
}

/** Listens on loopback (port 0: any free port) and prints the bound port as one JSON line. */
export async function listenAndAnnounce(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const announcement: ListeningAnnouncement = { event: 'listening', port: bound };
  process.stdout.write(`${JSON.stringify(announcement)}\n`);
  return bound;
}

/**
 * Stops the process on SIGTERM or SIGINT, and also when the parent goes away without a word: a test
 * process killed by a timeout or SIGKILL closes the IPC channel, and this process must not outlive it.
 */
export function endWithParent(close: () => Promise<void> | void): void {
  let ending = false;
  const end = (reason: string) => {
    if (ending) return;
    ending = true;
    process.stdout.write(`${JSON.stringify({ event: 'stopping', reason })}\n`);
    // Whatever close does, the process ends within a second: nothing here is worth keeping it alive.
    setTimeout(() => process.exit(0), 1_000).unref();
    void Promise.resolve()
      .then(close)
      .finally(() => process.exit(0));
  };
  process.once('SIGTERM', () => end('SIGTERM'));
  process.once('SIGINT', () => end('SIGINT'));
  if (process.connected) process.once('disconnect', () => end('parent gone'));
}

export function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
