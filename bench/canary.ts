// `npm run bench:canary`: how fast Siirto reacts, on the local stack with a real worker and bridge.
// Prints figures; it is not a test and asserts nothing.
import { Client, Connection } from '@temporalio/client';
import * as k8s from '@kubernetes/client-node';
import { abortUpdate, promoteSignal } from '../workflows/rollout-api';
import {
  kubectlApply,
  patchRolloutSpec,
  podMetadata,
  rolloutManifest,
  sampleContainer,
  servicesAndRoute,
  setImage,
} from '../test/harness/rollout-fixtures';
import { stack } from '../test/harness/stack';
import { historyOf } from '../test/harness/temporal';
import { waitFor } from '../test/harness/wait';
import {
  activityTimes,
  BILLED_EVENTS,
  completedActivity,
  eventIdOf,
  firstEvent,
  now,
  recordedEvent,
  report,
  siirtoOnTheStack,
  watchNewRevision,
  workflowTaskTimes,
} from './bench-support';
import { measureFloor, reportFloor } from './temporal-floor';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const ABORT_RUNS = Number(process.env.BENCH_ABORT_RUNS ?? 5);
/** `reaction`: only the figures of how fast Siirto reacts (first rollout, back to back, promote). */
const ONLY_REACTION = process.env.BENCH_ONLY === 'reaction';

