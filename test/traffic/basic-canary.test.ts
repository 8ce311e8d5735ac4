import * as k8s from '@kubernetes/client-node';
import type { Client } from '@temporalio/client';
import { RETRY_ANNOTATION } from '../../kubernetes/labels';
import type { RolloutStatus } from '../../schemas/rollout';
import { abortUpdate, promoteUpdate } from '../../workflows/rollout-api';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { observer } from '../harness/observe';
import {
  appService,
  argoGettingStartedRollout,
  kubectlApply,
  routeHost,
  setImage,
} from '../harness/rollout-fixtures';
import { siirtoBridge, siirtoWorker, type SiirtoProcess } from '../harness/siirto-processes';
import { recordHistoryFixture, temporalClient } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { splitSettledAt, startTraffic, type Traffic } from './traffic';

const app = 'rollouts-demo';
/** Traefik's round robin over equal endpoints gives each pod its turn; the edges of a window blur it. */
const SHARE_TOLERANCE = 0.04;
const WINDOW = 250;

/** The user's own Service and HTTPRoute: the Service, selecting both revisions' pods, its one backend. */
function usersServiceAndRoute(namespace: string): string {
  return `${appService(namespace, app)}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${app}, namespace: ${namespace} }
spec:
  parentRefs: [{ name: local, namespace: siirto-gateway }]
  hostnames: [${routeHost(namespace, app)}]
  rules:
    - backendRefs: [{ name: ${app}, port: 80 }]
`;
}

