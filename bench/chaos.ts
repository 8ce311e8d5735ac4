// `npm run chaos`: many rollouts on the local stack while Siirto's processes are SIGKILLed at random and
// the stack's apiserver, Temporal server and Prometheus are each restarted once. Prints whether every
// rollout still ended as it should, and what the faults cost. Not a test: it prints figures.
import { Client, Connection } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AnalysisRunStatus } from '../schemas/analysis';
import type { RolloutStatus } from '../schemas/rollout';
import {
  analysisTemplateManifest,
  kubectlApply,
  patchRolloutSpec,
  podMetadata,
  rolloutManifest,
  sampleContainer,
  servicesAndRoute,
} from '../test/harness/rollout-fixtures';
import { run } from '../test/harness/commands';
import { stack } from '../test/harness/stack';
import { eventSummary, historyOf } from '../test/harness/temporal';
import { waitFor } from '../test/harness/wait';
import { now, siirtoOnTheStack } from './bench-support';
import { POD_TEMPLATE_HASH_LABEL } from '../kubernetes/labels';
import { chosenBySiirto, recordTraffic, type Starving } from './traffic-on-unready';

const ROLLOUTS = Number(process.env.CHAOS_ROLLOUTS ?? 30);
const APPS = Number(process.env.CHAOS_APPS ?? 6);
/** Every so many revisions, one whose pods never become Ready: it must end Degraded, not promoted. */
const UNREADY_EVERY = 4;
/**
 * Of the others, every so many has its canary's pods turn unready for a while during the first pause,
 * while they serve: the guard must move their share back to stable, and give it back once they are
 * Ready again (the rollout still ends Healthy).
 */
const FLAPPING_EVERY = 4;
const FLAP_SECONDS = 3;
const PAUSES_SECONDS = [8, 4];
const PROGRESS_DEADLINE_SECONDS = 30;
/** Seconds between faults, at random within these bounds. */
const FAULT_GAP_SECONDS = [8, 16] as const;

const random = (low: number, high: number) => low + Math.random() * (high - low);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

interface Outcome {
  app: string;
  revision: number;
  expected: 'Healthy' | 'Degraded';
  seen: string;
  workflowId?: string;
}

