import type { Client } from '@temporalio/client';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { POD_TEMPLATE_HASH_LABEL } from '../../kubernetes/labels';
import type { RolloutStatus } from '../../schemas/rollout';
import { promoteUpdate } from '../../workflows/rollout-api';
import {
  activeService,
  blueGreenRolloutManifest,
  blueGreenServicesAndRoute,
  previewHost,
  previewService,
} from '../harness/blue-green-fixtures';
import { isolate } from '../harness/isolation';
import { kubeClients, lastWriteBy } from '../harness/kube';
import { observer } from '../harness/observe';
import { kubectlApply, patchRolloutSpec, routeHost, sampleContainer } from '../harness/rollout-fixtures';
import { watchServicePods, type ServicePodsWatch } from '../harness/service-pods-watch';
import { siirtoBridge, siirtoWorker, type SiirtoProcess } from '../harness/siirto-processes';
import { stack } from '../harness/stack';
import { recordHistoryFixture, temporalClient } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { startTraffic, type Traffic } from '../traffic/traffic';
import type { ResponseCounts } from '../../stack/load-generator';

/**
 * Thresholds on the new revision's own series, over a window short enough for a test; the delay lets
 * Prometheus find the new pods and scrape them twice (see test/analysis/canary-analysis.test.ts).
 */
const errorRateAnalysis = {
  builtIn: {
    errorRate: { max: 0.05 },
    window: '10s',
    interval: '2s',
    initialDelay: '12s',
    inconclusiveLimit: 3,
  },
};

/** Requests that did not get a 2xx from the app: gateway errors, app errors, no answer at all. */
function non2xx(before: ResponseCounts, after: ResponseCounts): number {
  const errors = (counts: ResponseCounts) =>
    counts.failed +
    Object.entries(counts.byStatus)
      .filter(([status]) => !status.startsWith('2'))
      .reduce((sum, [, count]) => sum + count, 0);
  return errors(after) - errors(before);
}

