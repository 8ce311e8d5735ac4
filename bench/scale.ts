// `npm run bench:scale`: many rollouts at once. For each N (SCALE_N, default 100,300,1000) it starts
// two workers and one bridge as separate processes (compiled: the npm script builds dist/ first),
// creates N Rollouts in a namespace of its own, rolls a new template out to all of them (one pod each;
// `setWeight: 50`, then `pause: {}`), and measures: the time until all N are paused and each one's
// template change → canary ReplicaSet under that load; the worker's and the bridge's resident memory at
// rest with N held, against a baseline with none; the Temporal server's memory and disk; the apiserver
// requests at rest; promoting all N (`siirto promote --all -l …`) and the time to Healthy; the Temporal history events and billed
// Actions per rollout. It then deletes everything it made. Prints a table; asserts nothing.
//
// The canary has no traffic router: a basic canary, weighted by replicas, as most of the Rollouts in a
// large Argo Rollouts installation are. N HTTPRoutes on one gateway would measure the gateway's
// reconfiguration (Traefik rebuilds its whole configuration on each route change) rather than Siirto.
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../observability/free-port';
import { run as runTool, runOrThrow } from '../test/harness/commands';
import { writeFigures } from '../test/harness/figures';
import { podMetadata, sampleContainer } from '../test/harness/rollout-fixtures';
import { SiirtoProcess, siirtoEnvironment } from '../test/harness/siirto-processes';
import { loadStackEnvironment, stack } from '../test/harness/stack';
import { terminateRunningWorkflows } from '../test/harness/temporal';
import { waitFor } from '../test/harness/wait';
import { promoteSignal } from '../workflows/rollout-api';
import { BILLED_EVENTS, percentile, watchNewRevision } from './bench-support';

const SIZES = (process.env.SCALE_N ?? '100,300,1000').split(',').map((text) => {
  const n = Number(text.trim());
  if (!Number.isInteger(n) || n < 1) throw new Error(`SCALE_N: ${text} is not a whole number of rollouts`);
  return n;
});
/** Seconds to leave the processes alone before reading them "at rest": longer than one resync. */
const REST_SECONDS = Number(process.env.SCALE_REST_SECONDS ?? 45);
/** Requests the benchmark itself has in flight at once (creates, patches, promotes). */
const CLIENT_CONCURRENCY = Number(process.env.SCALE_CLIENT_CONCURRENCY ?? 16);
/** New images for one more Rollout while the N are held, to time the reaction under that load. */
const REACTION_RUNS = Number(process.env.SCALE_REACTION_RUNS ?? 10);
const FIELD_MANAGER = 'siirto-bench-scale';
const BENCH_LABEL = 'siirto.dev/bench';
/** The stack's two fake nodes take 500 pods each; a canary needs two pods per Rollout for a while. */
const PODS_PER_NODE = 500;
const STACK_NODES = 2;
const GROUP = 'siirto.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'rollouts';

interface RolloutObject {
  metadata: {
    name: string;
    uid?: string;
    managedFields?: { manager?: string; operation?: string; time?: string }[];
  };
  status?: { phase?: string; revision?: number; currentStepIndex?: number; workflowId?: string };
}

const mib = (bytes: number) => bytes / 1024 / 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `task` over `items`, at most `limit` at once. */
async function inParallel<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** Resident memory of a process and, where asked, of every process below it (PostgreSQL's backends). */
function residentBytes(pid: number, withChildren = false): number {
  let total = 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    total += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
  if (!withChildren) return total;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === pid) total += residentBytes(Number(entry), true);
    } catch {
      // The process ended while being read.
    }
  }
  return total;
}

function directoryBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    try {
      total += entry.isDirectory() ? directoryBytes(full) : statSync(full).size;
    } catch {
      // Removed while being read (a WAL segment recycled).
    }
  }
  return total;
}

