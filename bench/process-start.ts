// `npm run bench:start`: how long the worker and the bridge take to start, compiled (dist/, as the
// installed package runs them; run `npm run build` first) against the sources through tsx (as
// `npm run local` and the tests run them). Each round applies a Rollout, then starts both processes
// on a fresh task queue and namespace, and measures from the spawn to each one's first log line, to
// its "started" line, and to the completion of the Rollout's first workflow task (Temporal's own
// event time). Prints figures and writes test-artifacts/process-start-figures.json; asserts nothing.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { rolloutWorkflowId } from '../workflows/rollout-api';
import { runOrThrow } from '../test/harness/commands';
import { writeFigures } from '../test/harness/figures';
import { kubectlApply, rolloutManifest, servicesAndRoute } from '../test/harness/rollout-fixtures';
import { SiirtoProcess, siirtoEnvironment } from '../test/harness/siirto-processes';
import { loadStackEnvironment, stack } from '../test/harness/stack';
import { historyOf, terminateRunningWorkflows } from '../test/harness/temporal';
import { waitFor } from '../test/harness/wait';
import { percentile } from './bench-support';

const ROUNDS = Number(process.env.BENCH_RUNS ?? 3);
const FROM_SOURCE = { worker: 'worker/main.ts', bridge: 'k8s-bridge/main.ts' };
const VARIANTS = {
  compiled: { worker: 'dist/worker/main.js', bridge: 'dist/k8s-bridge/main.js', env: {} },
  // tsx keeps what it has transformed in a cache; a first start after a checkout or a change has none.
  'tsx, cached': { ...FROM_SOURCE, env: {} },
  'tsx, no cache': { ...FROM_SOURCE, env: { TSX_DISABLE_CACHE: '1' } },
} as const;
type Variant = keyof typeof VARIANTS;

interface Round {
  workerFirstLogLineMs: number;
  workerStartedMs: number;
  bridgeFirstLogLineMs: number;
  bridgeStartedMs: number;
  firstWorkflowTaskCompletedMs: number;
}

/** Milliseconds from `since` to the time of the process's first log line and of the line `message`. */
function logTimes(process: SiirtoProcess, message: string, since: number): [number, number] {
  const lines = process
    .logText()
    .split('\n')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as { time: string; msg: string }];
      } catch {
        return [];
      }
    })
    .filter((line) => Date.parse(line.time) >= since - 1000);
  const at = (line: { time: string } | undefined) => Date.parse(line?.time ?? '') - since;
  return [at(lines[0]), at(lines.find((line) => line.msg === message))];
}

async function round(variant: Variant): Promise<Round> {
  const suffix = randomBytes(3).toString('hex');
  const scope = { namespace: `bench-start-${suffix}`, workflowIdPrefix: `bench-start-${suffix}` };
  const app = 'starter';
  await runOrThrow('kubectl', ['create', 'namespace', scope.namespace]);
  await kubectlApply(servicesAndRoute(scope.namespace, app));
  await kubectlApply(rolloutManifest({ namespace: scope.namespace, app, replicas: 1, steps: [] }));
  const { worker: workerEntry, bridge: bridgeEntry, env: variantEnv } = VARIANTS[variant];
  const env = siirtoEnvironment(scope, variantEnv);
  const { SIIRTO_SDK_METRICS_PORT: _sdkMetricsPort, ...bridgeEnv } = env;
  const worker = new SiirtoProcess(workerEntry, env, /worker started/, `${scope.namespace}-worker`);
  const bridge = new SiirtoProcess(bridgeEntry, bridgeEnv, /bridge started/, `${scope.namespace}-bridge`);
  const startedAt = Date.now();
  try {
    await Promise.all([worker.start(), bridge.start()]);
    const history = await waitFor(
      'the first workflow task to complete',
      async () => {
        const events = await historyOf(rolloutWorkflowId(scope.namespace, app, 1));
        return events.find((event) => event.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED');
      },
      { timeoutMs: 60_000 },
    );
    const [workerFirstLogLineMs, workerStartedMs] = logTimes(worker, 'worker started', startedAt);
    const [bridgeFirstLogLineMs, bridgeStartedMs] = logTimes(bridge, 'bridge started', startedAt);
    return {
      workerFirstLogLineMs,
      workerStartedMs,
      bridgeFirstLogLineMs,
      bridgeStartedMs,
      firstWorkflowTaskCompletedMs: Date.parse(String(history.eventTime)) - startedAt,
    };
  } finally {
    await Promise.all([worker.stop(), bridge.stop()]);
    await terminateRunningWorkflows(`RolloutNamespace = "${scope.namespace}"`, 'start benchmark over');
    await runOrThrow('kubectl', ['delete', 'namespace', scope.namespace, '--wait=false']);
  }
}

async function main(): Promise<void> {
  if (!existsSync(path.join(stack.projectDir, VARIANTS.compiled.worker))) {
    throw new Error('no compiled worker in dist/: run `npm run build` first');
  }
  loadStackEnvironment();
  const rounds = Object.fromEntries(
    Object.keys(VARIANTS).map((variant) => [variant, [] as Round[]]),
  ) as Record<Variant, Round[]>;
  // Alternating, so that the machine's load at any one time weighs on both alike.
  for (let index = 0; index < ROUNDS; index++) {
    for (const variant of Object.keys(VARIANTS) as Variant[]) {
      const measured = await round(variant);
      rounds[variant].push(measured);
      console.log(`${variant} round ${index + 1}: ${JSON.stringify(measured)}`);
    }
  }
  const medians = Object.fromEntries(
    (Object.keys(VARIANTS) as Variant[]).map((variant) => {
      const keys = Object.keys(rounds[variant][0] ?? {}) as (keyof Round)[];
      const median = (key: keyof Round) =>
        percentile(
          rounds[variant].map((measured) => measured[key]),
          0.5,
        );
      return [variant, Object.fromEntries(keys.map((key) => [key, median(key)]))];
    }),
  );
  console.log(`medians over ${ROUNDS} rounds (ms from the spawn):`);
  console.table(medians);
  writeFigures('process-start', { rounds, medians });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
