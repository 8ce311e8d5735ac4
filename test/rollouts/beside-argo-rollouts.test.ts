import path from 'node:path';
import { run, runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';

const app = 'orders';
const SIIRTO = path.join(stack.projectDir, 'cli', 'siirto');
const ARGO_CRDS = path.join(stack.projectDir, 'stack', 'argo-rollouts-crds.sh');
const ARGO_ROLLOUT = path.join(stack.projectDir, 'test', 'fixtures', 'argo-rollouts', 'basic-canary.yaml');

describe('Siirto beside Argo Rollouts’ CRDs, as in a cluster migrating from it', () => {
  const scope = isolate('beside-argo');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);
  // Installed here unless the run already has them (SIIRTO_STACK_ARGO_ROLLOUTS_CRDS=1); removed only then.
  let installedHere = false;

  beforeAll(async () => {
    if ((await run('bash', [ARGO_CRDS, 'status'])).code !== 0) {
      // Removed afterwards even if installing fails halfway.
      installedHere = true;
      await runOrThrow('bash', [ARGO_CRDS, 'install']);
    }
    // An Argo Rollout of its own in the namespace, which no controller here acts on.
    await runOrThrow('kubectl', ['apply', '-n', namespace, '-f', ARGO_ROLLOUT]);
  }, 300_000);

  afterAll(async () => {
    if (installedHere) await runOrThrow('bash', [ARGO_CRDS, 'remove']);
  }, 120_000);

  it('leaves ro and rollout to Argo’s resource, while sro and rollouts.siirto.dev name Siirto’s', async () => {
    expect(await runOrThrow('kubectl', ['explain', 'ro'])).toMatch(/GROUP:\s+argoproj\.io/);
    expect(await runOrThrow('kubectl', ['explain', 'sro'])).toMatch(/GROUP:\s+siirto\.dev/);
    const names = async (resource: string) =>
      (await runOrThrow('kubectl', ['get', resource, '-n', namespace, '-o', 'name'])).trim().split('\n');
    expect(await names('ro')).toEqual(['rollout.argoproj.io/rollouts-demo']);
    expect(await names('rollout')).toEqual(['rollout.argoproj.io/rollouts-demo']);
    expect(await names('rollouts.argoproj.io')).toEqual(['rollout.argoproj.io/rollouts-demo']);
    await scenario.firstRevisionHealthy([{ setWeight: 50 }, { pause: {} }], { replicas: 2 });
    expect(await names('sro')).toEqual([`rollout.siirto.dev/${app}`]);
    expect(await names('rollouts.siirto.dev')).toEqual([`rollout.siirto.dev/${app}`]);
  });

  it('rolls a canary out through the harness, kubectl sro and the siirto CLI, Argo’s Rollout left alone', async () => {
    await setImage(namespace, app, `registry.example/${app}:2`);
    await scenario.waitForStatus('r2 to pause at 50%', (s) => s.revision === 2 && s.phase === 'Paused');
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 50, [`${app}-canary`]: 50 });

    const listed = await runOrThrow(SIIRTO, ['list', '-n', namespace]);
    expect(listed).toContain(app);
    expect(listed).not.toContain('rollouts-demo');
    expect(await runOrThrow(SIIRTO, ['status', app, '-n', namespace])).toContain('Paused');
    await runOrThrow('kubectl', ['annotate', 'sro', app, '-n', namespace, 'siirto.dev/promote=true']);
    await scenario.waitForStatus('r2 to become Healthy', (s) => s.revision === 2 && s.phase === 'Healthy');
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });

    const argo = JSON.parse(
      await runOrThrow('kubectl', [
        'get',
        'rollouts.argoproj.io',
        'rollouts-demo',
        '-n',
        namespace,
        '-o',
        'json',
      ]),
    ) as { metadata: { annotations?: Record<string, string> }; status?: unknown };
    expect(argo.status).toBeUndefined();
    expect(argo.metadata.annotations ?? {}).not.toHaveProperty('siirto.dev/promote');
  });
});
