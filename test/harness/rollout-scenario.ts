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
export function rolloutScenario(
  scope: TestScope,
  app: string,
  options: {
    /** Extra worker environment, read when the worker starts (after other beforeAll hooks ran). */
    workerEnvironment?: () => NodeJS.ProcessEnv;
    /** Extra fields for the canary strategy of every Rollout applied through the scenario. */
    canary?: Record<string, unknown>;
    /** Extra bridge environment, such as SIIRTO_LOG_LEVEL=debug to count its reconciles. */
    bridgeEnvironment?: NodeJS.ProcessEnv;
  } = {},
) {
  const see = observer(scope.namespace);
  const scenario = {
    see,
    worker: undefined as unknown as SiirtoProcess,
    bridge: undefined as unknown as SiirtoProcess,
    client: undefined as unknown as Client,

    /** Applies the Rollout and waits until its first revision is stable. */
    async firstRevisionHealthy(
      steps: unknown[],
      extra: { replicas?: number; progressDeadlineSeconds?: number } = {},
    ): Promise<RolloutStatus> {
      await kubectlApply(
        rolloutManifest({ namespace: scope.namespace, app, steps, canary: options.canary, ...extra }),
      );
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
    scenario.worker = siirtoWorker(scope, 'worker', options.workerEnvironment?.());
    scenario.bridge = siirtoBridge(scope, 'bridge', options.bridgeEnvironment);
    await Promise.all([scenario.worker.start(), scenario.bridge.start()]);
    scenario.client = await temporalClient();
  });

  afterAll(async () => {
    await Promise.all([scenario.worker?.stop(), scenario.bridge?.stop()]);
    await scenario.client?.connection.close();
  });

  return scenario;
}