async function main(): Promise<void> {
  const setup = await siirtoOnTheStack({ SIIRTO_RESYNC_SECONDS: '10' });
  const { namespace, kubeConfig, see, worker, bridge, taskQueue } = setup;
  const client = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
  const traffic = recordTraffic(kubeConfig, namespace, now);
  const outcomes: Outcome[] = [];
  const faults: string[] = [];
  let done = false;

  try {
    await kubectlApply(
      analysisTemplateManifest(namespace, 'pods-scraped', {
        metrics: [
          {
            name: 'pods-scraped',
            interval: '3s',
            successCondition: 'result > 0',
            inconclusiveLimit: 0,
            consecutiveErrorLimit: 0,
            provider: { prometheus: { query: 'sum(up{namespace="{{args.namespace}}"})' } },
          },
        ],
      }),
    );
    const perApp = Math.ceil(ROLLOUTS / APPS);
    const apps = Array.from({ length: APPS }, (_, index) => `chaos-${index + 1}`);
    log(`${APPS} apps × ${perApp} revisions in ${namespace}, faults every ${FAULT_GAP_SECONDS.join('–')} s`);

    const injecting = (async () => {
      // Each component of the stack once, early enough to land while rollouts run, with the worker
      // and bridge kills in random order around them.
      const kills = shuffle([...Array<string>(4).fill('worker'), ...Array<string>(4).fill('bridge')]);
      const components = shuffle(['kube-apiserver', 'temporal', 'prometheus']);
      const plan = kills.flatMap((kill, index) => {
        const component = index % 2 === 1 ? components.pop() : undefined;
        return component ? [kill, component] : [kill];
      });
      /** Kills the process and brings it back; returns how many starts that took. */
      const inject = async (fault: string): Promise<number> => {
        if (fault !== 'worker' && fault !== 'bridge') return restartStackComponent(fault);
        const process = fault === 'worker' ? worker : bridge;
        await process.kill();
        await sleep(random(0, 3000));
        await process.start();
        return 1;
      };
      for (const fault of plan) {
        await sleep(random(...FAULT_GAP_SECONDS) * 1000);
        if (done) break;
        const started = now();
        let line: string;
        try {
          const attempts = await inject(fault);
          const tries = attempts > 1 ? ` (stack/up.sh ${attempts} times)` : '';
          line = `SIGKILL ${fault}, back after ${((now() - started) / 1000).toFixed(1)} s${tries}`;
        } catch (error) {
          line = `SIGKILL ${fault}: could not bring it back (${String(error)})`;
        }
        faults.push(line);
        log(line);
      }
    })();

    await Promise.all(
      apps.map((app) =>
        driveApp(namespace, app, perApp, see.rolloutStatus, (outcome) => {
          outcomes.push(outcome);
          log(`${app} r${outcome.revision}: ${outcome.seen} (expected ${outcome.expected})`);
        }),
      ),
    );
    done = true;
    await injecting;
    traffic.stop();

    // --- figures ---------------------------------------------------------------------------------
    const asExpected = outcomes.filter((outcome) => outcome.seen === outcome.expected).length;
    const failed = await count(client, `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Failed'`);
    const runsByWorkflow = new Map<string, number>();
    // A run that continued as new and the one it continued in are one run of the revision.
    const chainEnds = `TaskQueue = '${taskQueue}' AND ExecutionStatus != 'ContinuedAsNew'`;
    for await (const info of client.workflow.list({ query: chainEnds })) {
      runsByWorkflow.set(info.workflowId, (runsByWorkflow.get(info.workflowId) ?? 0) + 1);
    }
    const duplicates = [...runsByWorkflow]
      .filter(([id, runs]) => /\/r\d+$/.test(id) && runs > 1)
      .map(([id]) => id);

    let unmeasured = 0;
    let largestPauseDeviation = 0;
    for (const outcome of outcomes) {
      if (outcome.seen !== 'Healthy' || !outcome.workflowId) continue;
      const background = await analysisResult(client, `${outcome.workflowId}/analysis/background/a1`);
      if (!background?.metrics.some((metric) => metric.successful > 0)) unmeasured++;
      largestPauseDeviation = Math.max(largestPauseDeviation, await pauseDeviation(outcome.workflowId));
    }

    console.log('');
    console.log(
      `chaos (${new Date().toISOString().slice(0, 10)}): ${outcomes.length} rollouts, ${faults.length} faults`,
    );
    for (const fault of faults) console.log(`  fault: ${fault}`);
    console.log(`rollouts ending as expected: ${asExpected} of ${outcomes.length} (goal: all)`);
    for (const outcome of outcomes.filter((o) => o.seen !== o.expected)) {
      console.log(`  ${outcome.app} r${outcome.revision}: ${outcome.seen}, expected ${outcome.expected}`);
    }
    console.log(`workflows ending Failed: ${failed} (goal: 0)`);
    console.log(
      `duplicate workflows for a revision: ${duplicates.length} (goal: 0)${duplicates.length ? ` ${duplicates.join(', ')}` : ''}`,
    );
    console.log(`promotions decided without a measurement: ${unmeasured} (goal: 0)`);
    console.log(`largest deviation of a timed pause from its duration: ${largestPauseDeviation} ms`);
    const starving = traffic.starving();
    const chosen = starving.filter(chosenBySiirto);
    const lostReadiness = starving.filter((interval) => !chosenBySiirto(interval));
    const longest = (intervals: Starving[]) => Math.max(0, ...intervals.map((interval) => interval.ms));
    console.log(
      `longest time a traffic share pointed at a ReplicaSet with no Ready pod by Siirto's own write ` +
        `(a route or Service written after the pods were unready, in etcd's order): ` +
        `${longest(chosen).toFixed(0)} ms, ${chosen.length} times (goal: 0)`,
    );
    // The guard's reaction is what a route write ended; pods Ready again before any write (a hold shorter
    // than the reaction, a Temporal outage, the node controller's own marking) are counted apart.
    const movedByRoute = lostReadiness.filter((interval) => interval.ended?.kind === 'route');
    const readyFirst = lostReadiness.filter((interval) => interval.ended?.kind !== 'route');
    console.log(
      `pods that lost readiness while serving: ${lostReadiness.length} times; the guard's route write moved ` +
        `their share ${movedByRoute.length} times, within ${longest(movedByRoute).toFixed(0)} ms at the longest; ` +
        `the pods were Ready again before any route write ${readyFirst.length} times, ` +
        `after ${longest(readyFirst).toFixed(0)} ms at the longest`,
    );
    for (const interval of starving) console.log(`  ${describeStarving(interval)}`);
  } finally {
    done = true;
    traffic.stop();
    await setup.close();
    await client.connection.close();
    // The stack is shared: whatever a fault left down is started again, and its health is shown.
    execFileSync('bash', ['stack/up.sh'], { cwd: stack.projectDir, stdio: ['ignore', 'ignore', 'inherit'] });
    const status = await run('bash', ['stack/status.sh']);
    console.log(`stack after the run (stack/status.sh exit ${status.code}):\n${status.stdout.trimEnd()}`);
  }
}