describe('blue-green: the new revision runs beside the active one, then takes all traffic at once', () => {
  const scope = isolate('blue-green');
  const { namespace } = scope;
  const see = observer(namespace);
  const { apps, core } = kubeClients();
  const figures: Record<string, unknown> = {};
  let worker: SiirtoProcess;
  let bridge: SiirtoProcess;
  let client: Client;
  const traffics: Traffic[] = [];
  const watches: ServicePodsWatch[] = [];

  beforeAll(async () => {
    worker = siirtoWorker(scope, 'worker', { SIIRTO_PROMETHEUS_URL: stack.prometheusUrl });
    bridge = siirtoBridge(scope, 'bridge');
    await Promise.all([worker.start(), bridge.start()]);
    client = await temporalClient();
  });

  afterAll(async () => {
    await Promise.all(traffics.map((traffic) => traffic.stop()));
    for (const watch of watches) watch.stop();
    await Promise.all([worker?.stop(), bridge?.stop()]);
    await client?.connection.close();
    const directory = path.join(stack.projectDir, 'test-artifacts');
    mkdirSync(directory, { recursive: true });
    writeFileSync(path.join(directory, 'blue-green-figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
  });

  const image = (app: string, version: number) => `registry.example/${app}:${version}`;

  function traffic(host: string): Traffic {
    const started = startTraffic({ host, ratePerSecond: 50 });
    traffics.push(started);
    return started;
  }

  async function watchActive(app: string): Promise<ServicePodsWatch> {
    const watch = await watchServicePods(namespace, activeService(app));
    watches.push(watch);
    return watch;
  }

  /**
   * With r1 active: its hash, a watch of the active Service and the pods, and a steady load through
   * the gateway, already answered, with what it had received before the test's change.
   */
  async function watchUnderLoad(app: string) {
    const r1 = await hashOf(app, 1);
    const active = await watchActive(app);
    const load = traffic(routeHost(namespace, app));
    await load.measureSplit(50);
    return { r1, active, load, before: load.responses() };
  }

  function waitForStatus(
    app: string,
    description: string,
    accept: (status: RolloutStatus) => boolean,
    timeoutMs = 60_000,
  ): Promise<RolloutStatus> {
    return waitFor(
      `${app}: ${description}`,
      async () => {
        const status = await see.rolloutStatus(app);
        return accept(status) && status;
      },
      { timeoutMs },
    );
  }

  /** Sets the app up with its Services and routes, applies the Rollout and waits for r1 to be active. */
  async function deploy(
    app: string,
    blueGreen: Record<string, unknown>,
    options: { replicas?: number; withoutRoute?: boolean } = {},
  ): Promise<RolloutStatus> {
    await kubectlApply(blueGreenServicesAndRoute(namespace, app, options.withoutRoute));
    await kubectlApply(
      blueGreenRolloutManifest({
        namespace,
        app,
        replicas: options.replicas,
        blueGreen,
        withoutRoute: options.withoutRoute,
      }),
    );
    return waitForStatus(app, 'r1 Healthy', (status) => status.phase === 'Healthy' && status.revision === 1);
  }

  async function rollOut(app: string, version: number, env: Record<string, number> = {}): Promise<void> {
    await patchRolloutSpec(namespace, app, {
      template: { spec: { containers: [sampleContainer(image(app, version), env)] } },
    });
  }

  async function promote(app: string): Promise<void> {
    const { workflowId } = await see.rolloutStatus(app);
    await client.workflow
      .getHandle(workflowId ?? '')
      .executeUpdate(promoteUpdate, { args: [{ by: 'blue-green test' }] });
  }

  /** Keeps the revision's history as a replay fixture (with SIIRTO_RECORD_HISTORIES=1), once it is closed if `closed`. */
  async function record(app: string, scenario: string, closed = false): Promise<void> {
    const { workflowId } = await see.rolloutStatus(app);
    const handle = client.workflow.getHandle(workflowId ?? '');
    if (closed) await handle.result();
    await recordHistoryFixture(scenario, handle);
  }

  async function hashOf(app: string, revision: number): Promise<string> {
    const status = await waitForStatus(
      app,
      `r${revision} to have a template hash`,
      (candidate) => candidate.revision === revision && candidate.currentTemplateHash !== undefined,
    );
    return status.currentTemplateHash ?? '';
  }

  async function podsOf(hash: string) {
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: `${POD_TEMPLATE_HASH_LABEL}=${hash}`,
    });
    return pods.items.filter((pod) => !pod.metadata?.deletionTimestamp);
  }

  async function selectorOf(service: string): Promise<string | undefined> {
    return (await see.serviceSelector(service))[POD_TEMPLATE_HASH_LABEL];
  }

  it(
    'previews the new revision, waits for a promote, switches with no failed request, and scales the old one ' +
      'down after scaleDownDelaySeconds',
    async () => {
      const app = 'cart';
      const delaySeconds = 5;
      await deploy(app, {
        autoPromotionEnabled: false,
        previewReplicaCount: 1,
        scaleDownDelaySeconds: delaySeconds,
        previewMetadata: { labels: { role: 'preview' } },
        activeMetadata: { labels: { role: 'active' }, annotations: { 'shop.example/serving': 'live' } },
      });
      const { r1, active, load, before } = await watchUnderLoad(app);

      await rollOut(app, 2);
      const r2 = await hashOf(app, 2);
      const paused = await waitForStatus(app, 'r2 paused as preview', (status) => {
        return status.revision === 2 && status.phase === 'Paused';
      });
      // The preview Service is on the new pods, at previewReplicaCount; the active one has not moved.
      expect(paused.blueGreen).toEqual({ activeSelector: r1, previewSelector: r2 });
      expect(await selectorOf(previewService(app))).toBe(r2);
      expect(await selectorOf(activeService(app))).toBe(r1);
      expect(await see.replicasOf(app, r2)).toBe(1);
      expect(await see.readyPods(r2)).toBe(1);
      expect(await see.routeWeights(app)).toEqual({ [activeService(app)]: 100, [previewService(app)]: 0 });
      for (const pod of await podsOf(r2)) {
        expect(pod.metadata?.labels?.role).toBe('preview');
        expect(pod.metadata?.annotations?.['shop.example/serving']).toBeUndefined();
      }
      for (const pod of await podsOf(r1)) {
        expect(pod.metadata?.labels?.role).toBe('active');
        expect(pod.metadata?.annotations?.['shop.example/serving']).toBe('live');
      }
      // Through the gateway: the preview hostname reaches the new revision, the app's the old one.
      const preview = traffic(previewHost(namespace, app));
      expect((await preview.measureSplit(50)).shares).toEqual({ '2': 1 });
      await preview.stop();
      expect((await load.measureSplit(100)).shares).toEqual({ '1': 1 });

      // autoPromotionEnabled false: it waits, however long, until promoted.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(await see.rolloutStatus(app)).toMatchObject({ revision: 2, phase: 'Paused' });
      expect(await selectorOf(activeService(app))).toBe(r1);

      const promotedAt = Date.now();
      await promote(app);
      const healthy = await waitForStatus(app, 'r2 Healthy', (status) => {
        return status.revision === 2 && status.phase === 'Healthy';
      });
      expect(healthy.blueGreen?.activeSelector).toBe(r2);
      const flip = active.selections.find((selection) => selection.hash === r2);
      expect(flip).toBeDefined();
      figures.promoteToActiveFlipMs = (flip?.at ?? 0) - promotedAt;
      // Full size before it became active, and labelled as active now.
      expect(await see.readyPods(r2)).toBe(3);
      for (const pod of await podsOf(r2)) {
        expect(pod.metadata?.labels?.role).toBe('active');
        expect(pod.metadata?.annotations?.['shop.example/serving']).toBe('live');
      }
      expect(await see.routeWeights(app)).toEqual({ [activeService(app)]: 100, [previewService(app)]: 0 });
      await waitFor('all traffic on r2', async () => {
        const split = await load.measureSplit(50);
        return split.shares['2'] === 1 && split;
      });

      // The old revision keeps its pods for scaleDownDelaySeconds after the switch, as the apiserver
      // timed both writes.
      await waitFor('the old revision scaled to 0', async () => (await see.replicasOf(app, r1)) === 0, {
        timeoutMs: (delaySeconds + 20) * 1000,
      });
      const [service, oldReplicaSet] = await Promise.all([
        core.readNamespacedService({ namespace, name: activeService(app) }),
        apps.readNamespacedReplicaSet({ namespace, name: `${app}-${r1}` }),
      ]);
      const keptMs =
        lastWriteBy(oldReplicaSet.metadata?.managedFields, 'siirto') -
        lastWriteBy(service.metadata?.managedFields, 'siirto');
      figures.scaleDownAfterSwitchSeconds = keptMs / 1000;
      figures.scaleDownDelaySeconds = delaySeconds;
      expect(keptMs).toBeGreaterThanOrEqual(delaySeconds * 1000);
      expect(keptMs).toBeLessThanOrEqual((delaySeconds + 3) * 1000);

      const after = load.responses();
      figures.flipWithRoute = {
        requests: after.answered + after.failed - before.answered - before.failed,
        non2xx: non2xx(before, after),
      };
      expect(non2xx(before, after)).toBe(0);
      expect(active.unreadySelections).toEqual([]);
      await record(app, 'blue-green-promoted', true);
    },
    180_000,
  );

  it('switches with the active Service selector alone when there is no route, with no failed request', async () => {
    const app = 'plain';
    await deploy(app, {}, { withoutRoute: true, replicas: 2 });
    const r1 = await hashOf(app, 1);
    const active = await watchActive(app);
    const preview = await watchServicePods(namespace, previewService(app));
    watches.push(preview);
    const load = traffic(routeHost(namespace, app));
    await load.measureSplit(50);
    const before = load.responses();

    await rollOut(app, 2);
    const r2 = await hashOf(app, 2);
    await waitForStatus(app, 'r2 Healthy', (status) => status.revision === 2 && status.phase === 'Healthy');
    // The preview Service was on the new pods before the active one moved to them.
    const previewed = preview.selections.find((selection) => selection.hash === r2);
    const switched = active.selections.find((selection) => selection.hash === r2);
    expect(previewed).toBeDefined();
    expect(switched).toBeDefined();
    expect(previewed!.at).toBeLessThanOrEqual(switched!.at);
    expect(active.selections.map((selection) => selection.hash)).toEqual([r1, r2]);
    await waitFor('all traffic on r2', async () => {
      const split = await load.measureSplit(50);
      return split.shares['2'] === 1 && split;
    });
    await waitFor('the old revision scaled to 0', async () => (await see.replicasOf(app, r1)) === 0);
    const after = load.responses();
    figures.flipWithoutRoute = {
      requests: after.answered + after.failed - before.answered - before.failed,
      non2xx: non2xx(before, after),
    };
    expect(non2xx(before, after)).toBe(0);
    expect(active.unreadySelections).toEqual([]);
  });

  it('aborts on a failed pre-promotion analysis, the active Service and the route untouched', async () => {
    const app = 'pre';
    await deploy(app, { prePromotionAnalysis: errorRateAnalysis, abortScaleDownDelaySeconds: 2 });
    const { r1, active, load, before } = await watchUnderLoad(app);

    // The new revision answers every request with a 500; people trying the preview see it.
    await rollOut(app, 2, { SAMPLE_APP_ERROR_RATE: 1 });
    const r2 = await hashOf(app, 2);
    await waitFor('the preview Service on r2', async () => (await selectorOf(previewService(app))) === r2);
    traffic(previewHost(namespace, app));

    const degraded = await waitForStatus(
      app,
      'r2 Degraded by its pre-promotion analysis',
      (status) => status.revision === 2 && status.phase === 'Degraded',
      90_000,
    );
    expect(degraded.message).toMatch(/analysis failed/);
    expect(degraded.analysis?.prePromotion).toMatchObject({ phase: 'Failed' });
    expect(degraded.blueGreen?.activeSelector).toBe(r1);
    expect(active.selections.map((selection) => selection.hash)).toEqual([r1]);
    expect(await see.routeWeights(app)).toEqual({ [activeService(app)]: 100, [previewService(app)]: 0 });
    // The new pods go after abortScaleDownDelaySeconds.
    await waitFor('r2 scaled to 0', async () => (await see.replicasOf(app, r2)) === 0, { timeoutMs: 20_000 });
    const after = load.responses();
    expect(non2xx(before, after)).toBe(0);
    expect((await load.measureSplit(50)).shares).toEqual({ '1': 1 });
    const events = await see.rolloutEvents(app);
    expect(events).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'Warning', reason: 'AnalysisFailed' })]),
    );
    await record(app, 'blue-green-pre-promotion-analysis-failed');
  });

  it('switches the active Service back to the previous revision when the post-promotion analysis fails', async () => {
    const app = 'post';
    await deploy(app, { postPromotionAnalysis: errorRateAnalysis, scaleDownDelaySeconds: 2 });
    const { r1, active, load } = await watchUnderLoad(app);

    await rollOut(app, 2, { SAMPLE_APP_ERROR_RATE: 1 });
    const r2 = await hashOf(app, 2);
    // Promoted on its own (autoPromotionEnabled), then judged on the traffic it now serves.
    await waitFor('the active Service on r2', async () => (await selectorOf(activeService(app))) === r2);
    const degraded = await waitForStatus(
      app,
      'r2 Degraded by its post-promotion analysis',
      (status) => status.revision === 2 && status.phase === 'Degraded',
      90_000,
    );
    expect(degraded.message).toMatch(/analysis failed/);
    expect(degraded.analysis?.postPromotion).toMatchObject({ phase: 'Failed' });
    expect(degraded.blueGreen?.activeSelector).toBe(r1);
    expect(await selectorOf(activeService(app))).toBe(r1);
    expect(active.selections.map((selection) => selection.hash)).toEqual([r1, r2, r1]);
    expect(await see.routeWeights(app)).toEqual({ [activeService(app)]: 100, [previewService(app)]: 0 });
    // The previous revision kept its pods through the analysis, and serves every request again.
    const back = await waitFor('all traffic back on r1', async () => {
      const split = await load.measureSplit(50);
      return split.shares['1'] === 1 && split;
    });
    expect(back.failures).toBe(0);
    expect(active.unreadySelections).toEqual([]);
    await record(app, 'blue-green-post-promotion-analysis-switched-back');
  });

  it('switches straight back to the previous template while its pods are still there (fast-track rollback)', async () => {
    const app = 'undo';
    await deploy(app, { autoPromotionEnabled: false, scaleDownDelaySeconds: 60 }, { replicas: 2 });
    const { r1, active, load, before } = await watchUnderLoad(app);

    await rollOut(app, 2);
    await waitForStatus(
      app,
      'r2 paused as preview',
      (status) => status.revision === 2 && status.phase === 'Paused',
    );
    await promote(app);
    await waitForStatus(app, 'r2 Healthy', (status) => status.revision === 2 && status.phase === 'Healthy');
    expect(await see.replicasOf(app, r1)).toBe(2);

    // The previous template again, within its scaleDownDelaySeconds: no preview, no pause, no analysis.
    const phases = new Set<string>();
    const appliedAt = Date.now();
    await rollOut(app, 1);
    const r3 = await waitForStatus(
      app,
      'r3 Healthy on the previous pods',
      (status) => {
        if (status.revision === 3 && status.phase) phases.add(status.phase);
        return status.revision === 3 && status.phase === 'Healthy';
      },
      20_000,
    );
    const back = active.selections.filter((selection) => selection.hash === r1).at(-1);
    figures.fastTrackApplyToActiveMs = (back?.at ?? 0) - appliedAt;
    expect(r3.currentTemplateHash).toBe(r1);
    expect(r3.blueGreen?.activeSelector).toBe(r1);
    expect(phases.has('Paused')).toBe(false);
    expect(await selectorOf(activeService(app))).toBe(r1);
    // Its pods were never scaled down and back up: the same two pods serve again.
    expect(await see.replicasOf(app, r1)).toBe(2);
    await waitFor('all traffic back on r1', async () => {
      const split = await load.measureSplit(50);
      return split.shares['1'] === 1 && split;
    });
    expect(non2xx(before, load.responses())).toBe(0);
    expect(active.unreadySelections).toEqual([]);
    await record(app, 'blue-green-fast-track-rollback');
  });
});
