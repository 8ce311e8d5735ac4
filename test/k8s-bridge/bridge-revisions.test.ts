import type { Client } from '@temporalio/client';
import { podTemplateHash } from '../../schemas/pod-template-hash';
import { RolloutSchema, type RolloutStatus } from '../../schemas/rollout';
import {
  RolloutNameKey,
  RolloutNamespaceKey,
  RolloutPhaseKey,
  RolloutRevisionKey,
  RolloutStrategyKey,
} from '../../workflows/search-attributes';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { observer } from '../harness/observe';
import { kubectlApply, rolloutManifest, servicesAndRoute, setImage } from '../harness/rollout-fixtures';
import { siirtoBridge, type SiirtoProcess } from '../harness/siirto-processes';
import { temporalClient, terminateRunningWorkflows } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { bridgeProbes, reconcilesLogged } from './bridge-probes';

/**
 * The bridge on its own: no worker serves its task queue, so every workflow it starts stays Running
 * and the tests see exactly what the bridge asked of Temporal: starts, signals and cancellations.
 */
describe('the bridge turns Rollout revisions into workflows', () => {
  const scope = isolate('bridge-revisions');
  const { namespace } = scope;
  const app = 'checkout';
  const steps = [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: { duration: '1m' } }];
  const manifest = (image?: string) => rolloutManifest({ namespace, app, steps, image });
  const templateHashOf = (image?: string) =>
    podTemplateHash(RolloutSchema.parse(JSON.parse(manifest(image))).spec.template);
  const see = observer(namespace);
  const workflowId = (revision: number, name = app) => `${namespace}/${name}/r${revision}`;
  const bridgeNamed = (name: string) => siirtoBridge(scope, name, { SIIRTO_LOG_LEVEL: 'debug' });

  let bridge: SiirtoProcess;
  const otherBridges: SiirtoProcess[] = [];
  let client: Client;
  let probes: ReturnType<typeof bridgeProbes>;
  let firstRunId: string;

  const statusOf = (description: string, accept: (status: RolloutStatus) => boolean, name = app) =>
    waitFor(description, async () => {
      const status = await see.rolloutStatus(name);
      return accept(status) && status;
    });

  /** Waits until a bridge has reconciled a Rollout `times` more times, resyncs included. */
  const reconciledAgain = (process: SiirtoProcess, name: string, times: number) => {
    const from = process.logText().length;
    return waitFor(
      `${times} more reconciles of ${name}`,
      () => reconcilesLogged(process, namespace, name, from) >= times,
      {
        timeoutMs: 30_000,
      },
    );
  };

  beforeAll(async () => {
    await kubectlApply(servicesAndRoute(namespace, app));
    client = await temporalClient();
    probes = bridgeProbes(client, namespace);
    bridge = bridgeNamed('bridge');
    await bridge.start();
  });

  afterAll(async () => {
    await Promise.all([bridge?.stop(), ...otherBridges.map((other) => other.stop())]);
    // Nothing serves the file's task queue any more: end the runs its Rollouts left open.
    await terminateRunningWorkflows(`RolloutNamespace = "${namespace}"`, 'test finished');
    await client?.connection.close();
  });

  it('starts exactly one workflow, <namespace>/<name>/r1, with search attributes, summary and input', async () => {
    await kubectlApply(manifest());
    const status = await statusOf('status.revision 1', (status) => status.revision === 1);
    const rollout = JSON.parse(
      await runOrThrow('kubectl', ['get', 'rollouts.siirto.dev', app, '-n', namespace, '-o', 'json']),
    ) as { metadata: { uid: string } };
    expect(status).toMatchObject({
      revision: 1,
      currentTemplateHash: templateHashOf(),
      workflowId: workflowId(1),
      phase: 'Progressing',
    });
    expect(status.conditions).toContainEqual(expect.objectContaining({ type: 'Valid', status: 'True' }));

    const handle = client.workflow.getHandle(workflowId(1));
    const description = await waitFor('r1 to be described', () => handle.describe());
    firstRunId = description.runId;
    expect(description.status.name).toBe('RUNNING');
    expect(description.type).toBe('canaryRollout');
    expect(description.taskQueue).toBe(scope.workflowIdPrefix);
    const attributes = description.typedSearchAttributes;
    expect(attributes.get(RolloutNamespaceKey)).toBe(namespace);
    expect(attributes.get(RolloutNameKey)).toBe(app);
    expect(attributes.get(RolloutRevisionKey)).toBe('1');
    expect(attributes.get(RolloutPhaseKey)).toBe('Progressing');
    expect(attributes.get(RolloutStrategyKey)).toBe('canary');
    expect(await description.staticSummary()).toBe(`canary ${namespace}/${app} r1: 20→50→100`);
    expect(await description.staticDetails()).toContain(
      '1. 20%\n2. pause until promoted\n3. 50%\n4. pause 1m',
    );

    const input = await probes.startInput(workflowId(1));
    expect(input).toEqual({
      rollout: { namespace, name: app, uid: rollout.metadata.uid },
      revision: 1,
      templateHash: templateHashOf(),
      replicas: 3,
      canary: {
        stableService: `${app}-stable`,
        canaryService: `${app}-canary`,
        trafficRouting: { gatewayAPI: { httpRoute: app } },
        steps,
        scaleDownDelaySeconds: 1,
        abortScaleDownDelaySeconds: 1,
      },
      progressDeadlineSeconds: 60,
      images: ['registry.example/checkout:1'],
    });
    // Only the images leave the cluster (CDEvents name them); the pod template, its env and mounted
    // secrets stay there, and activities read it.
    expect(JSON.stringify(input)).not.toContain('"containers"');
    expect(await probes.countRuns(app)).toBe(1);
  });

  it('never starts a second run: not after a SIGKILL and restart, not with two bridges at once', async () => {
    await bridge.kill();
    const [first, second] = [bridgeNamed('bridge-a'), bridgeNamed('bridge-b')];
    otherBridges.push(second);
    bridge = first;
    await Promise.all([first.start(), second.start()]);

    // A new Rollout both bridges see at the same moment: one records r1, the other reads it and agrees.
    await kubectlApply(servicesAndRoute(namespace, 'racer'));
    await kubectlApply(rolloutManifest({ namespace, app: 'racer', steps }));
    await Promise.all(
      [first, second].flatMap((process) => [
        reconciledAgain(process, app, 3),
        reconciledAgain(process, 'racer', 3),
      ]),
    );

    expect(await probes.runsOf(app)).toEqual([
      { workflowId: workflowId(1), runId: firstRunId, status: 'RUNNING' },
    ]);
    expect(await probes.countRuns(app)).toBe(1);
    expect(await probes.runsOf('racer')).toEqual([
      expect.objectContaining({ workflowId: workflowId(1, 'racer'), status: 'RUNNING' }),
    ]);
    expect(await probes.countRuns('racer')).toBe(1);
    expect((await see.rolloutStatus('racer')).revision).toBe(1);
    expect((await see.rolloutStatus(app)).revision).toBe(1);

    await second.stop();
    expect(second.logText()).toContain('"msg":"bridge stopped"');
  });

  it('makes a new template revision 2: r1 is told to stand down, r2 starts and waits for it', async () => {
    await setImage(namespace, app, 'registry.example/checkout:2');
    const status = await statusOf('status.revision 2', (status) => status.revision === 2);
    expect(status).toMatchObject({
      currentTemplateHash: templateHashOf('registry.example/checkout:2'),
      workflowId: workflowId(2),
      phase: 'Progressing',
    });

    const input = await waitFor('r2 to start', () => probes.startInput(workflowId(2)));
    expect(input).toMatchObject({
      revision: 2,
      templateHash: templateHashOf('registry.example/checkout:2'),
      supersedes: workflowId(1),
    });
    expect(input.stableTemplateHash).toBeUndefined();
    await waitFor(
      'the supersede signal in r1',
      async () => (await probes.supersedeSignals(workflowId(1))).length > 0,
    );

    // Resyncs go on; the signal is not repeated and r1 is left to close on its own.
    await reconciledAgain(bridge, app, 3);
    expect(await probes.supersedeSignals(workflowId(1))).toEqual([{ revision: 2 }]);
    expect((await client.workflow.getHandle(workflowId(1)).describe()).status.name).toBe('RUNNING');
    expect((await probes.runsOf(app)).map((run) => run.workflowId).sort()).toEqual([
      workflowId(1),
      workflowId(2),
    ]);
  });

  it('numbers a return to the first template as revision 3, with the first template hash', async () => {
    await setImage(namespace, app, `registry.example/${app}:1`);
    const status = await statusOf('status.revision 3', (status) => status.revision === 3);
    expect(status.currentTemplateHash).toBe(templateHashOf());

    const input = await waitFor('r3 to start', () => probes.startInput(workflowId(3)));
    expect(input).toMatchObject({ revision: 3, templateHash: templateHashOf(), supersedes: workflowId(2) });
    await waitFor(
      'the supersede signal in r2',
      async () => (await probes.supersedeSignals(workflowId(2))).length > 0,
    );
    expect(await probes.supersedeSignals(workflowId(2))).toEqual([{ revision: 3 }]);
    expect(await probes.supersedeSignals(workflowId(1))).toEqual([{ revision: 2 }]);
  });

  it('cancels every open run of a deleted Rollout', async () => {
    await runOrThrow('kubectl', ['delete', 'rollouts.siirto.dev', app, '-n', namespace, '--wait=true']);
    for (const revision of [1, 2, 3]) {
      await waitFor(`cancellation of r${revision}`, () => probes.cancelRequested(workflowId(revision)));
    }
  });

  it('continues the revision numbers when a Rollout of the same name is created again', async () => {
    await kubectlApply(manifest());
    const status = await statusOf('status.revision 4', (status) => status.revision !== undefined);
    expect(status).toMatchObject({
      revision: 4,
      workflowId: workflowId(4),
      currentTemplateHash: templateHashOf(),
    });
    const rollout = JSON.parse(
      await runOrThrow('kubectl', ['get', 'rollouts.siirto.dev', app, '-n', namespace, '-o', 'json']),
    ) as { metadata: { uid: string } };
    const input = await waitFor('r4 to start', () => probes.startInput(workflowId(4)));
    // The deleted Rollout's runs were cancelled, not superseded; r4 waits for the last of them to close.
    expect(input).toMatchObject({
      rollout: { uid: rollout.metadata.uid },
      revision: 4,
      supersedes: workflowId(3),
    });
    expect(await probes.supersedeSignals(workflowId(3))).toEqual([]);
  });

  it('cancels the run of a Rollout deleted while no bridge was running, once a bridge starts', async () => {
    await bridge.stop();
    expect(bridge.logText()).toContain('"msg":"bridge stopped"');
    await runOrThrow('kubectl', ['delete', 'rollouts.siirto.dev', 'racer', '-n', namespace, '--wait=true']);
    expect(await probes.cancelRequested(workflowId(1, 'racer'))).toBe(false);

    bridge = bridgeNamed('bridge-after-outage');
    await bridge.start();
    await waitFor('cancellation of racer r1', () => probes.cancelRequested(workflowId(1, 'racer')));
  });
});
