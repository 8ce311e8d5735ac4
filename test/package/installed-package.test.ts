import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { rolloutWorkflowId } from '../../workflows/rollout-api';
import { writeFigures } from '../harness/figures';
import { isolate } from '../harness/isolation';
import { observer } from '../harness/observe';
import { kubectlApply, rolloutManifest, servicesAndRoute, setImage } from '../harness/rollout-fixtures';
import { siirtoEnvironment } from '../harness/siirto-processes';
import { stack } from '../harness/stack';
import { historyOf } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { INSTALL_DOC_BLOCKS, installDocBlock, installDocShellBlocks } from './install-doc';
import { runShell, type ShellResult } from './shell';

const app = 'catalog';
const steps = [{ setWeight: 25 }, { pause: { duration: '1s' } }];

/** One JSON log line of the worker or the bridge. */
interface LogLine {
  time: string;
  msg: string;
  component?: string;
  [field: string]: unknown;
}

function logLines(output: string): LogLine[] {
  return output.split('\n').flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as LogLine;
      return typeof parsed.msg === 'string' ? [parsed] : [];
    } catch {
      return [];
    }
  });
}

/** Waits until no process of the group is left. */
async function groupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  return waitFor(
    `process group ${pgid} to exit`,
    () => {
      try {
        process.kill(-pgid, 0);
        return false;
      } catch {
        return true;
      }
    },
    { timeoutMs },
  ).catch(() => false);
}

/**
 * docs/install.md's path, followed verbatim against the local stack: `npm pack` in the checkout, the
 * tarball installed into an empty directory, and the commands it installs (siirto, kubectl-siirto,
 * siirto-worker, siirto-bridge) driving a rollout, with neither TypeScript nor tsx installed.
 */
