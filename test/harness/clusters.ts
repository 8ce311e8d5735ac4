import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RolloutStatus } from '../../schemas/rollout';
import type { TestScope } from './isolation';
import { run, runOrThrow } from './commands';
import { siirtoBridge, siirtoWorker, type SiirtoProcess } from './siirto-processes';
import { stack } from './stack';
import { waitFor } from './wait';

/**
 * One of the local stack's Kubernetes clusters: c1 is the stack's own; `stack:up -- --clusters=N`
 * adds c2 … cN, each with its own control plane, kwok nodes, pods' network and pod server, sharing the
 * stack's Temporal and Prometheus (stack/clusters.sh). Prometheus labels every pod series with the
 * cluster's name.
 */
export interface StackCluster {
  /** c1, c2, …: the cluster's name, its SIIRTO_CLUSTER_ID and its pods' `cluster` label. */
  name: string;
  kubeconfig: string;
  /** The control socket of the pod server answering for this cluster's pods (stack/pod-server). */
  podServerSocket: string;
  /** The task queue of this cluster's Siirto, as docs/operating.md names one per cluster. */
  taskQueue: string;
  /** kubectl against this cluster; fails with kubectl's own message. */
  kubectl(args: string[], input?: string): Promise<string>;
}

/** The stack the tests run on: the one whose kubeconfig the global setup handed out. */
function stackEnvironment(): NodeJS.ProcessEnv {
  return { ...process.env, SIIRTO_STACK_DIR: path.dirname(stack.kubeconfig) };
}

/** The clusters running now, as stack/env.sh finds them (clusters may have started since the setup). */
export function stackClusters(): StackCluster[] {
  const output = execFileSync('bash', [path.join(stack.projectDir, 'stack', 'env.sh')], {
    env: stackEnvironment(),
    encoding: 'utf8',
    timeout: 10_000,
  });
  const value = (key: string) => new RegExp(`^export ${key}=(.*)$`, 'm').exec(output)?.[1] ?? '';
  const clustersDir = value('SIIRTO_STACK_CLUSTERS_DIR');
  return value('SIIRTO_STACK_CLUSTER_NAMES')
    .split(',')
    .filter(Boolean)
    .map((name) => {
      const kubeconfig = path.join(clustersDir, name, 'kubeconfig');
      return {
        name,
        kubeconfig,
        podServerSocket: path.join(clustersDir, name, 'pod-server', 'control.sock'),
        taskQueue: `siirto-rollouts-${name}`,
        kubectl: (args: string[], input?: string) =>
          runOrThrow('kubectl', ['--kubeconfig', kubeconfig, ...args], input),
      };
    });
}

/**
 * Which of the stack's clusters a test runs on: the first `count`, or these by name. Test files run
 * side by side on c1 … c3; a test that breaks a cluster takes BREAKABLE_CLUSTER, which no other uses.
 */
export type ClusterChoice = number | readonly string[];

/** The cluster a test may stop or cut off (stopClusterApiserver): no other test file runs on it. */
export const BREAKABLE_CLUSTER = 'c4';

/**
 * The stack's clusters a test chose, starting those that do not run yet (`stack:up -- --min-clusters=N`
 * leaves every running component alone, so the tests beside this one keep their cluster), with
 * Siirto's CRDs installed in each as the global setup installs them in c1. Call it in beforeAll with a
 * timeout of a few minutes: two more control planes take about half a minute to start.
 */
export async function stackWithClusters(choice: ClusterChoice): Promise<StackCluster[]> {
  const names = typeof choice === 'number' ? Array.from({ length: choice }, (_, k) => `c${k + 1}`) : choice;
  const count = Math.max(...names.map((name) => Number(/^c(\d+)$/.exec(name)?.[1] ?? NaN)));
  if (!Number.isInteger(count)) throw new Error(`clusters are named c1, c2, …: not ${names.join(', ')}`);
  if (stackClusters().length < count) await addStackClusters(count);
  const running = stackClusters();
  const clusters = names.map((name) => running.find((cluster) => cluster.name === name));
  const missing = names.filter((_, k) => !clusters[k]);
  if (missing.length > 0) {
    throw new Error(
      `the stack runs no cluster ${missing.join(', ')} after stack:up -- --min-clusters=${count}`,
    );
  }
  const chosen = clusters as StackCluster[];
  await Promise.all(chosen.filter((cluster) => cluster.name !== 'c1').map(installSiirtoCrds));
  return chosen;
}

