import { spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../observability/free-port';
import { run } from '../harness/commands';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';

const script = (name: string) => path.join(stack.projectDir, 'stack', name);

// Everything the stack scripts call before they can find out what is missing.
const SCRIPT_TOOLS = [
  'bash',
  'awk',
  'cat',
  'cut',
  'date',
  'dirname',
  'grep',
  'head',
  'mkdir',
  'sed',
  'tr',
  'ss',
  'ip',
  'flock',
  'setsid',
  'jq',
  'openssl',
  'curl',
  'go',
];

function findOnPath(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, tool);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/**
 * A directory of links to every tool the scripts use except the ones left out, to stand for PATH on a
 * machine without them. Linking tool by tool works wherever those tools live (Go in /usr/bin, say),
 * where a fixed PATH such as /usr/bin:/bin would hide some of them and not others.
 */
function pathWithout(dir: string, leftOut: string[]): string {
  mkdirSync(dir);
  for (const tool of SCRIPT_TOOLS.filter((name) => !leftOut.includes(name))) {
    const found = findOnPath(tool);
    if (!found) throw new Error(`${tool} is not on PATH, which this test needs to leave only ${leftOut} out`);
    symlinkSync(found, path.join(dir, tool));
  }
  return dir;
}

/** Listens on a free loopback port and resolves with it. */
function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') reject(new Error('no TCP address'));
      else resolve(address.port);
    });
  });
}

describe('the stack scripts, when something is in the way', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'siirto-stack-'));
  const portHolder = createServer();
  afterAll(async () => {
    await new Promise((resolve) => portHolder.close(resolve));
    rmSync(scratch, { recursive: true, force: true });
  });

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

  it('check every port a component listens on, not only its main one', async () => {
    // etcd's client port is free here; its peer port is held by this test.
    const peerPort = await listen(portHolder);
    const clientPort = await freePort();
    const result = await run('bash', [script('up.sh')], undefined, {
      SIIRTO_STACK_DIR: path.join(scratch, 'peer-port'),
      SIIRTO_ETCD_PORT: String(clientPort),
      SIIRTO_ETCD_PEER_PORT: String(peerPort),
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(
      new RegExp(`port ${peerPort}, wanted by etcd, is in use by \\S+ \\(pid ${process.pid}\\)`),
    );
  });

  it('name the process holding the start lock once the wait for it runs out', async () => {
    const stateDir = path.join(scratch, 'locked');
    mkdirSync(stateDir);
    const lock = path.join(stateDir, 'up.lock');
    // Stands for a stack:up that is still starting the stack.
    const otherStart = spawn('bash', [
      '-c',
      `source ${script('lib.sh')} && hold_lock ${lock} 5 test && echo held && exec sleep 60`,
    ]);
    try {
      let said = '';
      otherStart.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
      await waitFor('the other start to hold the lock', () => said.includes('held'));
      const started = Date.now();
      const result = await run('bash', [script('up.sh')], undefined, {
        SIIRTO_STACK_DIR: stateDir,
        SIIRTO_UP_LOCK_WAIT: '1',
      });
      expect(result.code).not.toBe(0);
      expect(result.stdout).toContain(
        `waiting up to 1s for pid ${otherStart.pid} (sleep 60), which holds ${lock}`,
      );
      expect(result.stderr).toContain(`${lock} is still held after 1s by pid ${otherStart.pid} (sleep 60)`);
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      otherStart.kill();
    }
  });

  it('refuse more clusters than the stack has ports and pod ranges for, before starting anything', async () => {
    const stateDir = path.join(scratch, 'five-clusters');
    const result = await run('bash', [script('up.sh'), '--clusters=5'], undefined, {
      SIIRTO_STACK_DIR: stateDir,
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      "--clusters (or SIIRTO_STACK_CLUSTERS) is '5': give a number of clusters from 1 to 4",
    );
    expect(existsSync(stateDir)).toBe(false);
  });

  it('refuse `--min-clusters` beyond what the stack has room for, and both ways of counting at once', async () => {
    const stateDir = path.join(scratch, 'min-clusters');
    const tooMany = await run('bash', [script('up.sh'), '--min-clusters=5'], undefined, {
      SIIRTO_STACK_DIR: stateDir,
    });
    expect(tooMany.code).not.toBe(0);
    expect(tooMany.stderr).toContain(
      "--min-clusters (or SIIRTO_STACK_MIN_CLUSTERS) is '5': give a number of clusters from 1 to 4",
    );
    const both = await run('bash', [script('up.sh'), '--clusters=2', '--min-clusters=3'], undefined, {
      SIIRTO_STACK_DIR: stateDir,
    });
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain(
      '--clusters=2 and --min-clusters=3 both ask for a number of clusters: give one of them',
    );
    expect(existsSync(stateDir)).toBe(false);
  });

  it('say what to install when Go is missing', async () => {
    const result = await run('bash', [script('install.sh')], undefined, {
      SIIRTO_CACHE_DIR: path.join(scratch, 'empty-cache'),
      PATH: pathWithout(path.join(scratch, 'path-without-go'), ['go']),
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Go is required to build the stack (https://go.dev/doc/install)');
  });

  it('stop the start when the install fails, rather than start binaries not at their pinned version', async () => {
    // The binaries are there but no stamp says they are the pinned versions, as after a version bump;
    // without Go the install cannot build them.
    const cache = path.join(scratch, 'unstamped-cache');
    mkdirSync(path.join(cache, 'bin'), { recursive: true });
    for (const binary of readdirSync(stack.binDir)) {
      symlinkSync(path.join(stack.binDir, binary), path.join(cache, 'bin', binary));
    }
    const stateDir = path.join(scratch, 'unstamped-stack');
    const result = await run('bash', [script('up.sh')], undefined, {
      SIIRTO_CACHE_DIR: cache,
      SIIRTO_STACK_DIR: stateDir,
      PATH: pathWithout(path.join(scratch, 'path-without-go-for-up'), ['go']),
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Go is required to build the stack');
    // It went no further: starting anything begins with making the state directory.
    expect(existsSync(stateDir)).toBe(false);
  });

  it.each([
    ['install.sh', ['flock', 'jq']],
    ['up.sh', ['ss', 'setsid', 'curl']],
  ])('%s names every missing tool and the Debian packages that ship them', async (name, missing) => {
    const result = await run('bash', [script(name)], undefined, {
      SIIRTO_CACHE_DIR: path.join(scratch, `cache-without-tools-${name}`),
      SIIRTO_STACK_DIR: path.join(scratch, `stack-without-tools-${name}`),
      PATH: pathWithout(path.join(scratch, `path-for-${name}`), missing),
    });
    expect(result.code).not.toBe(0);
    const packages = { jq: 'jq', flock: 'util-linux', ss: 'iproute2', setsid: 'util-linux', curl: 'curl' };
    const wanted = [...new Set(missing.map((tool) => packages[tool as keyof typeof packages]))];
    expect(result.stderr).toContain(
      `missing ${missing.join(' ')}: on Debian or Ubuntu, sudo apt-get install ${wanted.join(' ')}`,
    );
  });
});
