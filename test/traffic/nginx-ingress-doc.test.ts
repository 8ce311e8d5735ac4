import { run, type CommandResult } from '../harness/commands';
import { kubeClients } from '../harness/kube';
import { observer } from '../harness/observe';
import { SiirtoProcess, siirtoBridge, siirtoWorker } from '../harness/siirto-processes';
import { stack } from '../harness/stack';
import { terminateRunningWorkflows } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { docShellBlocks } from '../docs/doc-blocks';
import type { RolloutStatus } from '../../schemas/rollout';

/**
 * docs/nginx-ingress.md's example, each shell block read out of the doc and run as written with bash,
 * in the doc's order (CONTRIBUTING.md, "Commands in the docs"), with Siirto's worker and bridge
 * watching the example's namespace. Each block's entry in STEPS checks what it did.
 */

const THIS_FILE = 'test/traffic/nginx-ingress-doc.test.ts';
/** The example's namespace and Rollout, from examples/nginx-ingress/. */
const NAMESPACE = 'nginx-shop';
const ROLLOUT = 'checkout';

interface Step {
  /** Waits for the state the doc's text says the block leads to, and checks it and the block's output. */
  check: (result: CommandResult) => Promise<unknown>;
  /** The block shows a state reached a moment after the one before: run again until it shows it. */
  repeatUntilChecked?: boolean;
}

describe('docs/nginx-ingress.md, run as written', () => {
  const scope = { namespace: NAMESPACE, workflowIdPrefix: `test-nginx-doc-${process.pid}` };
  const see = observer(NAMESPACE);
  const { core } = kubeClients();
  let worker: SiirtoProcess;
  let bridge: SiirtoProcess;

  const status = (description: string, accept: (status: RolloutStatus) => boolean) =>
    waitFor(description, async () => accept(await see.rolloutStatus(ROLLOUT)), { timeoutMs: 60_000 });
  const annotations = (stdout: string) => JSON.parse(stdout) as Record<string, string>;

  /**
   * The first revision's number: 1 on a fresh stack, higher where the example ran before (revisions go
   * on from the Rollout's earlier runs in Temporal).
   */
  let first = 0;

  const STEPS: Record<string, Step> = {
    'nginx-apply': {
      check: async () => {
        const healthy = await waitFor(
          'the first revision to become Healthy',
          async () => {
            const seen = await see.rolloutStatus(ROLLOUT);
            return seen.phase === 'Healthy' && seen;
          },
          { timeoutMs: 60_000 },
        );
        first = healthy.revision ?? 0;
      },
    },
    'nginx-stable-curl': {
      repeatUntilChecked: true,
      check: async ({ stdout }) => expect(JSON.parse(stdout)).toMatchObject({ version: '1.0.0', code: 200 }),
    },
    'nginx-new-image': {
      check: () =>
        status(
          'the new revision to pause at 20%',
          (s) => s.revision === first + 1 && s.phase === 'Paused' && s.currentStepIndex === 1,
        ),
    },
    'nginx-canary-at-20': {
      check: async ({ stdout }) =>
        expect(annotations(stdout)).toEqual({
          'nginx.ingress.kubernetes.io/canary': 'true',
          'nginx.ingress.kubernetes.io/canary-weight': '20',
        }),
    },
    'nginx-promote-to-header-route': {
      check: () =>
        status(
          'the new revision to pause at 50%',
          (s) => s.revision === first + 1 && s.phase === 'Paused' && s.currentStepIndex === 4,
        ),
    },
    'nginx-canary-at-50': {
      check: async ({ stdout }) =>
        expect(annotations(stdout)).toMatchObject({
          'nginx.ingress.kubernetes.io/canary-weight': '50',
          'nginx.ingress.kubernetes.io/canary-by-header': 'X-Beta',
          'nginx.ingress.kubernetes.io/canary-by-header-value': '1',
        }),
    },
    'nginx-promote-to-stable': {
      check: () =>
        status(
          'the new revision to become Healthy',
          (s) => s.revision === first + 1 && s.phase === 'Healthy',
        ),
    },
    'nginx-ingresses-left': {
      repeatUntilChecked: true,
      check: async ({ stdout }) => {
        expect(stdout).toMatch(/^NAME\s+CLASS\s+HOSTS/);
        const names = stdout
          .trim()
          .split('\n')
          .slice(1)
          .map((line) => line.split(/\s+/)[0]);
        expect(names).toEqual(['checkout']);
      },
    },
    'nginx-clean-up': {
      check: async () =>
        expect(
          await core.readNamespace({ name: NAMESPACE }).then(
            () => 'still there',
            () => 'gone',
          ),
        ).toBe('gone'),
    },
  };

  const blocks = docShellBlocks().filter((block) => block.runBy?.file === THIS_FILE);

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

  it('has a step for every block that names it, in the doc’s order, and no step that no block names', () => {
    expect(blocks.map((block) => block.runBy?.id)).toEqual(Object.keys(STEPS));
  });

  // One test: each block leads on from the state the one before left.
  it('applies the example, shows the stable Ingress through Traefik, rolls a new image through the canary Ingress to stable, and cleans up', async () => {
    for (const block of blocks) {
      const step = STEPS[block.runBy?.id ?? ''];
      if (!step) throw new Error(`${block.doc}:${block.line} names an entry STEPS in ${THIS_FILE} lacks`);
      const runBlock = async () => {
        const result = await run('bash', ['-eo', 'pipefail', '-c', block.text], undefined, {
          KUBECONFIG: stack.kubeconfig,
        });
        if (result.code !== 0) {
          throw new Error(
            `${block.doc}:${block.line} exited ${result.code}:\n${block.text}\n${result.stderr}`,
          );
        }
        return result;
      };
      if (step.repeatUntilChecked) {
        await waitFor(`${block.doc}:${block.line} to show what the doc says`, async () =>
          step.check(await runBlock()).then(
            () => true,
            () => false,
          ),
        );
      } else {
        await step.check(await runBlock());
      }
    }
  }, 240_000);
});
