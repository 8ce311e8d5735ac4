import { readFileSync } from 'node:fs';
import path from 'node:path';
import { run } from '../harness/commands';
import { kubeClients } from '../harness/kube';
import { observer } from '../harness/observe';
import { SiirtoProcess, siirtoBridge, siirtoWorker } from '../harness/siirto-processes';
import { stack } from '../harness/stack';
import { terminateRunningWorkflows } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import type { RolloutStatus } from '../../schemas/rollout';

/** The example's namespace, from examples/nginx-ingress/. */
const NAMESPACE = 'nginx-shop';
const DOC = path.join(stack.projectDir, 'docs', 'nginx-ingress.md');

/** Every ```sh block of the document, in order. */
function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1]?.trim() ?? '');
}

/**
 * docs/nginx-ingress.md's example, each shell command run verbatim in the order the document gives
 * them, with Siirto's worker and bridge watching the example's namespace.
 */
describe('docs/nginx-ingress.md, run as written', () => {
  const scope = { namespace: NAMESPACE, workflowIdPrefix: `test-nginx-doc-${process.pid}` };
  const see = observer(NAMESPACE);
  const { core } = kubeClients();
  let worker: SiirtoProcess;
  let bridge: SiirtoProcess;

  beforeAll(async () => {
    worker = siirtoWorker(scope, 'worker');
    bridge = siirtoBridge(scope, 'bridge');
    await Promise.all([worker.start(), bridge.start()]);
  });

  afterAll(async () => {
    await Promise.all([worker?.stop(), bridge?.stop()]);
    await terminateRunningWorkflows(`RolloutNamespace = "${NAMESPACE}"`, 'the nginx doc test is over');
    await core.deleteNamespace({ name: NAMESPACE, propagationPolicy: 'Background' }).catch(() => undefined);
  });

  const shell = async (command: string) => {
    const result = await run('bash', ['-c', command], undefined, { KUBECONFIG: stack.kubeconfig });
    if (result.code !== 0) throw new Error(`${command} exited ${result.code}: ${result.stderr}`);
    return result.stdout;
  };
  const status = (accept: (status: RolloutStatus) => boolean, description: string) =>
    waitFor(description, async () => accept(await see.rolloutStatus('checkout')), { timeoutMs: 60_000 });

  it('applies the example, shows the stable Ingress through Traefik, rolls a new image through the canary Ingress to stable, and cleans up', async () => {
    const blocks = shellBlocks(readFileSync(DOC, 'utf8'));
    // What each command is followed by: the state the document says it leads to.
    const after: ((output: string) => Promise<unknown>)[] = [
      () => status((s) => s.phase === 'Healthy' && s.revision === 1, 'r1 to become Healthy'),
      async (output) => expect(JSON.parse(output)).toMatchObject({ version: '1.0.0', code: 200 }),
      () => status((s) => s.phase === 'Paused' && s.currentStepIndex === 1, 'r2 to pause at 20%'),
      async (output) =>
        expect(JSON.parse(output)).toEqual({
          'nginx.ingress.kubernetes.io/canary': 'true',
          'nginx.ingress.kubernetes.io/canary-weight': '20',
        }),
      () => status((s) => s.phase === 'Paused' && s.currentStepIndex === 4, 'r2 to pause at 50%'),
      async (output) =>
        expect(JSON.parse(output)).toMatchObject({
          'nginx.ingress.kubernetes.io/canary-weight': '50',
          'nginx.ingress.kubernetes.io/canary-by-header': 'X-Beta',
          'nginx.ingress.kubernetes.io/canary-by-header-value': '1',
        }),
      () => status((s) => s.phase === 'Healthy' && s.revision === 2, 'r2 to become Healthy'),
      async (output) => {
        expect(output).toMatch(/^NAME\s+CLASS\s+HOSTS/);
        expect(
          output
            .trim()
            .split('\n')
            .slice(1)
            .map((line) => line.split(/\s+/)[0]),
        ).toEqual(['checkout']);
      },
      () =>
        waitFor(
          'the namespace to go',
          async () => !(await shell('kubectl get namespaces -o name')).includes(`namespace/${NAMESPACE}\n`),
        ),
    ];
    expect(blocks).toHaveLength(after.length);
    for (const [index, block] of blocks.entries()) {
      // The curl and the listing after promotion show a state reached a moment later: asked again until then.
      const output =
        index === 1 || index === 7
          ? await waitFor(`"${block}" to show what the document says`, async () => {
              const answer = await shell(block);
              return (
                (await after[index]!(answer).then(
                  () => true,
                  () => false,
                )) && answer
              );
            })
          : await shell(block);
      await after[index]!(output);
    }
  });
});
