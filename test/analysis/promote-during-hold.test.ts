import { promoteUpdate } from '../../workflows/rollout-api';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { privatePrometheus } from '../harness/private-prometheus';
import { analysisTemplateManifest, kubectlApply, setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';

const app = 'pricing';
const replicas = 4;

describe('a promote while an analysis holds the rollout', () => {
  const scope = isolate('hold-promote');
  const { namespace } = scope;
  const { core } = kubeClients();
  let prometheus: Awaited<ReturnType<typeof privatePrometheus>>;

  beforeAll(async () => {
    prometheus = await privatePrometheus();
    await prometheus.start();
  });
  const scenario = rolloutScenario(scope, app, {
    workerEnvironment: () => ({ SIIRTO_PROMETHEUS_URL: prometheus.url }),
    canary: { analysis: { templates: [{ templateName: 'prometheus-answers' }] } },
  });
  afterAll(() => prometheus?.remove());

  it('acts on the hold it came for, and never skips the manual pause after it', async () => {
    // Succeeds whenever Prometheus answers: it holds the rollout exactly while Prometheus is down.
    await kubectlApply(
      analysisTemplateManifest(namespace, 'prometheus-answers', {
        metrics: [
          {
            name: 'answers',
            interval: '2s',
            successCondition: 'result > 0',
            inconclusiveLimit: 0,
            consecutiveErrorLimit: 0,
            provider: { prometheus: { query: 'vector(1)' } },
          },
        ],
      }),
    );
    await scenario.firstRevisionHealthy([{ setWeight: 25 }, { setWeight: 50 }, { pause: {} }], {
      replicas,
      progressDeadlineSeconds: 180,
    });
    // No room for a canary pod: the first step waits for one while the analysis holds and lets go.
    const quota = 'no-room';
    await core.createNamespacedResourceQuota({
      namespace,
      body: { metadata: { name: quota }, spec: { hard: { pods: `${replicas}` } } },
    });
    await waitFor('the quota controller to count the pods', async () => {
      const counted = await core.readNamespacedResourceQuota({ namespace, name: quota });
      return counted.status?.used?.pods === `${replicas}`;
    });
    await setImage(namespace, app, `registry.example/${app}:2`);
    const waiting = await scenario.waitForStatus(
      'r2 to wait for its first canary pod',
      (s) => s.revision === 2 && s.phase === 'Progressing' && s.currentStepIndex === 0,
    );

    await prometheus.stop();
    await scenario.waitForStatus(
      'the background analysis to hold r2',
      (s) => s.revision === 2 && s.phase === 'Paused' && /inconclusive/.test(s.message ?? ''),
      60_000,
    );
    const handle = scenario.client.workflow.getHandle(waiting.workflowId!);
    await handle.executeUpdate(promoteUpdate, { args: [{ by: 'on-call' }] });
    await prometheus.start();
    await scenario.waitForStatus(
      'the hold to end on its own',
      (s) => s.revision === 2 && s.phase === 'Progressing' && s.currentStepIndex === 0,
      60_000,
    );
    await core.deleteNamespacedResourceQuota({ namespace, name: quota });

    const paused = await scenario.waitForStatus(
      'r2 to pause at its last step',
      (s) => s.revision === 2 && s.currentStepIndex === 2 && s.phase === 'Paused',
      90_000,
    );
    expect(paused.message).toContain('step 3/3: paused until promoted');
    expect(paused.weights).toEqual({ stable: 50, canary: 50 });
    // And it stays there: the promote was spent on the hold.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const still = await scenario.see.rolloutStatus(app);
    expect(still).toMatchObject({ revision: 2, phase: 'Paused', currentStepIndex: 2 });

    await handle.executeUpdate(promoteUpdate, { args: [{ by: 'on-call' }] });
    await scenario.waitForStatus(
      'r2 to become Healthy',
      (s) => s.revision === 2 && s.phase === 'Healthy',
      60_000,
    );
    await recordHistoryFixture('canary-promoted-during-a-hold', handle);
  });
});