/**
 * Starts the stack's clusters up to cN, stopping none: a test file beside this one may have started
 * more, and `--clusters=N` would stop those above N under its feet (`--min-clusters` keeps them).
 */
export async function addStackClusters(count: number): Promise<void> {
  const started = await run(
    'bash',
    [path.join(stack.projectDir, 'stack', 'up.sh'), `--min-clusters=${count}`],
    undefined,
    stackEnvironment(),
  );
  if (started.code !== 0) {
    throw new Error(
      `stack:up -- --min-clusters=${count} exited ${started.code}: ${started.stderr || started.stdout}`,
    );
  }
}

async function installSiirtoCrds(cluster: StackCluster): Promise<void> {
  // A directory with a trailing slash, which kubectl reads as such even through a symbolic link.
  const crds = `${path.join(stack.projectDir, 'deploy', 'crds')}/`;
  await cluster.kubectl(['apply', '--request-timeout=30s', '--server-side', '--force-conflicts', '-f', crds]);
  // Retried: a CRD just created has no conditions yet, which `kubectl wait` takes for an error.
  await waitFor(
    `Siirto's CRDs established in ${cluster.name}`,
    () =>
      cluster.kubectl([
        'wait',
        '--for=condition=Established',
        'crd/rollouts.siirto.dev',
        'crd/httproutes.gateway.networking.k8s.io',
        '--timeout=10s',
      ]),
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  // As the stack's own cluster has them when the run is told to (see global-setup.ts).
  if (process.env.SIIRTO_STACK_ARGO_ROLLOUTS_CRDS === '1') {
    await runOrThrow('bash', [
      path.join(stack.projectDir, 'stack', 'argo-rollouts-crds.sh'),
      'install',
      cluster.kubeconfig,
    ]);
  }
}

/**
 * The cluster's own Siirto, as each cluster of a fleet runs it against the one Temporal: a worker and
 * a bridge with the cluster's kubeconfig, SIIRTO_CLUSTER_ID and task queue, watching the test's
 * namespace. Start and stop them as any SiirtoProcess.
 */
export function clusterSiirto(
  scope: TestScope,
  cluster: StackCluster,
  extra: NodeJS.ProcessEnv = {},
): { worker: SiirtoProcess; bridge: SiirtoProcess } {
  const environment = {
    KUBECONFIG: cluster.kubeconfig,
    SIIRTO_CLUSTER_ID: cluster.name,
    SIIRTO_TASK_QUEUE: cluster.taskQueue,
    ...extra,
  };
  return {
    worker: siirtoWorker(scope, `worker-${cluster.name}`, environment),
    bridge: siirtoBridge(scope, `bridge-${cluster.name}`, environment),
  };
}

/** Clusters with the test's namespace and their own Siirto running, and how to take them down. */
export interface ClustersWithSiirto {
  clusters: StackCluster[];
  /** Each cluster's own worker and bridge, by the cluster's name: to kill one and start it again. */
  siirto: Map<string, { worker: SiirtoProcess; bridge: SiirtoProcess }>;
  /** Stops every cluster's worker and bridge, and deletes the namespaces made here. */
  stop(): Promise<void>;
}

/**
 * What a test across clusters starts from: the clusters it chose, the scope's namespace in each
 * (isolate() made and cleans up c1's), and each cluster's own worker and bridge started.
 */
export async function clustersWithSiirto(
  scope: TestScope,
  choice: ClusterChoice,
  /** Settings every cluster's worker and bridge get besides their own, such as a CDEvents sink. */
  extra: NodeJS.ProcessEnv = {},
): Promise<ClustersWithSiirto> {
  const clusters = await stackWithClusters(choice);
  const added = clusters.filter((cluster) => cluster.name !== 'c1');
  await Promise.all(added.map((cluster) => cluster.kubectl(['create', 'namespace', scope.namespace])));
  const siirto = new Map(clusters.map((cluster) => [cluster.name, clusterSiirto(scope, cluster, extra)]));
  const processes = [...siirto.values()].flatMap((pair) => [pair.worker, pair.bridge]);
  const stop = async () => {
    await Promise.all(processes.map((process) => process.stop()));
    await Promise.all(
      added.map((cluster) =>
        cluster.kubectl(['delete', 'namespace', scope.namespace, '--wait=false']).catch(() => ''),
      ),
    );
  };
  try {
    // One after another: several processes compiling Siirto's sources at once on a busy machine would
    // each miss the time it is given to start.
    for (const process of processes) await process.start();
  } catch (error) {
    await stop();
    throw error;
  }
  return { clusters, siirto, stop };
}

/** Where stack/up.sh keeps the process ID of one of a cluster's components (`c3-kube-apiserver`). */
function componentPidFile(cluster: StackCluster, component: string): string {
  return path.join(path.dirname(stack.kubeconfig), 'pids', `${cluster.name}-${component}.pid`);
}

/** The process ID of one of a cluster's components, as stack/up.sh started it. */
export function componentPid(cluster: StackCluster, component: string): number {
  return Number(readFileSync(componentPidFile(cluster, component), 'utf8').trim());
}

/** A cluster's kube-apiserver stopped by stopClusterApiserver, and how to start it again. */
export interface StoppedApiserver {
  /** Starts it again as the stack started it (same binary, arguments and log) and waits until it is ready. */
  start(): Promise<void>;
}

/**
 * Stops BREAKABLE_CLUSTER's kube-apiserver (never one that other test files run on beside this one),
 * so that the cluster cannot be reached for real: its workers' calls are refused until start() runs
 * it again. The process is the stack's own (stack/up.sh launched it; its pid file is under the state
 * directory's pids/), and it is started again with the very command line it ran with.
 */
export async function stopClusterApiserver(cluster: StackCluster): Promise<StoppedApiserver> {
  if (cluster.name !== BREAKABLE_CLUSTER) {
    throw new Error(
      `test files beside this one run on ${cluster.name}: stop ${BREAKABLE_CLUSTER}'s kube-apiserver instead, which no other test uses`,
    );
  }
  const stateDir = path.dirname(stack.kubeconfig);
  const name = `${cluster.name}-kube-apiserver`;
  const pidFile = componentPidFile(cluster, 'kube-apiserver');
  const pid = componentPid(cluster, 'kube-apiserver');
  const [, ...args] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const binary = readlinkSync(`/proc/${pid}/exe`);
  const cwd = readlinkSync(`/proc/${pid}/cwd`);
  // Gone or a zombie: the stack's processes are not the test's children, so it may never reap them.
  const exited = () => {
    try {
      return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      return true;
    }
  };
  // Refused connections from the start; a graceful shutdown waits for open watches, so after a few
  // seconds it is killed, as stack/down.sh does after its own wait.
  process.kill(pid, 'SIGTERM');
  await waitFor(`${name} (pid ${pid}) to exit`, exited, { timeoutMs: 5_000 }).catch(async () => {
    process.kill(pid, 'SIGKILL');
    await waitFor(`${name} (pid ${pid}) to exit after SIGKILL`, exited, { timeoutMs: 10_000 });
  });
  return {
    async start() {
      const log = openSync(path.join(stateDir, 'logs', `${name}.log`), 'a');
      // Its own session, as up.sh starts it, so it outlives the test like the rest of the stack.
      const child = spawn(binary, args, { cwd, detached: true, stdio: ['ignore', log, log] });
      closeSync(log);
      child.unref();
      writeFileSync(pidFile, `${child.pid}\n`);
      await waitFor(`${name} ready again`, () => cluster.kubectl(['get', '--raw', '/readyz']), {
        timeoutMs: 60_000,
        intervalMs: 500,
      });
    },
  };
}

export interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { containers: { image: string }[] };
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
}

/** A Rollout's status in one cluster, as kubectl shows it ({} before Siirto has written one). */
export async function rolloutStatusIn(
  cluster: StackCluster,
  namespace: string,
  name: string,
): Promise<RolloutStatus> {
  const rollout = JSON.parse(
    await cluster.kubectl(['get', 'rollouts.siirto.dev', name, '-n', namespace, '-o', 'json']),
  ) as { status?: RolloutStatus };
  return rollout.status ?? {};
}

/** The app's pods in one cluster once they are exactly `count` Ready pods of `image`, none going. */
export function readyPodsIn(cluster: StackCluster, namespace: string, app: string, image: string, count = 1) {
  return waitFor(`${cluster.name}: ${count} Ready pod(s) of ${image} and no other`, async () => {
    const { items } = JSON.parse(
      await cluster.kubectl(['get', 'pods', '-n', namespace, '-l', `app=${app}`, '-o', 'json']),
    ) as { items: PodJson[] };
    const ready = (pod: PodJson) =>
      !pod.metadata.deletionTimestamp &&
      pod.spec.containers[0]?.image === image &&
      pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    return items.length === count && items.every(ready) && items;
  });
}