describe('the package npm pack makes, installed in an empty directory', () => {
  const scope = isolate('package');
  const { namespace } = scope;
  const see = observer(namespace);
  const installDir = mkdtempSync(path.join(tmpdir(), 'siirto-installed-'));
  // npm's own settings through its environment, so that the documented commands run unchanged.
  const npmEnvironment = {
    ...process.env,
    npm_config_prefer_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
  };
  const figures: Record<string, number> = {};
  let installed: ShellResult;
  let processes: ChildProcess | undefined;
  let output = '';
  let startedAt = 0;

  beforeAll(async () => {
    const packStarted = Date.now();
    const packed = await runShell(installDocBlock('pack'), stack.projectDir, npmEnvironment);
    expect(packed).toMatchObject({ code: 0 });
    figures.packSeconds = (Date.now() - packStarted) / 1000;
    const tarballs = readdirSync(stack.projectDir).filter((file) => /^siirto-.*\.tgz$/.test(file));
    expect(tarballs).toHaveLength(1);
    renameSync(path.join(stack.projectDir, tarballs[0]!), path.join(installDir, tarballs[0]!));

    const installStarted = Date.now();
    installed = await runShell(installDocBlock('install'), installDir, npmEnvironment);
    figures.installSeconds = (Date.now() - installStarted) / 1000;

    await kubectlApply(servicesAndRoute(namespace, app));
    await kubectlApply(rolloutManifest({ namespace, app, steps }));
    // The worker and the bridge as the document starts them, in a process group of their own that
    // the test can stop as a terminal's Ctrl-C would stop its jobs.
    startedAt = Date.now();
    processes = spawn('bash', ['-e', '-c', installDocBlock('run')], {
      cwd: installDir,
      env: siirtoEnvironment(scope),
      detached: true,
    });
    processes.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    processes.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  }, 600_000);

  afterAll(async () => {
    const pgid = processes?.pid;
    if (pgid) {
      try {
        process.kill(-pgid, 'SIGTERM');
      } catch {
        // Already gone.
      }
      if (!(await groupGone(pgid, 35_000))) process.kill(-pgid, 'SIGKILL');
    }
    writeFigures('installed-package', figures);
    rmSync(installDir, { recursive: true, force: true });
  }, 60_000);

  it('has every sh block of docs/install.md among those the package tests run', () => {
    const named = Object.keys(INSTALL_DOC_BLOCKS) as (keyof typeof INSTALL_DOC_BLOCKS)[];
    expect(named.map(installDocBlock).sort()).toEqual(installDocShellBlocks().sort());
  });

  it('installs siirto, kubectl-siirto, siirto-worker and siirto-bridge without TypeScript or tsx', () => {
    expect(installed).toMatchObject({ code: 0 });
    expect(installed.stdout).toContain('siirto: drive Siirto rollouts');
    // `siirto list -A` read the cluster: its table, or that no Rollout exists while no other test has one.
    expect(installed.stdout).toMatch(
      /NAMESPACE\s+NAME\s+PHASE\s+STEP\s+WEIGHTS\s+REVISION\s+AGE|No rollouts found in any namespace\./,
    );
    const bin = path.join(installDir, 'node_modules', '.bin');
    for (const command of ['siirto', 'kubectl-siirto', 'siirto-worker', 'siirto-bridge']) {
      expect(existsSync(path.join(bin, command))).toBe(true);
    }
    for (const absent of ['typescript', 'tsx', 'jest', '@swc/jest']) {
      expect(existsSync(path.join(installDir, 'node_modules', absent))).toBe(false);
    }
    const shipped = readdirSync(path.join(installDir, 'node_modules', 'siirto'), { recursive: true });
    expect(shipped.map(String).filter((file) => file.endsWith('.ts'))).toEqual([]);
    expect(shipped).toContain(path.join('dist', 'workflow-bundle.js'));
  });

  it('starts the installed worker on the prebuilt workflow bundle and the bridge, and rolls a new image out', async () => {
    const started = await waitFor(
      'the installed worker and bridge to start',
      () => {
        const lines = logLines(output);
        const worker = lines.find((line) => line.msg === 'worker started');
        const bridge = lines.find((line) => line.msg === 'bridge started');
        return worker && bridge && { worker, bridge, lines };
      },
      { timeoutMs: 60_000 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${output}`);
    });
    expect(started.worker).toMatchObject({
      workflowCode: 'prebuilt bundle',
      taskQueue: scope.workflowIdPrefix,
    });
    const since = (line: LogLine | undefined) => Date.parse(line?.time ?? '') - startedAt;
    const first = (component: string) => started.lines.find((line) => line.component === component);
    figures.workerFirstLogLineMs = since(first('siirto-worker'));
    figures.workerStartedMs = since(started.worker);
    figures.bridgeFirstLogLineMs = since(first('siirto-bridge'));
    figures.bridgeStartedMs = since(started.bridge);

    // r1 was applied before either process started: its first workflow task ran on the new worker.
    await waitFor('r1 to become Healthy', async () => {
      const status = await see.rolloutStatus(app);
      return status.phase === 'Healthy' && status.revision === 1;
    });
    const history = await historyOf(rolloutWorkflowId(namespace, app, 1));
    const firstTask = history.find((event) => event.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED');
    figures.firstWorkflowTaskCompletedMs = Date.parse(String(firstTask?.eventTime)) - startedAt;

    const rolloutStarted = Date.now();
    const weights = await see.watchCanaryWeight(app);
    try {
      await setImage(namespace, app, `registry.example/${app}:2`);
      await waitFor(
        'r2 to become Healthy',
        async () => {
          const status = await see.rolloutStatus(app);
          return status.phase === 'Healthy' && status.revision === 2;
        },
        { timeoutMs: 90_000 },
      );
    } finally {
      weights.stop();
    }
    figures.rolloutSeconds = (Date.now() - rolloutStarted) / 1000;
    expect(weights.changes.map((change) => change.weight)).toContain(25);
    expect(await see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
  });

  it('replays every recorded rollout history on the workflow bundle it ships', async () => {
    const codePath = path.join(installDir, 'node_modules', 'siirto', 'dist', 'workflow-bundle.js');
    const fixtures = path.join(stack.projectDir, 'test', 'fixtures', 'histories');
    const files = readdirSync(fixtures, { recursive: true })
      .map(String)
      .filter((file) => file.endsWith('.json'));
    expect(files.length).toBeGreaterThan(40);
    for (const file of files) {
      const { workflowId, ...recorded } = JSON.parse(readFileSync(path.join(fixtures, file), 'utf8')) as {
        workflowId?: string;
      };
      // As test/unit/replay.test.ts replays them from the sources, with their original IDs.
      await Worker.runReplayHistory(
        { workflowBundle: { codePath }, replayName: file },
        historyFromJSON(recorded),
        workflowId ?? path.basename(file, '.json'),
      );
    }
  }, 300_000);

  it('lists the rollout through the installed kubectl plugin', async () => {
    const listed = await runShell(installDocBlock('kubectlPlugin'), installDir, process.env);
    expect(listed).toMatchObject({ code: 0 });
    expect(listed.stdout).toMatch(new RegExp(`${namespace}\\s+${app}\\s+Healthy\\s+2/2\\s+100/0\\s+2`));
  });

  it('stops the worker and the bridge on SIGTERM', async () => {
    const pgid = processes!.pid!;
    process.kill(-pgid, 'SIGTERM');
    expect(await groupGone(pgid, 35_000)).toBe(true);
    const messages = logLines(output).map((line) => line.msg);
    expect(messages).toEqual(expect.arrayContaining(['worker stopped', 'bridge stopped']));
  });
});