async function main(): Promise<void> {
  const { namespace, kubeConfig, see, close } = await siirtoOnTheStack({}, { compiled: true });
  const client = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });

  try {
    // One pod per revision, so moving from one weight to the next needs no new pods: what is timed is Siirto.
    const app = 'bench';
    await kubectlApply(servicesAndRoute(namespace, app));
    const steps = [{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }, { pause: {} }];
    await kubectlApply(rolloutManifest({ namespace, app, replicas: 1, steps, scaleDownDelaySeconds: 0 }));
    await waitFor('r1 Healthy', async () => (await see.rolloutStatus(app)).phase === 'Healthy', {
      timeoutMs: 60_000,
    });

    reportFloor(await measureFloor(namespace, app, RUNS));

    const applyToReplicaSet: number[] = [];
    const promoteToWeight: number[] = [];
    const promoteRecordedToWeight: number[] = [];
    const firstBridge: number[] = [];
    const firstWorkflow: number[] = [];
    const hops = new Map<string, number[]>();
    for (let run = 0; run < RUNS; run++) {
      const revision = (await see.rolloutStatus(app)).revision ?? 0;
      // Timed from the apiserver's word that the new template is stored, not from kubectl's start.
      const image = `registry.example/${app}:${run + 2}`;
      const seen = await watchNewRevision(kubeConfig, namespace, app, { revision: revision + 1, image });
      await setImage(namespace, app, image);
      const storedAt = await seen.stored;
      applyToReplicaSet.push((await seen.created) - storedAt);

      const paused = await waitFor(`r${revision + 1} paused at 10%`, async () => {
        const status = await see.rolloutStatus(app);
        return (
          status.revision === revision + 1 &&
          status.phase === 'Paused' &&
          status.currentStepIndex === 1 &&
          status
        );
      });
      const weightChanged = await firstEvent<{
        spec: { rules: { backendRefs: { name: string; weight: number }[] }[] };
      }>(
        kubeConfig,
        `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes`,
        (route) =>
          route.spec.rules[0]?.backendRefs.some((ref) => ref.name === `${app}-canary` && ref.weight === 50) ??
          false,
      );
      const handle = client.workflow.getHandle(paused.workflowId ?? '');
      const promotedAt = now();
      await handle.signal(promoteSignal, {});
      const weightSeen = await weightChanged.seen;
      promoteToWeight.push(weightSeen - promotedAt);
      await waitFor('paused at 50%', async () => (await see.rolloutStatus(app)).currentStepIndex === 3);
      // The promote as Temporal's server recorded it, on the same clock as the watch (one machine).
      const history = await handle.fetchHistory();
      const signalled = recordedEvent(
        history,
        (event) => event.workflowExecutionSignaledEventAttributes?.signalName === promoteSignal.name,
      );
      if (signalled !== undefined) promoteRecordedToWeight.push(weightSeen - signalled);
      const started = recordedEvent(history, (event) => !!event.workflowExecutionStartedEventAttributes);
      const written = completedActivity(history, 'ensureReplicaSet');
      if (started !== undefined && written !== undefined) {
        firstBridge.push(started - storedAt);
        firstWorkflow.push(written - started);
      }
      splitFirstWrite(hops, 'run before closed', history, 0);
      const signalId = eventIdOf(
        history,
        (event) => event.workflowExecutionSignaledEventAttributes?.signalName === promoteSignal.name,
      );
      const promoteTask = signalId === undefined ? undefined : workflowTaskTimes(history, signalId);
      const routeWrite =
        signalId === undefined ? undefined : activityTimes(history, 'setTrafficWeights', signalId);
      if (signalled !== undefined && promoteTask && routeWrite) {
        hop(hops, 'promote: signal recorded → workflow task started', promoteTask.started - signalled);
        hop(hops, 'promote: workflow task started → completed', promoteTask.completed - promoteTask.started);
        hop(
          hops,
          'promote: route write scheduled → started (dispatch)',
          routeWrite.started - routeWrite.scheduled,
        );
        hop(hops, 'promote: route write started → weight seen by a watch', weightSeen - routeWrite.started);
      }
      await handle.signal(promoteSignal, { full: true });
      await handle.result();
    }
    report('apply → canary ReplicaSet created (run before closed)', applyToReplicaSet, 50);
    report('  template stored → run started (bridge)', firstBridge, 50);
    report('  run started → canary ReplicaSet written (workflow)', firstWorkflow, 50);
    report('promote signal sent → HTTPRoute weight changed', promoteToWeight, 50);
    report('promote signal recorded → HTTPRoute weight changed', promoteRecordedToWeight, 50);
    for (const [label, values] of hops) report(`  ${label}`, values, 50);

    await backToBack(namespace, app, kubeConfig, client, see);
    if (ONLY_REACTION) return;

    // Ten weight steps, no pauses: the whole canary from the template change to Healthy.
    const tenSteps = Array.from({ length: 10 }, (_, index) => ({ setWeight: (index + 1) * 10 }));
    await patchRolloutSpec(namespace, app, { strategy: { canary: { steps: tenSteps } } });
    const before = (await see.rolloutStatus(app)).revision ?? 0;
    const startedAt = performance.now();
    await setImage(namespace, app, 'registry.example/bench:ten-steps');
    const done = await waitFor(
      'the 10-step canary to become Healthy',
      async () => {
        const status = await see.rolloutStatus(app);
        return status.revision === before + 1 && status.phase === 'Healthy' && status;
      },
      { timeoutMs: 120_000, intervalMs: 20 },
    );
    const total = performance.now() - startedAt;
    console.log(
      `10-step canary without pauses: ${(total / 1000).toFixed(2)} s from apply to Healthy (target ≤ 3 s)`,
    );

    const handle = client.workflow.getHandle(done.workflowId ?? '');
    await handle.result();
    const events = await historyOf(handle.workflowId);
    const actions = events.filter((event) => BILLED_EVENTS.has(event.eventType)).length;
    console.log(
      `history of the 10-step canary: ${events.length} events, ${actions} Temporal Actions; ` +
        `per step ${(events.length / 10).toFixed(1)} events, ${(actions / 10).toFixed(1)} Actions`,
    );

    // Aborts while the canary waits for pods that never become Ready: from the abort to the cluster.
    await patchRolloutSpec(namespace, app, {
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
    });
    const abortToCluster: number[] = [];
    for (let run = 0; run < ABORT_RUNS; run++) {
      const revision = (await see.rolloutStatus(app)).revision ?? 0;
      await patchRolloutSpec(namespace, app, {
        template: {
          metadata: { ...podMetadata(app), annotations: { 'stack.siirto.dev/ready': 'false' } },
          spec: { containers: [sampleContainer(`registry.example/${app}:never-ready-${run}`)] },
        },
      });
      const waiting = await waitFor(`r${revision + 1} waiting for its canary pods`, async () => {
        const status = await see.rolloutStatus(app);
        const canary = (await see.replicaSets(app)).find((rs) => rs.hash === status.currentTemplateHash);
        return (
          status.revision === revision + 1 &&
          status.phase === 'Progressing' &&
          canary?.replicas === 1 &&
          status
        );
      });
      // The wait's heartbeats are under way, as in a rollout stuck on its pods.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      // The traffic is on stable already and the canary's pods outlive it by design: the cluster hears
      // of the abort through the Rollout's status.
      const degraded = await firstEvent<{ status?: { revision?: number; phase?: string } }>(
        kubeConfig,
        `/apis/siirto.dev/v1alpha1/namespaces/${namespace}/rollouts`,
        (rollout) => rollout.status?.revision === revision + 1 && rollout.status.phase === 'Degraded',
      );
      const abortedAt = now();
      await client.workflow
        .getHandle(waiting.workflowId ?? '')
        .executeUpdate(abortUpdate, { args: [{ reason: 'bench' }] });
      abortToCluster.push((await degraded.seen) - abortedAt);
    }
    report('abort while the canary waits for pods → Rollout Degraded', abortToCluster, 1_000);
  } finally {
    await close();
    await client.connection.close();
  }
}

/**
 * A new image the moment the revision before is Healthy, while its run still waits to scale the old
 * stable down: the new run starts by taking over from it. Timed from the watch's word that the new
 * template is stored to its word that the canary's ReplicaSet exists (creationTimestamp and
 * managedFields carry whole seconds only), and split by the times Temporal's server recorded.
 */