describe('a canary without a traffic router, as Argo Rollouts getting-started Rollout writes it', () => {
  const scope = isolate('basic-canary');
  const { namespace } = scope;
  const see = observer(namespace);
  const figures: Record<string, unknown> = {};
  let worker: SiirtoProcess;
  let bridge: SiirtoProcess;
  let client: Client;
  let traffic: Traffic;

  const waitForStatus = (description: string, accept: (status: RolloutStatus) => boolean) =>
    waitFor(
      description,
      async () => {
        const status = await see.rolloutStatus(app);
        return accept(status) && status;
      },
      { timeoutMs: 90_000 },
    );

  /** Ready pods of the stable and canary ReplicaSets, once they are as expected. */
  async function podsSettleAt(
    stableHash: string,
    canaryHash: string,
    expected: { stable: number; canary: number },
  ) {
    return waitFor(`stable ${expected.stable} / canary ${expected.canary} pods Ready`, async () => {
      const sets = await see.replicaSets(app);
      const ready = (hash: string) => sets.find((set) => set.hash === hash)?.readyReplicas ?? 0;
      const actual = { stable: ready(stableHash), canary: ready(canaryHash) };
      return actual.stable === expected.stable && actual.canary === expected.canary && actual;
    });
  }

  async function splitAt(expected: Record<string, number>, label: string) {
    const split = await splitSettledAt(traffic, expected, { tolerance: SHARE_TOLERANCE, window: WINDOW });
    figures[label] = split.shares;
    return split;
  }

  async function routeBackends() {
    return (await see.routeRules(app)).map((rule) => rule.backendRefs);
  }

  beforeAll(async () => {
    await kubectlApply(usersServiceAndRoute(namespace));
    worker = siirtoWorker(scope, 'worker');
    bridge = siirtoBridge(scope, 'bridge');
    await Promise.all([worker.start(), bridge.start()]);
    client = await temporalClient();
  });

  afterAll(async () => {
    await traffic?.stop();
    console.log(`basic canary figures: ${JSON.stringify(figures)}`);
    await Promise.all([worker?.stop(), bridge?.stop()]);
    await client?.connection.close();
  });

  it('sizes pods for each weight, serves that share through the users Service, aborts to a full stable and promotes to Healthy', async () => {
    // Durations as strings; a 1 s scale-down delay after promotion so the test need not wait Argo's 30 s
    // default. The abort's delay is left at its 30 s default: without a router it must not apply.
    await kubectlApply(
      JSON.stringify(argoGettingStartedRollout(namespace, app, { scaleDownDelaySeconds: 1 })),
    );
    const first = await waitForStatus(
      'r1 to become Healthy',
      (s) => s.phase === 'Healthy' && s.revision === 1,
    );
    const stableHash = first.stableTemplateHash ?? '';
    await podsSettleAt(stableHash, 'none', { stable: 5, canary: 0 });
    traffic = startTraffic({ host: routeHost(namespace, app), ratePerSecond: 50 });
    await splitAt({ '1': 1 }, 'r1');

    await setImage(namespace, app, `registry.example/${app}:2`);
    const paused = await waitForStatus(
      'r2 to pause after setWeight 20',
      (s) => s.revision === 2 && s.phase === 'Paused' && s.currentStepIndex === 1,
    );
    const canaryHash = paused.currentTemplateHash ?? '';
    const handle = client.workflow.getHandle(paused.workflowId ?? '');
    // 20% of 5 pods: 1 canary pod, and the stable scaled down to keep 5 in all.
    figures.pods20 = await podsSettleAt(stableHash, canaryHash, { stable: 4, canary: 1 });
    expect(paused.weights).toEqual({ stable: 80, canary: 20 });
    await splitAt({ '1': 0.8, '2': 0.2 }, 'at20');

    // Abort: the stable back to full size first, then the canary's pods go at once: they are endpoints
    // of the user's Service for as long as they run, so no abortScaleDownDelaySeconds keeps them.
    await handle.executeUpdate(abortUpdate, {
      args: [{ reason: 'checking the way back', by: 'basic canary test' }],
    });
    const degraded = await waitForStatus(
      'r2 to become Degraded',
      (s) => s.revision === 2 && s.phase === 'Degraded',
    );
    expect(degraded.weights).toEqual({ stable: 100, canary: 0 });
    expect(await see.replicasOf(app, canaryHash)).toBe(0);
    figures.podsAborted = await podsSettleAt(stableHash, canaryHash, { stable: 5, canary: 0 });
    await splitAt({ '1': 1 }, 'aborted');

    await runOrThrow('kubectl', [
      'annotate',
      'rollouts.siirto.dev',
      app,
      '-n',
      namespace,
      `${RETRY_ANNOTATION}=true`,
    ]);
    await waitForStatus('r2 to pause again at 20%', (s) => s.revision === 2 && s.phase === 'Paused');
    await podsSettleAt(stableHash, canaryHash, { stable: 4, canary: 1 });
    await handle.executeUpdate(promoteUpdate, { args: [{ by: 'basic canary test' }] });

    // 40% of 5 pods: 2 canary, 3 stable, during the timed pause after it.
    const at40 = await waitForStatus('r2 to pause after setWeight 40', (s) => s.currentStepIndex === 3);
    expect(at40.weights).toEqual({ stable: 60, canary: 40 });
    figures.pods40 = await podsSettleAt(stableHash, canaryHash, { stable: 3, canary: 2 });
    const at80 = await waitForStatus('r2 to pause after setWeight 80', (s) => s.currentStepIndex === 7);
    expect(at80.weights).toEqual({ stable: 20, canary: 80 });

    const healthy = await waitForStatus(
      'r2 to become Healthy',
      (s) => s.revision === 2 && s.phase === 'Healthy',
    );
    expect(healthy.stableTemplateHash).toBe(canaryHash);
    figures.podsHealthy = await podsSettleAt(stableHash, canaryHash, { stable: 0, canary: 5 });
    await splitAt({ '2': 1 }, 'healthy');
    figures.responses = traffic.responses();

    // The route is the user's: Siirto never touched it.
    expect(await routeBackends()).toEqual([[expect.objectContaining({ name: app, port: 80 })]]);
    await handle.result();
    await recordHistoryFixture('canary-without-router', handle);
  });
  it('rolls the pods within maxSurge and maxUnavailable when no step sets a weight, as a Deployment would', async () => {
    const rolling = 'rolling-demo';
    const manifest = argoGettingStartedRollout(namespace, rolling, {
      maxSurge: 1,
      maxUnavailable: 0,
      scaleDownDelaySeconds: 1,
      steps: [{ pause: { duration: '1s' } }],
    }) as { spec: { replicas: number } };
    manifest.spec.replicas = 3;
    await kubectlApply(JSON.stringify(manifest));
    const rollingStatus = (accept: (status: RolloutStatus) => boolean) =>
      waitFor('the rolling Rollout', async () => {
        const status = await see.rolloutStatus(rolling);
        return accept(status) && status;
      });
    const first = await rollingStatus((s) => s.revision === 1 && s.phase === 'Healthy');
    await waitFor('3 pods Ready', async () => (await see.readyPods(first.stableTemplateHash ?? '')) === 3);

    // Every ReplicaSet's asked and Ready pods, as they change.
    const sizes = new Map<string, { asked: number; ready: number }>();
    const totals: { asked: number; ready: number }[] = [];
    const watch = await new k8s.Watch(kubeClients().config).watch(
      `/apis/apps/v1/namespaces/${namespace}/replicasets`,
      { labelSelector: `app=${rolling}` },
      (_type: string, set: k8s.V1ReplicaSet) => {
        sizes.set(set.metadata?.name ?? '', {
          asked: set.spec?.replicas ?? 0,
          ready: set.status?.readyReplicas ?? 0,
        });
        const all = [...sizes.values()];
        totals.push({
          asked: all.reduce((sum, size) => sum + size.asked, 0),
          ready: all.reduce((sum, size) => sum + size.ready, 0),
        });
      },
      () => undefined,
    );
    try {
      await setImage(namespace, rolling, `registry.example/${rolling}:2`);
      const healthy = await rollingStatus((s) => s.revision === 2 && s.phase === 'Healthy');
      await waitFor(
        '3 new pods Ready',
        async () => (await see.readyPods(healthy.stableTemplateHash ?? '')) === 3,
      );
    } finally {
      watch.abort();
    }
    figures.rollingTotals = totals;
    // Never more than 3 + maxSurge pods asked for, never fewer than 3 - maxUnavailable Ready.
    expect(Math.max(...totals.map((total) => total.asked))).toBe(4);
    expect(Math.min(...totals.slice(1).map((total) => total.ready))).toBeGreaterThanOrEqual(3);
  });
});
