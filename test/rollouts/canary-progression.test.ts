import type { Client } from '@temporalio/client';
import { POD_TEMPLATE_HASH_LABEL, PROMOTE_ANNOTATION } from '../../kubernetes/labels';
import { promoteSignal, statusQuery } from '../../workflows/rollout-api';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { observer } from '../harness/observe';
import {
  annotateRollout,
  kubectlApply,
  patchRolloutSpec,
  rolloutManifest,
  setImage,
} from '../harness/rollout-fixtures';
import { SiirtoProcess, siirtoBridge, siirtoWorker } from '../harness/siirto-processes';
import { itWithTctl, stack } from '../harness/stack';
import {
  activitySummaries,
  eventSummary,
  historyOf,
  recordHistoryFixture,
  temporalClient,
  timerSummaries,
} from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'checkout';
const steps = [
  { setWeight: 20 },
  { pause: { duration: '5s' } },
  { setWeight: 50 },
  { pause: {} },
  { setWeight: 100 },
];

describe('a canary Rollout applied with kubectl', () => {
  const scope = isolate('canary');
  const { namespace } = scope;
  const see = observer(namespace);
  const { custom } = kubeClients();
  let worker: SiirtoProcess;
  let bridge: SiirtoProcess;
  let client: Client;

  // Extra rules, matches, filters and a third backend that Siirto must leave exactly as they are.
  const services = ['stable', 'canary', 'debug'].map(
    (role) => `
apiVersion: v1
kind: Service
metadata: { name: ${app}-${role}, namespace: ${namespace} }
spec: { selector: { app: ${app} }, ports: [{ port: 80, targetPort: 8080 }] }`,
  );
  const route = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${app}, namespace: ${namespace}, labels: { team: payments } }
spec:
  hostnames: [checkout.example]
  rules:
    - matches: [{ headers: [{ name: x-debug, value: "1" }] }]
      filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { add: [{ name: x-via, value: debug }] } }]
      backendRefs: [{ name: ${app}-debug, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /api } }]
      filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: cache-control, value: no-store }] } }]
      backendRefs:
        - { name: ${app}-stable, port: 80, weight: 100 }
        - { name: ${app}-canary, port: 80, weight: 0 }