async function backToBack(
  namespace: string,
  app: string,
  kubeConfig: k8s.KubeConfig,
  client: Client,
  see: Awaited<ReturnType<typeof siirtoOnTheStack>>['see'],
): Promise<void> {
  await patchRolloutSpec(namespace, app, {
    strategy: { canary: { steps: [{ setWeight: 10 }], scaleDownDelaySeconds: 30 } },
  });
  const runs: { stored: number; created: number; workflowId: string; supersedes: string }[] = [];
  // The first revision here follows one that closed; the ones after it each follow one still open.
  for (let run = 0; run <= RUNS; run++) {
    const status = await see.rolloutStatus(app);
    const revision = status.revision ?? 0;
    const healthy = await firstEvent<{ status?: { revision?: number; phase?: string; workflowId?: string } }>(
      kubeConfig,
      `/apis/siirto.dev/v1alpha1/namespaces/${namespace}/rollouts`,
      (rollout) => rollout.status?.revision === revision + 1 && rollout.status.phase === 'Healthy',
    );
    const image = `registry.example/${app}:back-to-back-${run}`;
    const seen = await watchNewRevision(kubeConfig, namespace, app, { revision: revision + 1, image });
    await setImage(namespace, app, image);
    const [stored, createdAt] = [await seen.stored, await seen.created];
    await healthy.seen;
    const current = await see.rolloutStatus(app);
    if (run > 0) {
      runs.push({
        stored,
        created: createdAt,
        workflowId: current.workflowId ?? '',
        supersedes: status.workflowId ?? '',
      });
    }
  }
  report(
    'back to back: apply → canary ReplicaSet created',
    runs.map((run) => run.created - run.stored),
    50,
  );

  // Where the time goes, by the server's clock: the bridge's start, the handoff, the first write.
  const bridge: number[] = [];
  const handoff: number[] = [];
  const firstWrite: number[] = [];
  const afterStandDown: number[] = [];
  const hops = new Map<string, number[]>();
  for (const run of runs) {
    const history = await client.workflow.getHandle(run.workflowId).fetchHistory();
    const started = recordedEvent(history, (event) => !!event.workflowExecutionStartedEventAttributes);
    const handedOver = completedActivity(history, 'waitForWorkflowToClose');
    const written = completedActivity(history, 'ensureReplicaSet');
    const before = await client.workflow.getHandle(run.supersedes).fetchHistory();
    const closed = recordedEvent(before, (event) => !!event.workflowExecutionCompletedEventAttributes);
    if (started === undefined || handedOver === undefined || written === undefined) continue;
    bridge.push(started - run.stored);
    handoff.push(handedOver - started);
    firstWrite.push(written - handedOver);
    if (closed !== undefined) afterStandDown.push(handedOver - closed);
    const handoffScheduled = eventIdOf(
      history,
      (event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'waitForWorkflowToClose',
    );
    const handoffDone = eventIdOf(
      history,
      (event) =>
        Number(event.activityTaskCompletedEventAttributes?.scheduledEventId ?? -1) === handoffScheduled,
    );
    splitFirstWrite(hops, 'back to back, after the handoff', history, handoffDone ?? 0);
  }
  report('  back to back: template stored → run started (bridge)', bridge, 50);
  report('  back to back: run started → predecessor handed over', handoff, 50);
  report('  back to back: handed over → canary ReplicaSet written', firstWrite, 50);
  report('  back to back: predecessor closed → handed over (negative: before it closed)', afterStandDown, 50);
  for (const [label, values] of hops) report(`  ${label}`, values, 50);
}

function hop(hops: Map<string, number[]>, label: string, milliseconds: number): void {
  hops.set(label, [...(hops.get(label) ?? []), milliseconds]);
}

/**
 * Where the time to the first ReplicaSet write goes after event `afterEventId` (the run's start, or
 * the handoff's completion): the workflow task's dispatch to the worker and its run, then the write's
 * dispatch (what eager activity execution would save) and its run.
 */
function splitFirstWrite(
  hops: Map<string, number[]>,
  label: string,
  history: Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>,
  afterEventId: number,
): void {
  const task = workflowTaskTimes(history, afterEventId);
  const write = activityTimes(history, 'ensureReplicaSet', afterEventId);
  if (!task || !write) return;
  hop(hops, `${label}: workflow task scheduled → started (dispatch)`, task.started - task.scheduled);
  hop(hops, `${label}: workflow task started → completed`, task.completed - task.started);
  hop(hops, `${label}: task completed → ReplicaSet write scheduled`, write.scheduled - task.completed);
  hop(hops, `${label}: ReplicaSet write scheduled → started (dispatch)`, write.started - write.scheduled);
  hop(hops, `${label}: ReplicaSet write started → completed`, write.completed - write.started);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
