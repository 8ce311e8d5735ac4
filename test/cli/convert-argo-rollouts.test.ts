import path from 'node:path';
import { dumpYaml, loadAllYaml } from '@kubernetes/client-node';
import { run, runOrThrow, type CommandResult } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { observer } from '../harness/observe';
import { SiirtoProcess, siirtoBridge, siirtoWorker } from '../harness/siirto-processes';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';

const SIIRTO = path.join(stack.projectDir, 'cli', 'siirto');
const fixture = (name: string) => path.join(stack.projectDir, 'test', 'fixtures', 'argo-rollouts', name);

const app = 'rollouts-demo';
const route = 'argo-rollouts-http-route';
const stable = 'argo-rollouts-stable-service';
const canary = 'argo-rollouts-canary-service';

type Manifest = { kind: string; metadata: { name: string; namespace?: string } };

/** The converted manifests moved into `namespace`, as a user applying them elsewhere would with -n. */
function intoNamespace(manifests: string, namespace: string): string {
  return (loadAllYaml(manifests) as Manifest[])
    .map((manifest) =>
      dumpYaml(
        manifest.kind === 'ClusterAnalysisTemplate'
          ? manifest
          : { ...manifest, metadata: { ...manifest.metadata, namespace } },
      ),
    )
    .join('---\n');
}

describe('siirto convert on Argo Rollouts manifests, applied to a real apiserver', () => {
  const scope = isolate('convert-argo');
  const { namespace } = scope;
  const see = observer(namespace);
  let worker: SiirtoProcess;
  let bridge: SiirtoProcess;

  const convert = (file: string): Promise<CommandResult> => run(SIIRTO, ['convert', '-f', fixture(file)]);

  beforeAll(async () => {
    worker = siirtoWorker(scope);
    bridge = siirtoBridge(scope);
    await Promise.all([worker.start(), bridge.start()]);
  });

  afterAll(async () => {
    await Promise.all([worker?.stop(), bridge?.stop()]);
  });

  it.each(['canary-gateway-api.yaml', 'analysis-templates.yaml'])(
    'writes manifests from %s that kubectl apply --dry-run=server accepts whole',
    async (file) => {
      const converted = await convert(file);
      expect(converted.code).toBe(0);
      const applied = await run(
        'kubectl',
        ['apply', '--dry-run=server', '-f', '-'],
        intoNamespace(converted.stdout, namespace),
      );
      expect(applied).toMatchObject({ code: 0 });
      expect(applied.stdout).toMatch(/rollout\.siirto\.dev\/\S+ created \(server dry run\)/);
    },
  );

  it('rolls the converted Gateway API canary out: 30% for 10 s, 60% for 5 s, then all traffic to the new revision', async () => {
    const converted = await convert('canary-gateway-api.yaml');
    expect(converted.code).toBe(0);
    expect(converted.stderr).toContain('plugins["argoproj-labs/gatewayAPI"].namespace');
    await runOrThrow('kubectl', ['apply', '-n', namespace, '-f', '-'], converted.stdout);
    const status = () => see.rolloutStatus(app);
    await waitFor('r1 to become Healthy', async () => {
      const current = await status();
      return current.revision === 1 && current.phase === 'Healthy';
    });

    await runOrThrow('kubectl', [
      'patch',
      'sro',
      app,
      '-n',
      namespace,
      '--type',
      'json',
      '-p',
      JSON.stringify([
        {
          op: 'replace',
          path: '/spec/template/spec/containers/0/image',
          value: 'argoproj/rollouts-demo:yellow',
        },
      ]),
    ]);
    for (const weight of [30, 60]) {
      await waitFor(`r2 to pause at ${weight}%`, async () => {
        const current = await status();
        return current.revision === 2 && current.phase === 'Paused' && current.weights?.canary === weight;
      });
      expect(await see.routeWeights(route)).toEqual({ [stable]: 100 - weight, [canary]: weight });
    }
    await waitFor('r2 to become Healthy', async () => {
      const current = await status();
      return current.revision === 2 && current.phase === 'Healthy';
    });
    expect(await see.routeWeights(route)).toEqual({ [stable]: 100, [canary]: 0 });
  });
});
