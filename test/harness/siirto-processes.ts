import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { TestScope } from './isolation';
import { stack } from './stack';
import { waitFor } from './wait';

const LOG_DIR = path.join(stack.projectDir, 'test-artifacts', 'logs');

/** A Siirto process (worker or bridge) run as a user runs it, with its output kept as a test artifact. */
export class SiirtoProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly logFile: string;

  constructor(
    private readonly entry: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly startedLine: RegExp,
    logName: string,
  ) {
    mkdirSync(LOG_DIR, { recursive: true });
    this.logFile = path.join(LOG_DIR, `${logName}.log`);
  }

  /** Starts the process and waits until it says it is ready, or fails with its log. */
  async start(): Promise<void> {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const offset = this.logText().length;
    // Sources through tsx as a loader in the one node process, so a signal reaches the program itself
    // and a SIGKILL leaves nothing behind (the tsx command would run the program in a child of its
    // own); compiled code (dist/, from `npm run build`) as the package runs it.
    const loader = this.entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
    const child = spawn(process.execPath, [...loader, path.join(stack.projectDir, this.entry)], {
      env: this.env,
      cwd: stack.projectDir,
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    // A process that exits before it is ready has failed to start; no use waiting out the deadline.
    const exitedEarly = this.exited.then(() => {
      throw new Error(`${this.entry} exited with ${child.exitCode}: ${this.logText().slice(offset)}`);
    });
    exitedEarly.catch(() => undefined);
    await Promise.race([
      exitedEarly,
      waitFor(
        `${this.entry} to start (log: ${this.logFile})`,
        () => this.startedLine.test(this.logText().slice(offset)),
        // Starting from source loads TypeScript through tsx and bundles the workflows with webpack:
        // machine speed, not Siirto's, and on a busy two-core machine over a minute.
        { timeoutMs: 120_000 },
      ),
    ]);
  }

  /**
   * SIGTERM, as Kubernetes stops a pod, then waits for the exit: the exit code, or the signal that
   * ended it. A process still running after the pod's usual 30 s grace is killed, as the kubelet would.
   */
  async stop(): Promise<number | NodeJS.Signals | undefined> {
    const child = this.child;
    if (!child) return undefined;
    child.kill('SIGTERM');
    const grace = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(grace);
    return child.exitCode ?? child.signalCode ?? undefined;
  }

  /** The process id while it runs, for readings from /proc such as its resident memory. */
  get pid(): number | undefined {
    return this.running() ? this.child?.pid : undefined;
  }

  /** True while the process runs: it has not exited, nor crashed. */
  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL: the crash a rollout must survive. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  logText(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}

/** The fleet queue of one test file's workers: releases of files side by side never meet. */
export function fleetTaskQueueOf(scope: TestScope): string {
  return `${scope.workflowIdPrefix}-fleet`;
}

/** Environment for Siirto processes serving one test file: its task queues, its namespace. */
export function siirtoEnvironment(scope: TestScope, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SIIRTO_TASK_QUEUE: scope.workflowIdPrefix,
    SIIRTO_FLEET_TASK_QUEUE: fleetTaskQueueOf(scope),
    SIIRTO_WATCH_NAMESPACE: scope.namespace,
    SIIRTO_RESYNC_SECONDS: '2',
    // Any free port: test files run their processes side by side.
    SIIRTO_METRICS_PORT: '0',
    SIIRTO_SDK_METRICS_PORT: '0',
    ...extra,
  };
}

export function siirtoWorker(
  scope: TestScope,
  name = 'worker',
  extra: NodeJS.ProcessEnv = {},
): SiirtoProcess {
  return new SiirtoProcess(
    'worker/main.ts',
    siirtoEnvironment(scope, extra),
    /worker started/,
    `${scope.namespace}-${name}`,
  );
}

export function siirtoBridge(
  scope: TestScope,
  name = 'bridge',
  extra: NodeJS.ProcessEnv = {},
): SiirtoProcess {
  // The bridge runs no SDK worker: it starts without that port's setting, as it is deployed.
  const { SIIRTO_SDK_METRICS_PORT: _sdkMetricsPort, ...environment } = siirtoEnvironment(scope, extra);
  return new SiirtoProcess('k8s-bridge/main.ts', environment, /bridge started/, `${scope.namespace}-${name}`);
}
