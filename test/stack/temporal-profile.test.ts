import { Client, Connection } from '@temporalio/client';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { run, runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { stack } from '../harness/stack';
import { collectGreetings } from './workflows/greetings';

/**
 * The stack runs Temporal in one of two profiles (stack/lib.sh): the CLI's dev server, or a
 * production-shaped cluster on PostgreSQL. Whichever the running stack has, this file shows it is
 * what that profile promises; CI runs it once for each.
 */
const profile = process.env.SIIRTO_TEMPORAL_PROFILE;
const stateDir = () => path.dirname(stack.logDir);
const versions = readFileSync(path.join(stack.projectDir, 'stack', 'versions.env'), 'utf8');
const pinned = (name: string) => new RegExp(`^${name}=v(\\S+)$`, 'm').exec(versions)?.[1];

interface ClusterInfo {
  serverVersion: string;
  historyShardCount: number;
  persistenceStore: string;
  visibilityStore: string;
}

async function describeCluster(): Promise<ClusterInfo> {
  return JSON.parse(
    await runOrThrow('temporal', ['operator', 'cluster', 'describe', '-o', 'json']),
  ) as ClusterInfo;
}

/** The running process a component's pid file names, with its command line. */
function componentProcess(name: string): { pid: number; commandLine: string[] } {
  const pid = Number(readFileSync(path.join(stateDir(), 'pids', `${name}.pid`), 'utf8').trim());
  const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  return { pid, commandLine };
}

/** The pid of the process listening on a loopback TCP port, as `ss` sees it. */
async function listenerPid(port: string): Promise<number | undefined> {
  const shown = await runOrThrow('ss', ['-Hltnp', `( sport = :${port} )`]);
  const match = /pid=(\d+)/.exec(shown);
  return match ? Number(match[1]) : undefined;
}

const port = (address: string) => address.slice(address.lastIndexOf(':') + 1);

describe("the stack's Temporal, as its profile says", () => {
  it('names a profile the stack knows', () => {
    expect(['dev', 'postgres']).toContain(profile);
  });

  if (profile === 'dev') {
    it('is the CLI dev server: one process with one history shard on SQLite', async () => {
      const cluster = await describeCluster();
      expect(cluster).toMatchObject({
        historyShardCount: 1,
        persistenceStore: 'sqlite',
        visibilityStore: 'sqlite',
      });
      const server = componentProcess('temporal');
      expect(server.commandLine.slice(1, 3)).toEqual(['server', 'start-dev']);
      expect(await listenerPid(port(stack.temporalAddress))).toBe(server.pid);
    });
  }

  if (profile === 'postgres') {
    const scope = isolate('temporal-profile');
    const services = ['frontend', 'history', 'matching', 'worker'];
    // What the stack wrote for the servers: where they keep their data.
    const serverConfig = () =>
      readFileSync(path.join(stateDir(), 'temporal-postgres', 'config', 'development.yaml'), 'utf8');

    it('is a cluster of four history shards on PostgreSQL, at the pinned server version', async () => {
      expect(await describeCluster()).toMatchObject({
        serverVersion: pinned('TEMPORAL_SERVER_VERSION'),
        historyShardCount: 4,
        persistenceStore: 'postgres12',
        visibilityStore: 'postgres12',
      });
      expect(serverConfig()).toMatch(/^ {2}numHistoryShards: 4$/m);
      expect(serverConfig().match(/pluginName: postgres12_pgx/g)).toHaveLength(2);
    });

    it('runs frontend, history, matching and worker as four processes, the frontend at the stack address', async () => {
      const processes = services.map((service) => componentProcess(`temporal-${service}`));
      expect(new Set(processes.map(({ pid }) => pid)).size).toBe(4);
      processes.forEach(({ commandLine }, index) => {
        expect(path.basename(commandLine[0] ?? '')).toBe('temporal-server');
        expect(commandLine.slice(-3)).toEqual(['start', '--service', services[index]]);
      });
      expect(await listenerPid(port(stack.temporalAddress))).toBe(processes[0]?.pid);
    });

    it('keeps workflows in PostgreSQL, spread over all four shards', async () => {
      const connection = await Connection.connect({ address: stack.temporalAddress });
      try {
        const client = new Client({ connection });
        // Forty random IDs miss one of four shards with a chance of 4 × (3/4)^40, about 4 in 100,000.
        const ids = Array.from({ length: 40 }, (_, index) => `${scope.workflowIdPrefix}-${index}`);
        await Promise.all(
          ids.map((workflowId) =>
            client.workflow.start(collectGreetings, {
              taskQueue: scope.workflowIdPrefix,
              workflowId,
              args: [1],
            }),
          ),
        );
        const address = /connectAddr: (\S+)/.exec(serverConfig())?.[1] ?? '';
        const psql = path.join(process.env.SIIRTO_POSTGRES_BIN_DIR ?? '/usr/lib/postgresql/15/bin', 'psql');
        const shards = await runOrThrow(psql, [
          '-h',
          address.slice(0, address.lastIndexOf(':')),
          '-p',
          port(address),
          '-U',
          'temporal',
          '-d',
          'temporal',
          '-tA',
          '-c',
          `SELECT DISTINCT shard_id FROM executions WHERE workflow_id LIKE '${scope.workflowIdPrefix}-%' ORDER BY shard_id`,
        ]);
        expect(shards.trim().split('\n').map(Number)).toEqual([1, 2, 3, 4]);
      } finally {
        await connection.close();
      }
    });

    it('serves the Web UI from a server of its own, which reaches the frontend', async () => {
      const ui = componentProcess('temporal-ui');
      expect(path.basename(ui.commandLine[0] ?? '')).toBe('temporal-ui-server');
      expect(await listenerPid(port(stack.temporalUiUrl))).toBe(ui.pid);
      const page = await fetch(stack.temporalUiUrl);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
      const namespace = await fetch(`${stack.temporalUiUrl}/api/v1/namespaces/default`);
      expect(namespace.status).toBe(200);
      expect(await namespace.json()).toMatchObject({
        namespaceInfo: { name: 'default', state: 'NAMESPACE_STATE_REGISTERED' },
      });
    });

    it('has the version of the UI server pinned for it', async () => {
      const shown = await run(path.join(stack.binDir, 'temporal-ui-server'), ['--version']);
      expect(`${shown.stdout}${shown.stderr}`).toContain(pinned('TEMPORAL_UI_SERVER_VERSION') ?? 'unpinned');
    });
  }
});
