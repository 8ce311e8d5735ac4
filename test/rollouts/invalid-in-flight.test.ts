import type { RolloutStatus } from '../../schemas/rollout';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { annotateRollout, kubectlApply, setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { waitFor } from '../harness/wait';
import { bridgeProbes, reconcilesLogged } from '../k8s-bridge/bridge-probes';

const app = 'invoices';
const GATE = 'invoices-gate';

/**
 * A spec broken while a revision runs (here: the AnalysisTemplate of a later step deleted while it
 * pauses) is reported as Valid=False and a Warning Event. The phase stays the run's own, commands
 * still reach it, and its own steps decide what the broken template means: here, the analysis step
 * that cannot run aborts it.
 */
describe('a spec broken while a revision is in flight', () => {
  const scope = isolate('invalid-in-flight');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app, { bridgeEnvironment: { SIIRTO_LOG_LEVEL: 'debug' } });
  let probes: ReturnType<typeof bridgeProbes>;
  const gate = JSON.stringify({
    apiVersion: 'siirto.dev/v1alpha1',
    kind: 'AnalysisTemplate',
    metadata: { name: GATE, namespace },
    spec: {
      metrics: [
        {
          name: 'constant',
          interval: '1s',
          count: 1,
          successCondition: 'result < 1',
          provider: { prometheus: { query: 'vector(0.25)' } },
        },
      ],
    },
  });
  const validCondition = (status: RolloutStatus) => status.conditions?.find((c) => c.type === 'Valid');

  beforeAll(async () => {
    probes = bridgeProbes(scenario.client, namespace);
    await kubectlApply(gate);
  });

  it('keeps the phase Paused, reports Valid=False with an Event, and the promoted run decides', async () => {
    await scenario.firstRevisionHealthy([
      { setWeight: 50 },
      { pause: {} },
      { analysis: { templates: [{ templateName: GATE }] } },
    ]);
    await setImage(namespace, app, `registry.example/${app}:2`);
    const paused = await scenario.waitForStatus(
      'r2 to pause at 50%',
      (s) => s.revision === 2 && s.phase === 'Paused',
    );
    const workflowId = paused.workflowId!;

    const from = scenario.bridge.logText().length;
    await runOrThrow('kubectl', ['delete', 'analysistemplates.siirto.dev', GATE, '-n', namespace]);
    const reported = await scenario.waitForStatus(
      'Valid=False',
      (s) => validCondition(s)?.status === 'False',
    );
    const problem =
      `AnalysisTemplate ${namespace}/${GATE} not found: create it or fix ` +
      'spec.strategy.canary.steps[2].analysis.templates[0].templateName';
    expect(validCondition(reported)).toMatchObject({
      reason: 'InvalidSpec',
      message: expect.stringContaining(problem),
    });
    // Resyncs go on: none writes Invalid over the paused revision, or repeats the Event.
    await waitFor('three reconciles', () => reconcilesLogged(scenario.bridge, namespace, app, from) >= 3);
    const stillPaused = await scenario.see.rolloutStatus(app);
    expect(stillPaused).toMatchObject({ phase: 'Paused', revision: 2, workflowId, message: paused.message });
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 50, [`${app}-canary`]: 50 });
    expect(await probes.rolloutEvents(app, 'InvalidSpec')).toEqual([
      {
        type: 'Warning',
        message:
          `${workflowId} is in flight and goes on (its own steps decide; promote and abort still reach it), ` +
          `but the spec has problems: ${validCondition(reported)?.message}`,
        count: 1,
      },
    ]);

    // A promote still reaches the run; its analysis step cannot run without the template, so it aborts.
    await annotateRollout(namespace, app, 'siirto.dev/promote=true');
    const degraded = await scenario.waitForStatus('r2 to become Degraded', (s) => s.phase === 'Degraded');
    expect(degraded.message).toContain('step analysis could not run');
    expect(degraded.message).toContain(`AnalysisTemplate ${namespace}/${GATE} not found`);
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    expect(await probes.rolloutEvents(app, 'PromoteRequested')).toHaveLength(1);

    // The template back: the spec is valid again, and the aborted revision waits for a retry as before.
    await kubectlApply(gate);
    const valid = await scenario.waitForStatus('Valid=True', (s) => validCondition(s)?.status === 'True');
    expect(valid).toMatchObject({ phase: 'Degraded', revision: 2 });
  });
});