`;

  async function routeWithoutWeights(): Promise<unknown> {
    const current = (await custom.getNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace,
      plural: 'httproutes',
      name: app,
    })) as { metadata: { labels?: unknown }; spec: { rules: { backendRefs?: { weight?: number }[] }[] } };
    const rules = current.spec.rules.map((rule) => ({
      ...rule,
      backendRefs: rule.backendRefs?.map(({ weight: _weight, ...ref }) => ref),
    }));
    return { labels: current.metadata.labels, spec: { ...current.spec, rules } };
  }

  let routeBefore: unknown;

  beforeAll(async () => {
    await kubectlApply([...services, route].join('\n---\n'));
    routeBefore = await routeWithoutWeights();
    worker = siirtoWorker(scope);
    bridge = siirtoBridge(scope);
    await Promise.all([worker.start(), bridge.start()]);
    client = await temporalClient();
  });

  afterAll(async () => {
    await Promise.all([worker?.stop(), bridge?.stop()]);
    await client?.connection.close();
  });

  it('sends the first revision straight to 100% on its own Ready pods', async () => {
    await kubectlApply(rolloutManifest({ namespace, app, steps, image: `registry.example/${app}:1` }));
    const status = await waitFor('r1 to become Healthy', async () => {
      const current = await see.rolloutStatus(app);
      return current.phase === 'Healthy' && current.revision === 1 && current;
    });
    expect(status.stableTemplateHash).toBe(status.currentTemplateHash);
    expect(await see.routeWeights(app)).toMatchObject({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    expect(await see.readyPods(status.stableTemplateHash!)).toBe(3);
    expect(await see.serviceSelector(`${app}-stable`)).toEqual({
      app,
      [POD_TEMPLATE_HASH_LABEL]: status.stableTemplateHash,
    });
    const handle = client.workflow.getHandle(status.workflowId!);
    expect(await handle.result()).toMatchObject({ phase: 'Healthy', currentStepIndex: steps.length });
    await recordHistoryFixture('first-revision-straight-to-stable', handle);
  });

  /** Rolls a new image through every step, promoting the indefinite pause with `promote`. */
  async function rollThroughSteps(
    image: string,
    scenario: string,
    promote: (workflowId: string) => Promise<void>,
  ) {
    const before = await see.rolloutStatus(app);
    const revision = (before.revision ?? 0) + 1;
    const oldStable = before.stableTemplateHash!;
    await setImage(namespace, app, image);

    const timedPause = await waitFor(`r${revision} to pause 5s after 20%`, async () => {
      const current = await see.rolloutStatus(app);
      return (
        current.revision === revision &&
        current.phase === 'Paused' &&
        current.currentStepIndex === 1 &&
        current
      );
    });
    const canaryHash = timedPause.currentTemplateHash!;
    expect(timedPause.weights).toEqual({ stable: 80, canary: 20 });
    expect(await see.routeWeights(app)).toMatchObject({ [`${app}-stable`]: 80, [`${app}-canary`]: 20 });
    expect(await see.readyPods(canaryHash)).toBe(1);
    expect(await see.readyPods(oldStable)).toBe(3);
    expect(await see.serviceSelector(`${app}-canary`)).toMatchObject({
      [POD_TEMPLATE_HASH_LABEL]: canaryHash,
    });

    const waiting = await waitFor(`r${revision} to wait for promotion at 50%`, async () => {
      const current = await see.rolloutStatus(app);
      return (
        current.revision === revision &&
        current.phase === 'Paused' &&
        current.currentStepIndex === 3 &&
        current
      );
    });
    expect(waiting.weights).toEqual({ stable: 50, canary: 50 });
    expect(await see.routeWeights(app)).toMatchObject({ [`${app}-stable`]: 50, [`${app}-canary`]: 50 });
    expect(await see.readyPods(canaryHash)).toBe(2);
    const handle = client.workflow.getHandle(waiting.workflowId!);
    expect(await handle.query(statusQuery)).toMatchObject({
      phase: 'Paused',
      paused: true,
      currentStepIndex: 3,
    });

    await promote(handle.workflowId);

    const healthy = await waitFor(`r${revision} to become Healthy`, async () => {
      const current = await see.rolloutStatus(app);
      return current.revision === revision && current.phase === 'Healthy' && current;
    });
    expect(healthy.stableTemplateHash).toBe(canaryHash);
    expect(await see.routeWeights(app)).toMatchObject({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    expect(await see.serviceSelector(`${app}-stable`)).toMatchObject({
      [POD_TEMPLATE_HASH_LABEL]: canaryHash,
    });
    expect(await see.readyPods(canaryHash)).toBe(3);
    await waitFor('the old stable ReplicaSet to scale to 0', async () => {
      const old = (await see.replicaSets(app)).find((replicaSet) => replicaSet.hash === oldStable);
      return old === undefined || old.replicas === 0;
    });
    expect(await routeWithoutWeights()).toEqual(routeBefore);

    await handle.result();
    expect(await activitySummaries(handle.workflowId)).toEqual(
      expect.arrayContaining([
        'scale canary to 1 pods',
        'set weight 20%',
        'set weight 50%',
        'set weight 100% on new stable',
      ]),
    );
    expect(await timerSummaries(handle.workflowId)).toContain('pause 5s');
    await recordHistoryFixture(scenario, handle);
  }

  it('steps through 20% → pause 5s → 50% → pause → 100%, promoted with `temporal workflow signal`', async () => {
    await rollThroughSteps(
      `registry.example/${app}:2`,
      'canary-promoted-by-temporal-cli',
      async (workflowId) => {
        await runOrThrow('temporal', [
          'workflow',
          'signal',
          '--workflow-id',
          workflowId,
          '--name',
          'promote',
        ]);
      },
    );
  });

  itWithTctl('is promoted with legacy `tctl workflow signal`', async () => {
    await rollThroughSteps(`registry.example/${app}:3`, 'canary-promoted-by-tctl', async (workflowId) => {
      await runOrThrow('tctl', [
        '--address',
        stack.temporalAddress,
        '--namespace',
        'default',
        'workflow',
        'signal',
        '-w',
        workflowId,
        '-n',
        'promote',
        '-i',
        '{"full":false}',
      ]);
    });
  });

  it('is promoted with the siirto.dev/promote annotation, which the bridge removes once delivered', async () => {
    await rollThroughSteps(`registry.example/${app}:4`, 'canary-promoted-by-annotation', async () => {
      await annotateRollout(namespace, app, `${PROMOTE_ANNOTATION}=true`);
    });
    const annotations = await waitFor('the promote annotation to be removed', async () => {
      const current = (await custom.getNamespacedCustomObject({
        group: 'siirto.dev',
        version: 'v1alpha1',
        namespace,
        plural: 'rollouts',
        name: app,
      })) as { metadata: { annotations?: Record<string, string> } };
      const found = current.metadata.annotations ?? {};
      return !(PROMOTE_ANNOTATION in found) && found;
    });
    expect(annotations).not.toHaveProperty(PROMOTE_ANNOTATION);
  });

  it("writes a new revision's canary ReplicaSet first, and a promote's route before its status", async () => {
    // 20% and 30% of 3 replicas are one canary pod each: the promote to 30% needs no new pods.
    await patchRolloutSpec(namespace, app, {
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 30 }, { pause: {} }] } },
    });
    await setImage(namespace, app, `registry.example/${app}:5`);
    const paused = await waitFor('r5 to pause at 20%', async () => {
      const current = await see.rolloutStatus(app);
      return (
        current.revision === 5 && current.phase === 'Paused' && current.currentStepIndex === 1 && current
      );
    });
    const handle = client.workflow.getHandle(paused.workflowId!);
    await handle.signal(promoteSignal, {});
    const at30 = await waitFor('r5 to pause at 30%', async () => {
      const current = await see.rolloutStatus(app);
      return (
        current.revision === 5 && current.phase === 'Paused' && current.currentStepIndex === 3 && current
      );
    });
    expect(at30.weights).toEqual({ stable: 70, canary: 30 });
    expect(await see.routeWeights(app)).toMatchObject({ [`${app}-stable`]: 70, [`${app}-canary`]: 30 });
    expect(await see.readyPods(paused.currentTemplateHash!)).toBe(1);

    const events = await historyOf(handle.workflowId);
    const scheduled = (from: number) =>
      events
        .slice(from)
        .filter((event) => event.eventType === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED')
        .map(eventSummary);
    // The run's first command to the cluster is the canary's ReplicaSet; its status follows it.
    expect(scheduled(0)[0]).toBe('scale canary to 1 pods');
    // The promote's first activity moves the weights; the status that says so comes after it.
    const promoted = events.findIndex(
      (event) => event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED',
    );
    const afterPromote = scheduled(promoted);
    expect(afterPromote[0]).toBe('set weight 30%');
    expect(afterPromote).toContain('status Progressing: step 3/4: 30%');

    await handle.signal(promoteSignal, { full: true });
    await waitFor('r5 to become Healthy', async () => {
      const current = await see.rolloutStatus(app);
      return current.revision === 5 && current.phase === 'Healthy';
    });
    await handle.result();
    await recordHistoryFixture('canary-promoted-route-first', handle);
  });
});
