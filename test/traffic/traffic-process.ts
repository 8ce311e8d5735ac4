import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { stack } from '../harness/stack';
import type { ListeningAnnouncement } from './child-lifecycle';

const LOG_DIR = path.join(stack.projectDir, 'test-artifacts', 'logs');
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

// Every traffic process of a test file is stopped after the file's tests, whatever they did (a
// timeout, a failed assertion before stop()). A test process that exits, or is killed outright, closes
// the IPC channel to its children, and they end themselves (child-lifecycle.ts): Jest gives a test
// file a copy of `process` that never sees 'exit', so an exit handler here would not run.
const running = new Set<TrafficProcess>();
afterAll(async () => {
  await Promise.all([...running].map((child) => child.stop()));
});

/** A traffic program (sample app, gateway) run as a child of the test, its output kept as a test artifact. */
export class TrafficProcess {
  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    readonly port: number,
    readonly logFile: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * Starts `node --import tsx <entry> <args>` (tsx as a loader in the one node process, so a signal
   * reaches the program itself) and resolves with its port once it announces it listens.
   */
  static async start(entry: string, args: string[], logName: string): Promise<TrafficProcess> {
    mkdirSync(LOG_DIR, { recursive: true });
    const logFile = path.join(LOG_DIR, `${logName}.log`);
    const log = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(stack.projectDir, entry), ...args], {
      cwd: stack.projectDir,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let output = '';
    const keep = (chunk: Buffer) => (output += chunk.toString());
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);

    const lines = createInterface({ input: child.stdout! });
    const announced = new Promise<number>((resolve) => {
      lines.on('line', (line) => {
        const message = parseJson(line) as Partial<ListeningAnnouncement> | undefined;
        if (message?.event === 'listening' && typeof message.port === 'number') resolve(message.port);
      });
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const port = await Promise.race([
        announced,
        exited.then(() => {
          throw new Error(`${entry} exited with ${child.exitCode} before listening: ${output}`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new Error(`${entry} did not listen within ${START_TIMEOUT_MS} ms (log: ${logFile})`)),
            START_TIMEOUT_MS,
          );
        }),
      ]);
      const started = new TrafficProcess(child, exited, port, logFile);
      running.add(started);
      return started;
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL if the process has not ended within a few seconds; resolves once it has. */
  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.exited,
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.child.kill('SIGKILL');
          resolve();
        }, STOP_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    await this.exited;
    running.delete(this);
  }
}

function parseJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
