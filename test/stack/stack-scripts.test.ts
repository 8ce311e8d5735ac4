import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../harness/commands';
import { stack } from '../harness/stack';

const script = (name: string) => path.join(stack.projectDir, 'stack', name);

describe('the stack scripts, when something is in the way', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'siirto-stack-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('name the process holding a port instead of hanging', async () => {
    // A second stack in its own state directory wants the ports the running stack holds.
    const started = Date.now();
    const result = await run('bash', [script('up.sh')], undefined, {
      SIIRTO_STACK_DIR: path.join(scratch, 'second'),
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/port 23790, wanted by etcd, is in use by etcd \(pid \d+\)/);
    expect(result.stderr).toContain('SIIRTO_*_PORT');
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('say what to install when Go is missing', async () => {
    const result = await run('bash', [script('install.sh')], undefined, {
      SIIRTO_CACHE_DIR: path.join(scratch, 'empty-cache'),
      PATH: '/usr/bin:/bin',
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Go is required to build the stack');
  });
});