/**
 * The Temporal server as the stack runs it, whichever profile: the dev server (one process, one SQLite
 * file) or the PostgreSQL profile (Temporal's services and PostgreSQL with its backends): every process
 * whose pid file names Temporal or PostgreSQL, and their data directories.
 */
function temporalServer(): { residentBytes: number; diskBytes: number; processes: string[] } {
  const stateDir = path.dirname(stack.kubeconfig);
  const pidDir = path.join(stateDir, 'pids');
  const processes = readdirSync(pidDir).filter(
    (file) => /^(temporal|postgres)/.test(file) && !/ui/.test(file),
  );
  let resident = 0;
  for (const file of processes) {
    const pid = Number(readFileSync(path.join(pidDir, file), 'utf8').trim());
    resident += residentBytes(pid, file.startsWith('postgres'));
  }
  const dataDir = path.join(stateDir, 'data');
  const diskBytes =
    directoryBytes(path.join(dataDir, 'temporal')) + directoryBytes(path.join(dataDir, 'postgres'));
  return {
    residentBytes: resident,
    diskBytes,
    processes: processes.map((file) => file.replace(/\.pid$/, '')),
  };
}

/** apiserver_request_total from the kube-apiserver's own /metrics, summed by verb, group and resource. */
async function apiserverRequests(): Promise<Map<string, number>> {
  const text = await runOrThrow('kubectl', ['get', '--raw', '/metrics']);
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries(
      [...line.matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1] as string, match[2] as string]),
    );
    const key = `${labels.verb} ${labels.group ? `${labels.resource}.${labels.group}` : labels.resource}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return counts;
}

/** Requests per second by kind over a window in which the benchmark itself sends none. */
async function requestRates(seconds: number): Promise<Record<string, number>> {
  const before = await apiserverRequests();
  await sleep(seconds * 1000);
  const after = await apiserverRequests();
  const rates: Record<string, number> = {};
  for (const [key, count] of after) {
    const rate = (count - (before.get(key) ?? 0)) / seconds;
    if (rate > 0) rates[key] = Number(rate.toFixed(3));
  }
  return rates;
}

/** A counter from a process's /metrics, summed over its labels. */
async function metricSum(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

function rolloutManifest(namespace: string, name: string, image: string) {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Rollout',
    metadata: { name, namespace, labels: { app: name, [BENCH_LABEL]: 'scale' } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      progressDeadlineSeconds: 600,
      template: { metadata: podMetadata(name), spec: { containers: [sampleContainer(image)] } },
      strategy: { canary: { scaleDownDelaySeconds: 0, steps: [{ setWeight: 50 }, { pause: {} }] } },
    },
  };
}

/**
 * How fast Siirto reacts while N rollouts are held: one more Rollout, outside the N (not promoted with
 * them), gets a new image `runs` times, each once its previous run has closed; timed from the watch's
 * word that the template is stored to its word that the canary's ReplicaSet exists.
 */
async function reactionWhileHeld(
  kube: k8s.KubeConfig,
  client: Client,
  namespace: string,
  runs: number,
): Promise<number[]> {
  const custom = kube.makeApiClient(k8s.CustomObjectsApi);
  const name = 'reaction-probe';
  const type = { group: GROUP, version: VERSION, plural: PLURAL, namespace };
  const body = rolloutManifest(namespace, name, `registry.example/${name}:1`);
  body.metadata.labels[BENCH_LABEL] = 'probe';
  await custom.createNamespacedCustomObject({ ...type, body, fieldManager: FIELD_MANAGER });
  const status = async () =>
    ((await custom.getNamespacedCustomObject({ ...type, name })) as RolloutObject).status ?? {};
  const runsOpen = async () =>
    (
      await client.workflow.count(
        `RolloutNamespace = "${namespace}" AND RolloutName = "${name}" AND ExecutionStatus = "Running"`,
      )
    ).count;
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    await waitFor(
      `${name} Healthy, its run closed`,
      async () => (await status()).phase === 'Healthy' && (await runsOpen()) === 0,
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    const revision = (await status()).revision ?? 0;
    const image = `registry.example/${name}:${run + 2}`;
    const seen = await watchNewRevision(kube, namespace, name, { revision: revision + 1, image });
    await custom.patchNamespacedCustomObject(
      {
        ...type,
        name,
        body: { spec: { template: { spec: { containers: [sampleContainer(image)] } } } },
        fieldManager: FIELD_MANAGER,
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const storedAt = await seen.stored;
    times.push((await seen.created) - storedAt);
    const paused = await waitFor(
      `${name} r${revision + 1} paused`,
      async () => {
        const now = await status();
        return now.revision === revision + 1 && now.phase === 'Paused' && now;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    await client.workflow.getHandle(paused.workflowId ?? '').signal(promoteSignal, { full: true });
  }
  await custom.deleteNamespacedCustomObject({ ...type, name });
  return times;
}

/** Fake nodes of the benchmark's own, so that N canaries' pods all find room. */
function extraNodes(n: number, suffix: string): Record<string, unknown>[] {
  const wanted = Math.ceil((2 * n + 100) / PODS_PER_NODE) - STACK_NODES;
  return Array.from({ length: Math.max(0, wanted) }, (_, index) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: `bench-scale-${suffix}-${index}`,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { type: 'kwok', [BENCH_LABEL]: 'scale', 'kubernetes.io/os': 'linux' },
    },
    status: {
      allocatable: { cpu: '64', memory: '256Gi', pods: String(PODS_PER_NODE) },
      capacity: { cpu: '64', memory: '256Gi', pods: String(PODS_PER_NODE) },
    },
  }));
}

interface Figures {
  n: number;
  createToAllHealthySeconds: number;
  templateChangeToAllPausedSeconds: number;
  canaryReplicaSetServerP50Seconds: number;
  canaryReplicaSetServerP95Seconds: number;
  canaryReplicaSetClientP50Ms: number;
  canaryReplicaSetClientP95Ms: number;
  workerBaselineMiB: number[];
  workerAtRestMiB: number[];
  bridgeBaselineMiB: number;
  bridgeAtRestMiB: number;
  /** V8 heap in use (workers and bridge together), which unlike RSS shrinks after a collection. */
  heapUsedBaselineMiB: number;
  heapUsedAtRestMiB: number;
  siirtoMiBPerRollout: number;
  temporalServer: string[];
  temporalResidentGrowthMiB: number;
  temporalResidentKiBPerRollout: number;
  temporalDiskKiBPerRollout: number;
  apiserverRequestsPerSecondIdle: Record<string, number>;
  apiserverRequestsPerSecondAtRest: Record<string, number>;
  bridgeReconcilesPerSecondAtRest: number;
  promoteAllSeconds: number;
  /** Runs of `siirto promote --all` until every paused Rollout had taken the promote. */
  promoteRuns: number;
  promoteToAllHealthySeconds: number;
  /** Template stored → canary ReplicaSet of one more Rollout, each revision's run closed before the next. */
  reactionWhileHeldMs: number[];
  /**
   * Resident memory once every run has closed and the processes have rested again: nothing held. What
   * is left above the baseline is what the burst left behind (V8's and the allocator's high-water
   * marks), not what holding the rollouts costs.
   */
  workerReleasedMiB: number[];
  bridgeReleasedMiB: number;
  heapUsedReleasedMiB: number;
  eventsPerRollout: { create: number; canary: number };
  actionsPerRollout: { create: number; canary: number };
  historiesCounted: number;
}

async function measure(n: number, kube: k8s.KubeConfig, client: Client): Promise<Figures> {
  const suffix = randomBytes(3).toString('hex');
  const namespace = `bench-scale-${n}-${suffix}`;
  const scope = { namespace, workflowIdPrefix: namespace };
  const custom = kube.makeApiClient(k8s.CustomObjectsApi);
  const apps = kube.makeApiClient(k8s.AppsV1Api);
  const core = kube.makeApiClient(k8s.CoreV1Api);
  const names = Array.from({ length: n }, (_, index) => `app-${String(index).padStart(5, '0')}`);
  const listRollouts = async () =>
    (
      (await custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        labelSelector: `${BENCH_LABEL}=scale`,
      })) as {
        items: RolloutObject[];
      }
    ).items;

  const nodes = extraNodes(n, suffix);
  for (const node of nodes) await core.createNode({ body: node as k8s.V1Node });
  await runOrThrow('kubectl', ['create', 'namespace', namespace]);
  const workerPorts = [await freePort(), await freePort()];
  const bridgePort = await freePort();
  const env = siirtoEnvironment(scope, {
    SIIRTO_RESYNC_SECONDS: process.env.SIIRTO_RESYNC_SECONDS ?? '30',
    SIIRTO_LOG_LEVEL: 'info',
  });
  const { SIIRTO_SDK_METRICS_PORT: _sdk, ...bridgeEnv } = env;
  const workers = workerPorts.map(
    (port, index) =>
      new SiirtoProcess(
        'dist/worker/main.js',
        { ...env, SIIRTO_METRICS_PORT: String(port) },
        /worker started/,
        `${namespace}-worker-${index + 1}`,
      ),
  );
  const bridge = new SiirtoProcess(
    'dist/k8s-bridge/main.js',
    { ...bridgeEnv, SIIRTO_METRICS_PORT: String(bridgePort) },
    /bridge started/,
    `${namespace}-bridge`,
  );
  try {
    await Promise.all([...workers, bridge].map((process) => process.start()));
    const rss = (process: SiirtoProcess) => mib(residentBytes(process.pid ?? 0));
    const heapUsed = async () =>
      mib(
        (
          await Promise.all(
            [...workerPorts, bridgePort].map((port) => metricSum(port, 'siirto_nodejs_heap_size_used_bytes')),
          )
        ).reduce((a, b) => a + b, 0),
      );
    // Baseline: started, connected, polling, holding nothing; the apiserver's rate without Rollouts.
    const apiserverRequestsPerSecondIdle = await requestRates(REST_SECONDS);
    const workerBaselineMiB = workers.map(rss);
    const bridgeBaselineMiB = rss(bridge);
    const heapUsedBaselineMiB = await heapUsed();
    const temporalBefore = temporalServer();
    console.log(
      `N=${n}: baseline worker ${workerBaselineMiB.map((m) => m.toFixed(0)).join(' + ')} MiB, bridge ${bridgeBaselineMiB.toFixed(0)} MiB`,
    );

    // r1: N Rollouts created; a first revision goes straight to Healthy.
    const createdAt = Date.now();
    await inParallel(names, CLIENT_CONCURRENCY, (name) =>
      custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        body: rolloutManifest(namespace, name, `registry.example/${name}:1`),
        fieldManager: FIELD_MANAGER,
      }),
    );
    const progress = async (
      description: string,
      done: (rollout: RolloutObject) => boolean,
      timeoutMs: number,
    ) => {
      let lastLogged = 0;
      return waitFor(
        description,
        async () => {
          const rollouts = await listRollouts();
          const count = rollouts.filter(done).length;
          if (Date.now() - lastLogged > 15_000) {
            lastLogged = Date.now();
            console.log(`  ${description}: ${count}/${n}`);
          }
          return count === n && rollouts;
        },
        { timeoutMs, intervalMs: 2_000 },
      );
    };
    const deadline = 120_000 + n * 1_500;
    await progress('r1 Healthy', (r) => r.status?.phase === 'Healthy' && r.status.revision === 1, deadline);
    const createToAllHealthySeconds = (Date.now() - createdAt) / 1000;

    // r2: a new template for every Rollout; the canary gets its pod at 50% and pauses.
    const patchedAt = new Map<string, number>();
    const canarySeen = new Map<string, number>();
    const replicaSetWatch = await new k8s.Watch(kube).watch(
      `/apis/apps/v1/namespaces/${namespace}/replicasets`,
      {},
      (type, replicaSet: k8s.V1ReplicaSet) => {
        const owner = replicaSet.metadata?.ownerReferences?.[0]?.name;
        if (type !== 'ADDED' || !owner || replicaSet.metadata?.annotations?.['siirto.dev/revision'] !== '2')
          return;
        if (!canarySeen.has(owner)) canarySeen.set(owner, Date.now());
      },
      () => undefined,
    );
    const changedAt = Date.now();
    await inParallel(names, CLIENT_CONCURRENCY, async (name) => {
      await custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace,
          name,
          body: {
            spec: { template: { spec: { containers: [sampleContainer(`registry.example/${name}:2`)] } } },
          },
          fieldManager: FIELD_MANAGER,
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      patchedAt.set(name, Date.now());
    });
    const paused = await progress(
      'r2 Paused at 50%',
      (r) => r.status?.phase === 'Paused' && r.status.revision === 2 && r.status.currentStepIndex === 1,
      deadline,
    );
    const templateChangeToAllPausedSeconds = (Date.now() - changedAt) / 1000;
    replicaSetWatch.abort();

    // Template change → canary ReplicaSet: by the apiserver's clock (the manager's managedFields time
    // and the ReplicaSet's creationTimestamp, both in whole seconds), and in milliseconds by this
    // process's clock (the patch's answer to the ReplicaSet's arrival on a watch).
    const replicaSets = (await apps.listNamespacedReplicaSet({ namespace })).items;
    const canaryCreated = new Map<string, number>();
    for (const replicaSet of replicaSets) {
      if (replicaSet.metadata?.annotations?.['siirto.dev/revision'] !== '2') continue;
      const owner = replicaSet.metadata.ownerReferences?.[0]?.name;
      const created = replicaSet.metadata.creationTimestamp;
      if (owner && created) canaryCreated.set(owner, new Date(created).getTime());
    }
    const serverSeconds: number[] = [];
    const clientMs: number[] = [];
    for (const rollout of paused) {
      const name = rollout.metadata.name;
      const created = canaryCreated.get(name);
      const patchTime = rollout.metadata.managedFields?.find(
        (entry) => entry.manager === FIELD_MANAGER && entry.operation === 'Update',
      )?.time;
      if (created === undefined) continue;
      if (patchTime) serverSeconds.push((created - Date.parse(patchTime)) / 1000);
      const answered = patchedAt.get(name);
      const seen = canarySeen.get(name);
      if (answered !== undefined && seen !== undefined) clientMs.push(seen - answered);
    }

    // At rest: N rollouts held at the pause; nothing from the benchmark reaches the apiserver.
    const reconcilesBefore = await metricSum(bridgePort, 'siirto_reconcile_total');
    const restStarted = Date.now();
    const apiserverRequestsPerSecondAtRest = await requestRates(REST_SECONDS);
    const bridgeReconcilesPerSecondAtRest =
      ((await metricSum(bridgePort, 'siirto_reconcile_total')) - reconcilesBefore) /
      ((Date.now() - restStarted) / 1000);
    const workerAtRestMiB = workers.map(rss);
    const bridgeAtRestMiB = rss(bridge);
    const heapUsedAtRestMiB = await heapUsed();
    const temporalAtRest = temporalServer();
    const siirtoGrowth =
      workerAtRestMiB.reduce((a, b) => a + b, 0) +
      bridgeAtRestMiB -
      (workerBaselineMiB.reduce((a, b) => a + b, 0) + bridgeBaselineMiB);

    // Printed now, so that the figures at rest survive a failure in what follows.
    console.log(
      `N=${n}: all paused ${templateChangeToAllPausedSeconds.toFixed(1)} s after the template change; at rest ` +
        `worker ${workerAtRestMiB.map((m) => m.toFixed(0)).join(' + ')} MiB, bridge ${bridgeAtRestMiB.toFixed(0)} MiB, ` +
        `heap used ${heapUsedAtRestMiB.toFixed(0)} MiB (baseline ${heapUsedBaselineMiB.toFixed(0)}), ` +
        `${(siirtoGrowth / n).toFixed(3)} MiB per held rollout`,
    );

    const reactionWhileHeldMs = await reactionWhileHeld(kube, client, namespace, REACTION_RUNS);
    console.log(
      `N=${n}: with all held, template stored → canary ReplicaSet p50 ${percentile(reactionWhileHeldMs, 0.5).toFixed(0)} ms, ` +
        `p95 ${percentile(reactionWhileHeldMs, 0.95).toFixed(0)} ms over ${reactionWhileHeldMs.length} runs`,
    );

    // Promote all, as a user would: `siirto promote --all -l …`, one Update per paused Rollout.
    const promoteStarted = Date.now();
    // A rollout whose workflow task is being retried under load is named as not promoted yet; a user
    // runs the command again, and so does the benchmark (at most five times).
    let promoteRuns = 0;
    for (;;) {
      promoteRuns++;
      const run = await runTool(process.execPath, [
        path.join(stack.projectDir, 'dist/cli/main.js'),
        'promote',
        '--all',
        '-l',
        `${BENCH_LABEL}=scale`,
        '-n',
        namespace,
      ]);
      console.log(`  promote --all, run ${promoteRuns}: ${(run.stdout + run.stderr).trim().slice(0, 300)}`);
      if (run.code === 0 || promoteRuns === 5) break;
    }
    const promoteAllSeconds = (Date.now() - promoteStarted) / 1000;
    await progress('r2 Healthy', (r) => r.status?.phase === 'Healthy' && r.status.revision === 2, deadline);
    const promoteToAllHealthySeconds = (Date.now() - promoteStarted) / 1000;

    // Released: every run closed (the last one waits for nothing, scale-down delay 0), then at rest again.
    await waitFor(
      'every run of the benchmark to close',
      async () =>
        (await client.workflow.count(`RolloutNamespace = "${namespace}" AND ExecutionStatus = "Running"`))
          .count === 0,
      { timeoutMs: deadline, intervalMs: 2_000 },
    );
    await sleep(REST_SECONDS * 1_000);
    const workerReleasedMiB = workers.map(rss);
    const bridgeReleasedMiB = rss(bridge);
    const heapUsedReleasedMiB = await heapUsed();
    console.log(
      `N=${n}: released, nothing held: worker ${workerReleasedMiB.map((m) => m.toFixed(0)).join(' + ')} MiB, ` +
        `bridge ${bridgeReleasedMiB.toFixed(0)} MiB, heap used ${heapUsedReleasedMiB.toFixed(0)} MiB`,
    );

    // History: every run of every Rollout (r1 and r2), or a sample of 200 where N is larger.
    const sample = paused.slice(0, 200);
    const counted = await inParallel(sample, CLIENT_CONCURRENCY, async (rollout) => {
      const count = async (workflowId: string) => {
        const history = await client.workflow.getHandle(workflowId).fetchHistory();
        const types = (history.events ?? []).map(
          (event) => temporal.api.enums.v1.EventType[event.eventType ?? 0] as string,
        );
        return { events: types.length, actions: types.filter((type) => BILLED_EVENTS.has(type)).length };
      };
      const r2 = rollout.status?.workflowId ?? '';
      return { create: await count(r2.replace(/\/r2$/, '/r1')), canary: await count(r2) };
    });
    const mean = (values: number[]) => Number((values.reduce((a, b) => a + b, 0) / values.length).toFixed(1));

    return {
      n,
      createToAllHealthySeconds,
      templateChangeToAllPausedSeconds,
      canaryReplicaSetServerP50Seconds: percentile(serverSeconds, 0.5),
      canaryReplicaSetServerP95Seconds: percentile(serverSeconds, 0.95),
      canaryReplicaSetClientP50Ms: percentile(clientMs, 0.5),
      canaryReplicaSetClientP95Ms: percentile(clientMs, 0.95),
      workerBaselineMiB,
      workerAtRestMiB,
      bridgeBaselineMiB,
      bridgeAtRestMiB,
      heapUsedBaselineMiB,
      heapUsedAtRestMiB,
      siirtoMiBPerRollout: siirtoGrowth / n,
      temporalServer: temporalAtRest.processes,
      temporalResidentGrowthMiB: mib(temporalAtRest.residentBytes - temporalBefore.residentBytes),
      temporalResidentKiBPerRollout: (temporalAtRest.residentBytes - temporalBefore.residentBytes) / 1024 / n,
      temporalDiskKiBPerRollout: (temporalAtRest.diskBytes - temporalBefore.diskBytes) / 1024 / n,
      apiserverRequestsPerSecondIdle,
      apiserverRequestsPerSecondAtRest,
      bridgeReconcilesPerSecondAtRest,
      promoteAllSeconds,
      promoteRuns,
      promoteToAllHealthySeconds,
      reactionWhileHeldMs,
      workerReleasedMiB,
      bridgeReleasedMiB,
      heapUsedReleasedMiB,
      eventsPerRollout: {
        create: mean(counted.map((c) => c.create.events)),
        canary: mean(counted.map((c) => c.canary.events)),
      },
      actionsPerRollout: {
        create: mean(counted.map((c) => c.create.actions)),
        canary: mean(counted.map((c) => c.canary.actions)),
      },
      historiesCounted: counted.length,
    };
  } finally {
    await Promise.all([...workers, bridge].map((process) => process.stop()));
    await terminateRunningWorkflows(`RolloutNamespace = "${namespace}"`, 'scale benchmark over');
    await runOrThrow('kubectl', ['delete', 'namespace', namespace, '--wait=true', '--timeout=600s']).catch(
      (error: unknown) => console.error(`deleting ${namespace}: ${String(error)}`),
    );
    for (const node of nodes) {
      const name = (node.metadata as { name: string }).name;
      await core.deleteNode({ name }).catch(() => undefined);
    }
  }
}

function table(all: Figures[]): void {
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const rate = (rates: Record<string, number>, match: (key: string) => boolean) =>
    sum(
      Object.entries(rates)
        .filter(([key]) => match(key))
        .map(([, value]) => value),
    ).toFixed(2);
  const rows: Record<string, Record<string, string>> = {};
  const row = (label: string, value: (f: Figures) => string) => {
    rows[label] = Object.fromEntries(all.map((f) => [`N=${f.n}`, value(f)]));
  };
  row('create → all Healthy (r1)', (f) => `${f.createToAllHealthySeconds.toFixed(1)} s`);
  row('template change → all Paused (r2)', (f) => `${f.templateChangeToAllPausedSeconds.toFixed(1)} s`);
  row(
    '→ canary RS p50/p95, server s',
    (f) => `${f.canaryReplicaSetServerP50Seconds} / ${f.canaryReplicaSetServerP95Seconds}`,
  );
  row(
    '→ canary RS p50/p95, watched ms',
    (f) => `${f.canaryReplicaSetClientP50Ms} / ${f.canaryReplicaSetClientP95Ms}`,
  );
  row(
    'with N held, one more: → canary RS p50/p95 ms',
    (f) =>
      `${percentile(f.reactionWhileHeldMs, 0.5).toFixed(0)} / ${percentile(f.reactionWhileHeldMs, 0.95).toFixed(0)}`,
  );
  row(
    'workers RSS baseline → at rest',
    (f) =>
      `${f.workerBaselineMiB.map((m) => m.toFixed(0)).join('+')} → ${f.workerAtRestMiB.map((m) => m.toFixed(0)).join('+')} MiB`,
  );
  row(
    'bridge RSS baseline → at rest',
    (f) => `${f.bridgeBaselineMiB.toFixed(0)} → ${f.bridgeAtRestMiB.toFixed(0)} MiB`,
  );
  row('Siirto MiB per held rollout (RSS)', (f) => f.siirtoMiBPerRollout.toFixed(3));
  row(
    'released, nothing held: workers + bridge RSS',
    (f) =>
      `${f.workerReleasedMiB.map((m) => m.toFixed(0)).join('+')} + ${f.bridgeReleasedMiB.toFixed(0)} MiB`,
  );
  row('  MiB per rollout, held − released (RSS)', (f) => {
    const held = sum(f.workerAtRestMiB) + f.bridgeAtRestMiB;
    return ((held - sum(f.workerReleasedMiB) - f.bridgeReleasedMiB) / f.n).toFixed(3);
  });
  row('  MiB per rollout, held − released (V8 heap)', (f) =>
    ((f.heapUsedAtRestMiB - f.heapUsedReleasedMiB) / f.n).toFixed(3),
  );
  row(
    'V8 heap used, all three',
    (f) =>
      `${f.heapUsedBaselineMiB.toFixed(0)} → ${f.heapUsedAtRestMiB.toFixed(0)} MiB (${((f.heapUsedAtRestMiB - f.heapUsedBaselineMiB) / f.n).toFixed(3)} per rollout)`,
  );
  row(
    'Temporal RSS growth (per rollout)',
    (f) =>
      `${f.temporalResidentGrowthMiB.toFixed(0)} MiB (${f.temporalResidentKiBPerRollout.toFixed(0)} KiB)`,
  );
  row('Temporal disk per rollout', (f) => `${f.temporalDiskKiBPerRollout.toFixed(1)} KiB`);
  row('promote all (Updates)', (f) => `${f.promoteAllSeconds.toFixed(1)} s in ${f.promoteRuns} run(s)`);
  row('promote → all Healthy', (f) => `${f.promoteToAllHealthySeconds.toFixed(1)} s`);
  row('events per rollout r1 / r2', (f) => `${f.eventsPerRollout.create} / ${f.eventsPerRollout.canary}`);
  row('Actions per rollout r1 / r2', (f) => `${f.actionsPerRollout.create} / ${f.actionsPerRollout.canary}`);
  row(
    'apiserver req/s idle → at rest',
    (f) =>
      `${rate(f.apiserverRequestsPerSecondIdle, () => true)} → ${rate(f.apiserverRequestsPerSecondAtRest, () => true)}`,
  );
  row(
    '  of them rollouts.siirto.dev',
    (f) =>
      `${rate(f.apiserverRequestsPerSecondIdle, (k) => k.includes('rollouts.siirto.dev'))} → ${rate(f.apiserverRequestsPerSecondAtRest, (k) => k.includes('rollouts.siirto.dev'))}`,
  );
  row('bridge reconciles/s at rest', (f) => f.bridgeReconcilesPerSecondAtRest.toFixed(2));
  console.table(rows);
}

async function main(): Promise<void> {
  if (!existsSync(path.join(stack.projectDir, 'dist/worker/main.js'))) {
    throw new Error('no compiled worker in dist/: run it as `npm run bench:scale`, which builds it first');
  }
  loadStackEnvironment();
  await runOrThrow('kubectl', ['apply', '--server-side', '--force-conflicts', '-f', 'deploy/crds/']);
  const kube = new k8s.KubeConfig();
  kube.loadFromFile(stack.kubeconfig);
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection });
  const all: Figures[] = [];
  try {
    for (const n of SIZES) {
      const figures = await measure(n, kube, client);
      console.log(JSON.stringify(figures));
      all.push(figures);
      table(all);
    }
  } finally {
    await connection.close();
  }
  const load = readFileSync('/proc/loadavg', 'utf8').trim();
  console.log(`load average at the end: ${load}`);
  writeFigures('scale', { load, sizes: all });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
