import { ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../observability/free-port';
import { stack } from './stack';
import { waitFor } from './wait';

/**
 * A Prometheus of one test file's own, with the stack's configuration (the same pod discovery and
 * targets), so the test can stop and restart it without pulling the floor from under the test files
 * running beside it.
 */
export async function privatePrometheus() {
  const directory = mkdtempSync(path.join(tmpdir(), 'siirto-prometheus-'));
  const port = await freePort();
  const config = path.join(directory, 'prometheus.yml');
  copyFileSync(stack.prometheusConfig, config);
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const prometheus = {
    url,
    /** Starts it (again, on the same port and data) and waits until it answers queries. */
    async start(): Promise<void> {
      child = spawn(
        'prometheus',
        [
          `--config.file=${config}`,
          `--storage.tsdb.path=${path.join(directory, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        { stdio: 'ignore' },
      );
      const started = child;
      exited = new Promise((resolve) => started.once('exit', () => resolve()));
      await waitFor(`Prometheus on ${url} to be ready`, async () => (await fetch(`${url}/-/ready`)).ok, {
        timeoutMs: 30_000,
      });
    },
    /** Stops it as an outage would, and waits until it no longer answers. */
    async stop(): Promise<void> {
      child?.kill('SIGTERM');
      await exited;
    },
    async remove(): Promise<void> {
      await prometheus.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
  return prometheus;
}
