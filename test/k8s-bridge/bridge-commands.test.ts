import type { Client } from '@temporalio/client';
import type { RolloutStatus } from '../../schemas/rollout';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { observer } from '../harness/observe';
import { kubectlApply, rolloutManifest, servicesAndRoute } from '../harness/rollout-fixtures';
import { siirtoBridge, type SiirtoProcess } from '../harness/siirto-processes';
import { temporalClient, terminateRunningWorkflows } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { bridgeProbes } from './bridge-probes';

/**
 * Command annotations as far as the bridge decides on them alone. Their delivery to a live workflow
 * (accepted, or refused by its validator) is proven end to end with a worker in test/rollouts.
 */
describe('command annotations the bridge cannot hand to a workflow', () => {
  const scope = isolate('bridge-commands');
  const { namespace } = scope;
  const app = 'cart';
  const see = observer(namespace);
  let bridge: SiirtoProcess;
  let client: Client;
  let probes: ReturnType<typeof bridgeProbes>;

  const annotationsOf = async (name: string): Promise<Record<string, string>> => {
    const rollout = JSON.parse(
      await runOrThrow('kubectl', ['get', 'rollouts.siirto.dev', name, '-n', namespace, '-o', 'json']),
    );
    return (rollout.metadata.annotations ?? {}) as Record<string, string>;
  };
  const annotate = (name: string, annotation: string) =>
    runOrThrow('kubectl', [
      'annotate',
      '--overwrite',
      'rollouts.siirto.dev',
      name,
      '-n',
      namespace,
      annotation,
    ]);
  const statusOf = (name: string, description: string, accept: (status: RolloutStatus) => boolean) =>
    waitFor(`${name}: ${description}`, async () => accept(await see.rolloutStatus(name)));

  beforeAll(async () => {
    await kubectlApply(servicesAndRoute(namespace, app));
    client = await temporalClient();
    probes = bridgeProbes(client, namespace);
    bridge = siirtoBridge(scope, 'bridge', { SIIRTO_UPDATE_TIMEOUT_SECONDS: '2' });
    await bridge.start();
    await kubectlApply(rolloutManifest({ namespace, app, steps: [{ setWeight: 20 }, { pause: {} }] }));
    await waitFor('r1 to run', () => client.workflow.getHandle(`${namespace}/${app}/r1`).describe());
  });

  afterAll(async () => {
    await bridge?.stop();
    // Nothing serves the file's task queue any more: end the runs its Rollouts left open.
    await terminateRunningWorkflows(`RolloutNamespace = "${namespace}"`, 'test finished');
    await client?.connection.close();
  });

  it('refuses a promote value it does not understand, says what to write, and removes it', async () => {
    await annotate(app, 'siirto.dev/promote=yes');
    const [event] = await waitFor('a PromoteRejected Event', async () => {
      const events = await probes.rolloutEvents(app, 'PromoteRejected');
      return events.length > 0 && events;
    });
    expect(event).toEqual({
      type: 'Warning',
      message:
        'annotation siirto.dev/promote="yes" is not understood; set it to "true" to end the current pause, or "full" to skip every remaining step',
      count: 1,
    });
    await waitFor(
      'the annotation to be removed',
      async () => !('siirto.dev/promote' in (await annotationsOf(app))),
    );
  });

  it('refuses a command to a Rollout that has no revision yet, and removes it', async () => {
    // No Services, no route, and a weight above 100: it never gets a revision.
    await kubectlApply(rolloutManifest({ namespace, app: 'broken', steps: [{ setWeight: 150 }] }));
    await statusOf('broken', 'phase Invalid', (status) => status.phase === 'Invalid');

    await annotate('broken', 'siirto.dev/abort=error rate above 2%');
    const [event] = await waitFor('an AbortRejected Event', async () => {
      const events = await probes.rolloutEvents('broken', 'AbortRejected');
      return events.length > 0 && events;
    });
    expect(event?.type).toBe('Warning');
    expect(event?.message).toContain(
      `siirto.dev/abort: Rollout ${namespace}/broken has no revision to abort yet`,
    );
    await waitFor(
      'the annotation to be removed',
      async () => !('siirto.dev/abort' in (await annotationsOf('broken'))),
    );
  });

  it('keeps a command no workflow answers in time, and goes on with other Rollouts meanwhile', async () => {
    const from = bridge.logText().length;
    await annotate(app, 'siirto.dev/promote=full');
    await waitFor('the bridge to give up waiting for an answer', () =>
      bridge.logText().slice(from).includes('"msg":"promote not answered in time'),
    );
    expect((await annotationsOf(app))['siirto.dev/promote']).toBe('full');
    expect(await probes.rolloutEvents(app, 'PromoteRequested')).toEqual([]);

    // The unanswered promote holds up nothing else: a new Rollout still gets its workflow.
    await kubectlApply(servicesAndRoute(namespace, 'wishlist'));
    await kubectlApply(rolloutManifest({ namespace, app: 'wishlist', steps: [{ setWeight: 50 }] }));
    await waitFor('wishlist r1 to run', () =>
      client.workflow.getHandle(`${namespace}/wishlist/r1`).describe(),
    );
    await client.workflow.getHandle(`${namespace}/wishlist/r1`).terminate('test finished');
  });
});
