import type { Client } from '@temporalio/client';
import type { RolloutStatus } from '../../schemas/rollout';
import type { TestScope } from './isolation';
import { observer } from './observe';
import { kubectlApply, rolloutManifest, servicesAndRoute } from './rollout-fixtures';
import { SiirtoProcess, siirtoBridge, siirtoWorker } from './siirto-processes';
import { temporalClient } from './temporal';
import { waitFor } from './wait';

/**
 * A test file's Siirto: its own worker and bridge on its own task queue and namespace, an app with
 * stable and canary Services and an HTTPRoute, and what a user sees of it.
 */
export function rolloutScenario(scope: TestScope, app: string) {
  const see = observer(scope.namespace);
  const scenario = {
    see,
    worker: undefined as unknown as SiirtoProcess,
    bridge: undefined as unknown as SiirtoProcess,
    client: undefined as unknown as Client,

    /** Applies the Rollout and waits until its first revision is stable. */
    async firstRevisionHealthy(steps: unknown[], extra: { replicas?: number } = {}): Promise<RolloutStatus> {
      await kubectlApply(rolloutManifest({ namespace: scope.namespace, app, steps, ...extra }));
      return scenario.waitForStatus(
        'r1 to become Healthy',
        (status) => status.phase === 'Healthy' && status.revision === 1,
      );
    },

    waitForStatus(description: string, accept: (status: RolloutStatus) => boolean, timeoutMs = 60_000) {
      return waitFor(
        description,
        async () => {
          const status = await see.rolloutStatus(app);
          return accept(status) && status;
        },
        { timeoutMs },
      );
    },
  };

  beforeAll(async () => {
    await kubectlApply(servicesAndRoute(scope.namespace, app));
    scenario.worker = siirtoWorker(scope);
    scenario.bridge = siirtoBridge(scope);
    await Promise.all([scenario.worker.start(), scenario.bridge.start()]);
    scenario.client = await temporalClient();
  });

  afterAll(async () => {
    await Promise.all([scenario.worker?.stop(), scenario.bridge?.stop()]);
    await scenario.client?.connection.close();
  });

  return scenario;
}
