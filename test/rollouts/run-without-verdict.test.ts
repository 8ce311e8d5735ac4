import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { RETRY_ANNOTATION } from '../../kubernetes/labels';
import { podTemplateHash } from '../../schemas/pod-template-hash';
import { RolloutSchema, type RolloutStatus } from '../../schemas/rollout';
import { promoteUpdate } from '../../workflows/rollout-api';
import { run, runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { kubectlApply, rolloutManifest, servicesAndRoute, setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';
import { bridgeProbes, reconcilesLogged } from '../k8s-bridge/bridge-probes';

const app = 'ledger';
const SIIRTO = path.join(stack.projectDir, 'cli', 'siirto');
const BY = `${process.env.USER ?? 'someone'} (siirto CLI)`;

/**
 * A revision's run that closed without writing its verdict (terminated by an operator, or forgotten
 * by Temporal after its retention) must leave the Rollout Degraded with the way back, and must never
 * be started again from its first step on the bridge's own initiative; `siirto retry` starts it again.
 */
describe('a run that closed without a verdict', () => {
  const scope = isolate('no-verdict');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app, { bridgeEnvironment: { SIIRTO_LOG_LEVEL: 'debug' } });
  let probes: ReturnType<typeof bridgeProbes>;
  beforeAll(() => {
    probes = bridgeProbes(scenario.client, namespace);
  });
  const siirto = (...args: string[]) => run(SIIRTO, [...args, '-n', namespace]);
  const wayBack = (name: string) =>
    `\`siirto retry ${name}\` (or \`kubectl annotate rollouts.siirto.dev ${name} ${RETRY_ANNOTATION}=true\`) to run it again`;

  const statusOf = (name: string, description: string, accept: (status: RolloutStatus) => boolean) =>
    waitFor(`${name}: ${description}`, async () => {
      const status = await scenario.see.rolloutStatus(name);
      return accept(status) && status;
    });
  const runsOfId = async (name: string, workflowId: string) =>
    (await probes.runsOf(name)).filter((run) => run.workflowId === workflowId);

  /** Waits until the bridge has reconciled a Rollout `times` more times, resyncs included. */
  const reconciledAgain = (name: string, times: number) => {
    const from = scenario.bridge.logText().length;
    return waitFor(
      `${times} more reconciles of ${name}`,
      () => reconcilesLogged(scenario.bridge, namespace, name, from) >= times,
    );
  };

  it('terminated by an operator: Degraded, never run again on its own, and `siirto retry` runs it again', async () => {
    await scenario.firstRevisionHealthy([{ setWeight: 50 }, { pause: {} }]);
    await setImage(namespace, app, `registry.example/${app}:2`);
    const paused = await scenario.waitForStatus(
      'r2 to pause at 50%',
      (s) => s.revision === 2 && s.phase === 'Paused',
    );
    const workflowId = paused.workflowId!;
    const handle = scenario.client.workflow.getHandle(workflowId);
    const [terminatedRun] = await runsOfId(app, workflowId);

    await handle.terminate('stuck, ended by hand');
    const degraded = await scenario.waitForStatus('r2 to become Degraded', (s) => s.phase === 'Degraded');
    const message = `the workflow ${workflowId} ended without a verdict (terminated: stuck, ended by hand); ${wayBack(app)}`;
    expect(degraded).toMatchObject({ revision: 2, workflowId, message });
    expect(degraded.conditions).toContainEqual(
      expect.objectContaining({
        type: 'Progressing',
        status: 'False',
        reason: 'EndedWithoutVerdict',
        message,
      }),
    );

    // Resyncs go on: none starts r2 again, and the Warning is said once.
    await reconciledAgain(app, 3);
    expect(await runsOfId(app, workflowId)).toEqual([{ ...terminatedRun, status: 'TERMINATED' }]);
    expect(await probes.rolloutEvents(app, 'EndedWithoutVerdict')).toEqual([
      { type: 'Warning', message, count: 1 },
    ]);
    expect((await scenario.see.rolloutStatus(app)).phase).toBe('Degraded');

    const retried = await siirto('retry', app);
    expect(retried).toMatchObject({
      code: 0,
      stdout: `retry accepted: ${workflowId} runs again from its first step\n`,
    });
    await scenario.waitForStatus('r2 to pause at 50% again', (s) => s.revision === 2 && s.phase === 'Paused');
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 50, [`${app}-canary`]: 50 });
    const runs = await runsOfId(app, workflowId);
    expect(runs.map((r) => r.status).sort()).toEqual(['RUNNING', 'TERMINATED']);
    expect(await probes.rolloutEvents(app, 'RetryRequested')).toEqual([
      {
        type: 'Normal',
        message: `retry by ${BY} accepted: ${workflowId} runs again from its first step (from annotation ${RETRY_ANNOTATION})`,
        count: 1,
      },
    ]);
    expect(
      JSON.parse(
        await runOrThrow('kubectl', ['get', 'rollouts.siirto.dev', app, '-n', namespace, '-o', 'json']),
      ),
    ).not.toHaveProperty(['metadata', 'annotations', RETRY_ANNOTATION]);

    await handle.executeUpdate(promoteUpdate, { args: [{ by: 'on-call' }] });
    await scenario.waitForStatus('r2 to become Healthy', (s) => s.phase === 'Healthy' && s.revision === 2);
  });

  it('forgotten by Temporal: Degraded instead of a new run from step 1, and `siirto retry` runs it again', async () => {
    const name = 'archive';
    const manifest = rolloutManifest({ namespace, app: name, steps: [{ setWeight: 50 }, { pause: {} }] });
    const templateHash = podTemplateHash(RolloutSchema.parse(JSON.parse(manifest)).spec.template);
    const workflowId = `${namespace}/${name}/r4`;
    // The status as revision 4's run left it, paused at its second step, days ago; Temporal has
    // since dropped the run with its history, which a run never started stands in for here.
    await scenario.bridge.stop();
    await kubectlApply(servicesAndRoute(namespace, name));
    await kubectlApply(manifest);
    await runOrThrow('kubectl', [
      'patch',
      'rollouts.siirto.dev',
      name,
      '-n',
      namespace,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          phase: 'Paused',
          message: 'step 2/2: paused until promoted',
          observedGeneration: 1,
          revision: 4,
          currentTemplateHash: templateHash,
          workflowId,
          currentStepIndex: 1,
          stepCount: 2,
          step: '2/2',
          conditions: [
            { type: 'Valid', status: 'True', reason: 'SpecValid', message: 'the spec can be rolled out' },
          ],
        },
      }),
    ]);
    await scenario.bridge.start();

    const degraded = await statusOf(name, 'phase Degraded', (s) => s.phase === 'Degraded');
    const message =
      `the workflow ${workflowId} ended without a verdict (Temporal no longer knows it: its history is past ` +
      `the namespace's retention, or was deleted); ${wayBack(name)}`;
    expect(degraded).toMatchObject({ revision: 4, workflowId, message });
    await reconciledAgain(name, 3);
    await expect(scenario.client.workflow.getHandle(workflowId).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
    expect(await probes.countRuns(name)).toBe(0);
    expect(await probes.rolloutEvents(name, 'EndedWithoutVerdict')).toEqual([
      { type: 'Warning', message, count: 1 },
    ]);

    const retried = await siirto('retry', name);
    expect(retried).toMatchObject({
      code: 0,
      stdout: `retry accepted: ${workflowId} runs again from its first step\n`,
    });
    // Nothing is stable yet, so revision 4 goes straight to 100%, as an app's first revision does.
    const healthy = await statusOf(name, 'r4 Healthy', (s) => s.phase === 'Healthy' && s.revision === 4);
    expect(healthy.stableTemplateHash).toBe(templateHash);
    // One run of r4 in all: the one the retry started, which completes once the old pods are gone.
    await scenario.client.workflow.getHandle(workflowId).result();
    const runs = await waitFor('visibility to list r4 completed', async () => {
      const listed = await probes.runsOf(name);
      return listed.every((run) => run.status === 'COMPLETED') && listed;
    });
    expect(runs).toEqual([expect.objectContaining({ workflowId, status: 'COMPLETED' })]);
  });
});