/** Rolls one app through its revisions, one after the other; every UNREADY_EVERY-th never gets Ready. */
async function driveApp(
  namespace: string,
  app: string,
  revisions: number,
  statusOf: (name: string) => Promise<RolloutStatus>,
  report: (outcome: Outcome) => void,
): Promise<void> {
  const steps = [
    { setWeight: 25 },
    { pause: { duration: `${PAUSES_SECONDS[0]}s` } },
    { setWeight: 50 },
    { pause: { duration: `${PAUSES_SECONDS[1]}s` } },
  ];
  await kubectlApply(servicesAndRoute(namespace, app));
  await kubectlApply(
    rolloutManifest({
      namespace,
      app,
      replicas: 2,
      steps,
      progressDeadlineSeconds: PROGRESS_DEADLINE_SECONDS,
      scaleDownDelaySeconds: 2,
      canary: { analysis: { templates: [{ templateName: 'pods-scraped' }] }, abortScaleDownDelaySeconds: 2 },
    }),
  );
  const settledOn = async (revision: number) => {
    let last: RolloutStatus = {};
    const settled = await waitFor(
      `${app} r${revision} to settle`,
      async () => {
        last = await statusOf(app);
        return last.revision === revision && (last.phase === 'Healthy' || last.phase === 'Degraded') && last;
      },
      { timeoutMs: 6 * 60_000, intervalMs: 500 },
    ).catch(() => undefined);
    return { settled, last };
  };
  await settledOn(1);
  for (let revision = 2; revision < revisions + 2; revision++) {
    const unready = revision % UNREADY_EVERY === 0;
    const { annotations } = podMetadata(app);
    await patchRolloutSpec(namespace, app, {
      template: {
        metadata: { annotations: { ...annotations, 'stack.siirto.dev/ready': unready ? 'false' : null } },
        spec: { containers: [sampleContainer(`registry.example/${app}:${revision}`)] },
      },
    });
    if (revision % FLAPPING_EVERY === 2) await flapCanaryPods(namespace, app, revision, statusOf);
    const { settled, last } = await settledOn(revision);
    report({
      app,
      revision,
      expected: unready ? 'Degraded' : 'Healthy',
      seen: settled?.phase ?? `still ${last.phase} at r${last.revision} after 6 min`,
      workflowId: settled?.workflowId,
    });
  }
}

/**
 * Once the revision pauses at its first weight, holds its canary's pods unready for FLAP_SECONDS, as a
 * failing readiness probe would, while they serve. Best effort: a fault may make it miss its moment.
 */
