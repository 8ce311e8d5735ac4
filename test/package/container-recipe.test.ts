import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { siirtoEnvironment } from '../harness/siirto-processes';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';
import { installDocBlock } from './install-doc';
import { runShell, type ShellResult } from './shell';

/** What scripts/run-container-recipe.sh prints about the last stage: `runtime: <folder>` and the like. */
function described(result: ShellResult, key: string): string[] {
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith(`${key}: `))
    .map((line) => line.slice(key.length + 2));
}

/**
 * The Dockerfile, followed without a container engine (none on the machines Siirto is tested on) by
 * scripts/run-container-recipe.sh, as docs/install.md runs it: the runtime stage it leaves is
 * checked, and its command started as its user.
 */
describe('the container recipe, its stages run as plain commands', () => {
  const scope = isolate('container');
  let recipe: ShellResult;
  let runtime = '';
  let workdir = '';
  let imageUser = '';
  let imageEnv: Record<string, string> = {};
  const secrets = mkdtempSync(path.join(tmpdir(), 'siirto-image-user-'));

  beforeAll(async () => {
    recipe = await runShell(installDocBlock('containerRecipe'), stack.projectDir, {
      ...process.env,
      npm_config_audit: 'false',
      npm_config_fund: 'false',
    });
    runtime = described(recipe, 'runtime')[0] ?? '';
    workdir = described(recipe, 'workdir')[0] ?? '';
    imageUser = described(recipe, 'user')[0] ?? '';
    imageEnv = Object.fromEntries(
      described(recipe, 'env').map((pair) => [
        pair.slice(0, pair.indexOf('=')),
        pair.slice(pair.indexOf('=') + 1),
      ]),
    );
  }, 600_000);

  afterAll(() => {
    // The script's folder holds one folder per stage.
    if (runtime) rmSync(path.dirname(runtime), { recursive: true, force: true });
    rmSync(secrets, { recursive: true, force: true });
  });

  it('builds, packs, and installs the tarball alone into /app', () => {
    expect(recipe).toMatchObject({ code: 0 });
    expect(described(recipe, 'cmd')).toEqual(['["siirto-worker"]']);
    expect(imageUser).toBe('65532:65532');
    expect(workdir).toBe('/app');
    expect(readdirSync(runtime)).toEqual(['app']);
    const app = path.join(runtime, workdir);
    expect(readdirSync(app).sort()).toEqual(['node_modules', 'package-lock.json', 'package.json']);
    for (const command of ['siirto', 'kubectl-siirto', 'siirto-worker', 'siirto-bridge']) {
      expect(existsSync(path.join(app, 'node_modules', '.bin', command))).toBe(true);
    }
    for (const absent of ['typescript', 'tsx', 'jest', 'eslint', '@swc/jest']) {
      expect(existsSync(path.join(app, 'node_modules', absent))).toBe(false);
    }
    const shipped = readdirSync(path.join(app, 'node_modules', 'siirto'), { recursive: true }).map(String);
    expect(shipped.filter((file) => file.endsWith('.ts'))).toEqual([]);
    expect(shipped).toContain(path.join('dist', 'workflow-bundle.js'));
  });

  it('starts the image’s command as its user, with nothing in /app writable by it, on the prebuilt bundle', async () => {
    const [uid, gid] = imageUser.split(':').map(Number) as [number, number];
    const asImageUser = (command: string[]): [string, string[]] => [
      'setpriv',
      [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', ...command],
    ];
    const app = path.join(runtime, workdir);
    expect(await runOrThrow(...asImageUser(['find', app, '-writable']))).toBe('');

    // The stack's kubeconfig names key files only root reads: the image's user gets a copy of its own,
    // as a pod gets its service account's token.
    chmodSync(secrets, 0o755);
    const kubeconfig = path.join(secrets, 'kubeconfig');
    writeFileSync(kubeconfig, await runOrThrow('kubectl', ['config', 'view', '--raw', '--flatten']), {
      mode: 0o600,
    });
    chownSync(kubeconfig, uid, gid);
    const env = siirtoEnvironment(scope, { ...imageEnv, KUBECONFIG: kubeconfig, HOME: '/nonexistent' });
    const worker = spawn(...asImageUser(['siirto-worker']), { cwd: app, env });
    let output = '';
    worker.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    worker.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    try {
      await waitFor('the image’s worker to start', () => output.includes('"msg":"worker started"'), {
        timeoutMs: 60_000,
      }).catch((error: Error) => {
        throw new Error(`${error.message}\n${output}`);
      });
      expect(output).toContain('"workflowCode":"prebuilt bundle"');
    } finally {
      worker.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"worker stopped"');
  });
});
