import * as k8s from '@kubernetes/client-node';
import { createLogger } from '../../observability/log';
import { watchRollouts, type RolloutChange, type RolloutWatch } from '../../k8s-bridge/rollout-watch';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { kubectlApply, rolloutManifestWith, setImage } from '../harness/rollout-fixtures';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';

/**
 * The bridge's watch tells a change to a Rollout's status alone from one it must act on at once, so
 * that the status writes of runs (and its own) are reconciled a moment later, together, and off the
 * path of a new revision. Watched on the real apiserver, with no bridge running: each change below is
 * made by kubectl, as a user or a run would make it.
 */
describe("the bridge's watch of Rollouts", () => {
  const { namespace } = isolate('rollout-watch');
  const app = 'watched';
  const changes: RolloutChange[] = [];
  let watch: RolloutWatch;

  beforeAll(async () => {
    const config = new k8s.KubeConfig();
    config.loadFromFile(stack.kubeconfig);
    watch = await watchRollouts(config, {
      namespace,
      onChange: (key, change) => {
        if (key.name === app) changes.push(change);
      },
      log: createLogger({}, 'error'),
    });
  });
  afterAll(() => watch.stop());

  /** Makes a change, then waits for the watch to report exactly one event for it, and returns its kind. */
  async function changeOf(make: () => Promise<unknown>): Promise<RolloutChange> {
    const before = changes.length;
    await make();
    await waitFor('the event of the change', () => changes.length > before);
    expect(changes.length).toBe(before + 1);
    return changes[before]!;
  }
  const patchStatus = (status: Record<string, unknown>) =>
    runOrThrow('kubectl', [
      'patch',
      'rollout',
      app,
      '-n',
      namespace,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status }),
    ]);

  it('calls a new Rollout, a changed spec, an annotation, a label and a deletion changes to act on', async () => {
    const manifest = rolloutManifestWith(
      { namespace, app, replicas: 1 },
      { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
    );
    expect(await changeOf(() => kubectlApply(manifest))).toBe('object');
    expect(await changeOf(() => setImage(namespace, app, 'registry.example/watched:2'))).toBe('object');
    expect(
      await changeOf(() =>
        runOrThrow('kubectl', ['annotate', 'rollout', app, '-n', namespace, 'siirto.dev/promote=now']),
      ),
    ).toBe('object');
    expect(
      await changeOf(() => runOrThrow('kubectl', ['label', 'rollout', app, '-n', namespace, 'team=shop'])),
    ).toBe('object');
  });

  it('calls a change to the status alone a status change, however often it comes', async () => {
    expect(await changeOf(() => patchStatus({ phase: 'Progressing', message: 'step 1/2' }))).toBe('status');
    expect(await changeOf(() => patchStatus({ phase: 'Paused', message: 'step 2/2' }))).toBe('status');
    // A spec change after status changes is still one to act on, and the status after it is status again.
    expect(await changeOf(() => setImage(namespace, app, 'registry.example/watched:3'))).toBe('object');
    expect(await changeOf(() => patchStatus({ message: 'after the new spec' }))).toBe('status');
  });

  it('calls the deletion of a Rollout a change to act on', async () => {
    // A Rollout without finalizers is gone in one event.
    expect(
      await changeOf(() =>
        runOrThrow('kubectl', ['delete', 'rollout', app, '-n', namespace, '--wait=false']),
      ),
    ).toBe('object');
  });
});