async function flapCanaryPods(
  namespace: string,
  app: string,
  revision: number,
  statusOf: (name: string) => Promise<RolloutStatus>,
): Promise<void> {
  const status = await waitFor(
    `${app} r${revision} to pause at its first weight`,
    async () => {
      const current = await statusOf(app).catch(() => undefined);
      return current?.revision === revision && current.currentStepIndex === 1 && current;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  ).catch(() => undefined);
  if (!status?.currentTemplateHash) {
    log(`${app} r${revision}: missed the pause to hold its canary pods unready in`);
    return;
  }
  const annotate = (value: string) =>
    run('kubectl', [
      'annotate',
      'pods',
      '-n',
      namespace,
      '-l',
      `${POD_TEMPLATE_HASH_LABEL}=${status.currentTemplateHash}`,
      '--overwrite',
      value,
    ]);
  await annotate('stack.siirto.dev/ready=false');
  log(`${app} r${revision}: canary pods held unready while serving, for ${FLAP_SECONDS} s`);
  await sleep(FLAP_SECONDS * 1000);
  // Until it takes: an apiserver restart may refuse it for a while.
  await waitFor(`${app} r${revision}'s canary pods to be let Ready`, async () => {
    return (await annotate('stack.siirto.dev/ready-')).code === 0;
  }).catch(() => undefined);
}

function shuffle<T>(items: T[]): T[] {
  for (let index = items.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [items[index], items[other]] = [items[other] as T, items[index] as T];
  }
  return items;
}

function describeStarving({ backend, began, ended, ms }: Starving): string {
  const change = (mark: Starving['began']) => `${mark.kind} ${mark.name} (resourceVersion ${mark.rv})`;
  const cause = chosenBySiirto({ backend, began, ms }) ? "Siirto's write" : 'pods lost readiness';
  return `${backend}: ${ms.toFixed(0)} ms, ${cause}: from ${change(began)} to ${ended ? change(ended) : 'the end'}`;
}

/** The state directory of the stack in use: the stack's scripts honour SIIRTO_STACK_DIR too. */
const stackStateDir = () => process.env.SIIRTO_STACK_DIR ?? path.join(stack.projectDir, '.stack');

/**
 * SIGKILLs one of the stack's components and starts it again with the stack's own script, without
 * blocking this process: its watches must keep taking changes in as they come, or their receipt times
 * would be off by the restart's length.
 */
async function restartStackComponent(name: string): Promise<number> {
  const pidFile = path.join(stackStateDir(), 'pids', `${name}.pid`);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  process.kill(pid, 'SIGKILL');
  // As a person would: a start that fails while the killed process's ports are let go is tried again.
  for (let attempt = 1; ; attempt++) {
    const started = await run('bash', [path.join(stack.projectDir, 'stack', 'up.sh')]);
    if (started.code === 0) return attempt;
    if (attempt === 5) throw new Error(`stack/up.sh exited ${started.code}: ${started.stderr.trim()}`);
    await sleep(2000);
  }
}

async function count(client: Client, query: string): Promise<number> {
  return (await client.workflow.count(query)).count;
}

async function analysisResult(client: Client, workflowId: string): Promise<AnalysisRunStatus | undefined> {
  return client.workflow
    .getHandle(workflowId)
    .result()
    .then(
      (result: AnalysisRunStatus) => result,
      () => undefined,
    );
}

/** The largest difference between a timed pause's timer and the pause it was set for, in the history. */
async function pauseDeviation(workflowId: string): Promise<number> {
  const events = await historyOf(workflowId);
  let largest = 0;
  for (const started of events.filter((event) => event.eventType === 'EVENT_TYPE_TIMER_STARTED')) {
    const match = /^pause (\d+)s$/.exec(eventSummary(started) ?? '');
    if (!match) continue;
    const timerId = (started.timerStartedEventAttributes as { timerId: string }).timerId;
    const fired = events.find(
      (event) =>
        event.eventType === 'EVENT_TYPE_TIMER_FIRED' &&
        (event.timerFiredEventAttributes as { timerId: string }).timerId === timerId,
    );
    if (!fired) continue;
    const lasted = Date.parse(fired.eventTime as string) - Date.parse(started.eventTime as string);
    largest = Math.max(largest, Math.abs(lasted - Number(match[1]) * 1000));
  }
  return largest;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
