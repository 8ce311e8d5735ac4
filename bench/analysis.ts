// `npm run bench:analysis`: how fast a failing analysis takes traffic off the canary, and what each
// measurement costs in history, on the local stack with a real worker, bridge and Prometheus.
// Prints figures; it is not a test and asserts nothing.
import * as k8s from '@kubernetes/client-node';
import {
  kubectlApply,
  patchRolloutSpec,
  rolloutManifest,
  servicesAndRoute,
} from '../test/harness/rollout-fixtures';
import { historyOf } from '../test/harness/temporal';
import { waitFor } from '../test/harness/wait';
import { BILLED_EVENTS, now, report, siirtoOnTheStack } from './bench-support';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const MEASUREMENTS = 20;

/** Templates that need no traffic: one always fails, one always passes. */
function templates(namespace: string): string {
  const template = (name: string, metric: Record<string, unknown>) =>
    JSON.stringify({
      apiVersion: 'siirto.dev/v1alpha1',
      kind: 'AnalysisTemplate',
      metadata: { name, namespace },
      spec: { metrics: [{ name, ...metric }] },
    });
  return [
    template('always-failing', {
      interval: '1s',
      failureCondition: 'result > 0',
      provider: { prometheus: { query: 'vector(1)' } },
    }),
    template('always-passing', {
      interval: '1s',
      count: MEASUREMENTS,
      successCondition: 'result < 1',
      provider: { prometheus: { query: 'vector(0)' } },
    }),
  ].join('\n---\n');
}

async function main(): Promise<void> {
  // The stack's environment names its Prometheus (SIIRTO_PROMETHEUS_URL); the worker inherits it.
  const { namespace, kubeConfig, see, close } = await siirtoOnTheStack();
  const app = 'bench';
  const revisionWith = async (steps: unknown[], image: string) => {
    const before = (await see.rolloutStatus(app)).revision ?? 0;
    await patchRolloutSpec(namespace, app, {
      template: { spec: { containers: [{ name: 'app', image }] } },
      strategy: { canary: { steps } },
    });
    return before + 1;
  };

  try {
    await kubectlApply(servicesAndRoute(namespace, app));
    await kubectlApply(templates(namespace));
    await kubectlApply(rolloutManifest({ namespace, app, replicas: 1, steps: [], scaleDownDelaySeconds: 0 }));
    await waitFor('r1 Healthy', async () => (await see.rolloutStatus(app)).phase === 'Healthy', {
      timeoutMs: 60_000,
    });

    // Every weight the canary gets, as the apiserver stores it, with when this process saw it.
    const canaryWeights: { weight: number; at: number }[] = [];
    const routeWatch = await new k8s.Watch(kubeConfig).watch(
      `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes`,
      {},
      (_type, route: { spec: { rules: { backendRefs: { name: string; weight: number }[] }[] } }) => {
        const canary = route.spec.rules[0]?.backendRefs.find((ref) => ref.name === `${app}-canary`);
        canaryWeights.push({ weight: canary?.weight ?? -1, at: now() });
      },
      () => undefined,
    );
    const failureToWeightZero: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const revision = await revisionWith(
        [{ setWeight: 50 }, { analysis: { templates: [{ templateName: 'always-failing' }] } }],
        `registry.example/${app}:failing-${run}`,
      );
      await waitFor(`r${revision} Degraded`, async () => {
        const status = await see.rolloutStatus(app);
        return status.revision === revision && status.phase === 'Degraded';
      });
      const child = `${namespace}/${app}/r${revision}/analysis/step-2/a1`;
      const childHistory = await historyOf(child);
      // The measurement, not the status write scheduled beside it.
      const measurement = childHistory.find(
        (event) =>
          event.eventType === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED' &&
          (event.activityTaskScheduledEventAttributes as { activityType: { name: string } }).activityType
            .name === 'measureMetric',
      );
      const measured = childHistory.find(
        (event) =>
          event.eventType === 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED' &&
          (event.activityTaskCompletedEventAttributes as { scheduledEventId: string }).scheduledEventId ===
            measurement?.eventId,
      );
      const measuredAt = Date.parse(String(measured?.eventTime));
      const backAtZero = canaryWeights.find((change) => change.weight === 0 && change.at >= measuredAt);
      failureToWeightZero.push((backAtZero?.at ?? Number.NaN) - measuredAt);
    }
    routeWatch.abort();
    report('first failing measurement → canary weight 0', failureToWeightZero, 200);

    const revision = await revisionWith(
      [{ setWeight: 50 }, { analysis: { templates: [{ templateName: 'always-passing' }] } }],
      `registry.example/${app}:passing`,
    );
    await waitFor(
      `r${revision} Healthy after ${MEASUREMENTS} measurements`,
      async () => {
        const status = await see.rolloutStatus(app);
        return status.revision === revision && status.phase === 'Healthy';
      },
      { timeoutMs: 120_000 },
    );
    const events = await historyOf(`${namespace}/${app}/r${revision}/analysis/step-2/a1`);
    const actions = events.filter((event) => BILLED_EVENTS.has(event.eventType)).length;
    console.log(
      `analysis of ${MEASUREMENTS} measurements: ${events.length} history events, ${actions} Temporal Actions; ` +
        `per measurement ${(events.length / MEASUREMENTS).toFixed(1)} events, ${(actions / MEASUREMENTS).toFixed(1)} Actions ` +
        '(an analysis continues as new past 2,000 events)',
    );
  } finally {
    await close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
