import { Client, Connection } from '@temporalio/client';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../observability/free-port';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';

/** A dev server of this file's own, started as the stack starts its one, on the given database file. */
class DevServer {
  private process: ChildProcess | undefined;
  private output = '';

  constructor(
    readonly port: number,
    private readonly dbFilename: string,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts the server and resolves with a connection once it serves. */
  async start(): Promise<Connection> {
    const child = spawn(
      path.join(stack.binDir, 'temporal'),
      [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--headless',
        '--db-filename',
        this.dbFilename,
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.process = child;
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-4_000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    return waitFor(
      `the dev server on ${this.address} to serve`,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`it exited (${child.exitCode ?? child.signalCode}): ${this.output}`);
        }
        return Connection.connect({ address: this.address, connectTimeout: '1s' });
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }

  /** Kills the server as a crash would, leaving it no chance to flush anything at shutdown. */
  async kill(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

describe('the Temporal dev server with a database file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'siirto-temporal-db-'));
  const workflowId = `test-persistence-${randomBytes(3).toString('hex')}`;
  let server: DevServer;
  const connections: Connection[] = [];

  beforeAll(async () => {
    server = new DevServer(await freePort(), path.join(dir, 'temporal.db'));
  });

  afterAll(async () => {
    await Promise.allSettled(connections.map((connection) => connection.close()));
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps workflow history across a server restart', async () => {
    const before = await server.start();
    connections.push(before);
    const client = new Client({ connection: before });
    // No worker polls this task queue: the workflow stays open with the history written so far.
    const handle = await client.workflow.start('persistenceProbe', {
      taskQueue: `${workflowId}-no-worker`,
      workflowId,
    });
    await handle.signal('note', 'before restart');
    const written = await handle.fetchHistory();
    const signals = (history: typeof written) =>
      (history.events ?? []).flatMap(
        (event) => event.workflowExecutionSignaledEventAttributes?.signalName ?? [],
      );
    expect(signals(written)).toEqual(['note']);

    await server.kill();
    const after = await server.start();
    connections.push(after);
    const restarted = new Client({ connection: after }).workflow.getHandle(workflowId);

    expect((await restarted.fetchHistory()).events).toEqual(written.events);
    expect((await restarted.describe()).status.name).toBe('RUNNING');
    // And the workflow goes on where it was: a signal after the restart lands after the first one.
    await restarted.signal('note', 'after restart');
    const continued = await restarted.fetchHistory();
    expect(continued.events?.slice(0, written.events?.length)).toEqual(written.events);
    expect(signals(continued)).toEqual(['note', 'note']);
  });
});
