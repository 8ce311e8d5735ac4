import { spawn } from 'node:child_process';
import { kubeClients } from '../harness/kube';
import { observer } from '../harness/observe';
import { stack } from '../harness/stack';
import { terminateRunningWorkflows } from '../harness/temporal';
import { waitFor } from '../harness/wait';

/** The sample's namespace, from examples/canary/. */
const SAMPLE_NAMESPACE = 'shop';

/**
 * The README's first command, `npm run local`: the worker and bridge on embedded defaults, the sample
 * app and Rollout applied, and a new image shown progressing through its steps to Healthy.
 */
describe('npm run local', () => {
  const { core } = kubeClients();
  let sampleExisted = true;

  beforeAll(async () => {
    sampleExisted = await core.readNamespace({ name: SAMPLE_NAMESPACE }).then(
      () => true,
      () => false,
    );
  });

  afterAll(async () => {
    // A sample someone was trying out stays; one this test made goes.
    if (sampleExisted) return;
    await terminateRunningWorkflows(
      `RolloutNamespace = "${SAMPLE_NAMESPACE}"`,
      'the quick-start test is over',
    );
    await core.deleteNamespace({ name: SAMPLE_NAMESPACE, propagationPolicy: 'Background' });
  });

  it('rolls the sample out and shows a new image shifted step by step to Healthy, then stops on Ctrl-C', async () => {
    // On its defaults: nothing of the test run's own configuration reaches it.
    const { SIIRTO_WATCH_NAMESPACE: _watched, ...env } = process.env;
    const local = spawn('bash', ['scripts/run-local.sh'], { cwd: stack.projectDir, env });
    let output = '';
    local.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    local.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => local.once('exit', (code) => resolve(code)));
    try {
      await waitFor('the sample canary to finish', () => output.includes('Done.'), { timeoutMs: 120_000 });
    } finally {
      local.kill('SIGINT');
    }
    await exited;

    const rolledOut = output.split('rolling out ')[1] ?? '';
    // At 20% during the first pause, then Healthy on the same, new, revision.
    const paused = rolledOut.match(
      /Paused\s+2\/5\s+80\s+20\s+(\d+)\s+step 2\/5: paused 10s or until promoted/,
    );
    expect(paused).not.toBeNull();
    const revision = paused?.[1];
    expect(rolledOut).toMatch(new RegExp(`Paused\\s+4/5\\s+50\\s+50\\s+${revision}\\s`));
    // Beside each weight, the share of the load the new version really answered through the gateway:
    // a window of 80 to 120 requests, whose edges may each hold a few in flight.
    const newVersion = /rolling out registry\.example\/checkout:(\S+)/.exec(output)?.[1] ?? '';
    for (const weight of [20, 50]) {
      const line = new RegExp(
        `Paused\\s+\\d/5\\s+${100 - weight}\\s+${weight}\\s.*\\n\\s+traffic .*${weight}% → ([\\d.]+)% ${newVersion} `,
      );
      const share = Number(line.exec(rolledOut)?.[1]);
      expect(Math.abs(share - weight)).toBeLessThanOrEqual(5);
    }
    expect(rolledOut).toMatch(new RegExp(`traffic  100% → 100\\.0% ${newVersion} \\(of \\d+ requests\\)`));
    expect(rolledOut).toMatch(
      new RegExp(`Healthy\\s+5/5\\s+100\\s+0\\s+${revision}\\s+r${revision} is stable`),
    );
    expect(output).toContain('worker and bridge stopped; the stack keeps running');
    // What the script printed is what the cluster holds.
    const sample = observer(SAMPLE_NAMESPACE);
    expect(await sample.rolloutStatus('checkout')).toMatchObject({
      phase: 'Healthy',
      revision: Number(revision),
    });
    expect(await sample.routeWeights('checkout')).toEqual({ 'checkout-stable': 100, 'checkout-canary': 0 });
  }, 180_000);
});
