import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RolloutStatus } from '../../schemas/rollout';
import { run, runOrThrow, type CommandResult } from '../harness/commands';
import { kubeClients } from '../harness/kube';
import { observer } from '../harness/observe';
import { patchRolloutSpec } from '../harness/rollout-fixtures';
import { stack } from '../harness/stack';
import { terminateRunningWorkflows } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { docShellBlocks, docSiirtoObjects, type ShellBlock } from './doc-blocks';

/**
 * Every shell block of the docs whose `run-by` line names this file, run as written, in document
 * order, against the sample that the README's first command, `npm run local`, leaves running
 * (CONTRIBUTING.md, "Commands in the docs"). Each block's entry in STEPS brings the sample to the
 * state the block's text speaks of, and checks on the cluster what the block did.
 */

const THIS_FILE = 'test/docs/doc-commands.test.ts';
/** The sample of examples/canary/. */
const NAMESPACE = 'shop';
const ROLLOUT = 'checkout';
/** Steps whose pauses wait for a promote, as docs/cli.md gives the sample before driving it. */
const STEPS_WAITING_FOR_PROMOTE = [
  { setWeight: 20 },
  { pause: {} },
  { setWeight: 50 },
  { pause: {} },
  { setWeight: 100 },
];
/** The namespace and cluster-wide objects deploy/overlays/production creates besides the CRDs. */
const DEPLOY_NAMESPACE = 'siirto-system';
const DEPLOY_CLUSTER_OBJECTS = ['clusterrole/siirto-bridge', 'clusterrole/siirto-worker'].flatMap(
  (object) => [object, object.replace('clusterrole/', 'clusterrolebinding/')],
);

interface Step {
  /** Brings the sample to the state the block's text assumes. */
  before?: () => Promise<void>;
  /** Runs the block; by default its text with bash in the project's directory, which must exit 0. */
  run?: (block: ShellBlock) => Promise<CommandResult>;
  /** Where the block runs, when not in the project's directory. */
  directory?: () => string;
  /** Checks what the block did, from its output and on the cluster. */
  check: (result: CommandResult) => Promise<void>;
  timeoutMs?: number;
}

describe('the commands the docs show, run as written against the sample of npm run local', () => {
  const { apps, core, custom } = kubeClients();
  const sample = observer(NAMESPACE);
  /** What the docs' commands find: the stack's tools, and `siirto` as `npm install -g .` installs it. */
  const { SIIRTO_WATCH_NAMESPACE: _watched, ...testEnvironment } = process.env;
  const environment = {
    ...testEnvironment,
    PATH: `${path.join(stack.projectDir, 'cli')}:${process.env.PATH ?? ''}`,
  };
  let sampleExisted = true;
  let deployed: { namespace: boolean; clusterObjects: string[] } | undefined;
  let local: { process: ChildProcess; output: () => string; closed: Promise<void> } | undefined;
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'siirto-doc-commands-'));
  const apiKey = `key-${randomBytes(8).toString('hex')}`;

  const status = (): Promise<RolloutStatus> => sample.rolloutStatus(ROLLOUT);
  const waitForStatus = (description: string, test: (status: RolloutStatus) => boolean) =>
    waitFor(
      description,
      async () => {
        const now = await status();
        return test(now) && now;
      },
      { timeoutMs: 90_000 },
    );
  const waitingAtStep = (index: number, revision?: number) => (s: RolloutStatus) =>
    s.phase === 'Paused' &&
    s.currentStepIndex === index &&
    (revision === undefined || s.revision === revision);

  /** The current revision waits at its first pause: the one there, or a new image rolled out to it. */
  async function aRevisionWaitingAtItsFirstPause(): Promise<RolloutStatus> {
    const now = await status();
    if (waitingAtStep(1)(now)) return now;
    await patchRolloutSpec(NAMESPACE, ROLLOUT, {
      strategy: { canary: { steps: STEPS_WAITING_FOR_PROMOTE } },
    });
    const image = `registry.example/checkout:docs-${Date.now()}`;
    await runOrThrow('kubectl', [
      ...['patch', 'rollouts.siirto.dev', ROLLOUT, '-n', NAMESPACE, '--type', 'json', '-p'],
      JSON.stringify([{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: image }]),
    ]);
    return waitForStatus(
      `a new revision after r${now.revision} to wait at its first pause`,
      (s) => (s.revision ?? 0) > (now.revision ?? 0) && waitingAtStep(1)(s),
    );
  }

  async function degradedWith(reason: string, revision?: number): Promise<void> {
    const degraded = await waitForStatus(
      `the Rollout to be Degraded, saying "${reason}"`,
      (s) => s.phase === 'Degraded' && (s.message ?? '').includes(reason),
    );
    if (revision !== undefined) expect(degraded.revision).toBe(revision);
    expect(await sample.routeWeights(ROLLOUT)).toEqual({ 'checkout-stable': 100, 'checkout-canary': 0 });
  }

  /** The sample's Rollout as the apiserver has it. */
  async function sampleRollout(): Promise<{
    metadata?: { annotations?: Record<string, string> };
    spec: { strategy: { canary: { steps: unknown[] } } };
  }> {
    return (await custom.getNamespacedCustomObject({
      group: 'siirto.dev',
      version: 'v1alpha1',
      namespace: NAMESPACE,
      plural: 'rollouts',
      name: ROLLOUT,
    })) as Awaited<ReturnType<typeof sampleRollout>>;
  }

  /** The revision a step began with, for its check. */
  let revision = 0;
  const remember = async (seen: Promise<RolloutStatus>): Promise<void> => {
    revision = (await seen).revision ?? 0;
  };

  const STEPS: Record<string, Step> = {
    'quick-start': {
      // `npm install && ` is left out: the test run stands on an installed project.
      run: async (block) => {
        const command = block.text.replace(/^npm install && /, '');
        // In a process group of its own, as in a terminal, so that Ctrl-C reaches all of it.
        const child = spawn('bash', ['-c', command], {
          cwd: stack.projectDir,
          env: testEnvironment,
          detached: true,
        });
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
        local = { process: child, output: () => output, closed };
        await waitFor('the sample canary to finish', () => output.includes('Done.') || !child.pid, {
          timeoutMs: 150_000,
        });
        return { code: 0, stdout: output, stderr: '' };
      },
      check: async ({ stdout: output }) => {
        const rolledOut = output.split('rolling out ')[1] ?? '';
        // At 20% during the first pause, then Healthy on the same, new, revision.
        const paused = rolledOut.match(
          /Paused\s+2\/5\s+80\s+20\s+(\d+)\s+step 2\/5: paused 10s or until promoted/,
        );
        expect(paused).not.toBeNull();
        const shown = paused?.[1];
        expect(rolledOut).toMatch(new RegExp(`Paused\\s+4/5\\s+50\\s+50\\s+${shown}\\s`));
        // Beside each weight, the share of the load the new version really answered through the
        // gateway: a window of 80 to 120 requests, whose edges may each hold a few in flight.
        const newVersion = /rolling out registry\.example\/checkout:(\S+)/.exec(output)?.[1] ?? '';
        for (const weight of [20, 50]) {
          const line = new RegExp(
            `Paused\\s+\\d/5\\s+${100 - weight}\\s+${weight}\\s.*\\n\\s+traffic .*${weight}% → ([\\d.]+)% ${newVersion} `,
          );
          const share = Number(line.exec(rolledOut)?.[1]);
          expect(Math.abs(share - weight)).toBeLessThanOrEqual(5);
        }
        expect(rolledOut).toMatch(
          new RegExp(`traffic  100% → 100\\.0% ${newVersion} \\(of \\d+ requests\\)`),
        );
        expect(rolledOut).toMatch(
          new RegExp(`Healthy\\s+5/5\\s+100\\s+0\\s+${shown}\\s+r${shown} is stable`),
        );
        // What the script printed is what the cluster holds.
        expect(await status()).toMatchObject({ phase: 'Healthy', revision: Number(shown) });
        expect(await sample.routeWeights(ROLLOUT)).toEqual({ 'checkout-stable': 100, 'checkout-canary': 0 });
      },
      timeoutMs: 180_000,
    },
    'search-attributes': {
      check: async ({ stdout }) => {
        const { workflowId } = await status();
        expect(workflowId).toBeTruthy();
        expect(stdout).toContain(workflowId);
      },
    },
    'pause-until-promoted': {
      before: () => remember(status()),
      check: async () => {
        expect((await sampleRollout()).spec.strategy.canary.steps).toEqual(STEPS_WAITING_FOR_PROMOTE);
        // Steps are no pod template: no new revision.
        expect(await status()).toMatchObject({ phase: 'Healthy', revision });
      },
    },
    'new-image': {
      before: () => remember(status()),
      check: async () => {
        await waitForStatus(`r${revision + 1} to wait at its first pause`, waitingAtStep(1, revision + 1));
        expect(await sample.routeWeights(ROLLOUT)).toEqual({ 'checkout-stable': 80, 'checkout-canary': 20 });
      },
    },
    'temporal-promote': {
      before: () => remember(aRevisionWaitingAtItsFirstPause()),
      check: async () => {
        await waitForStatus(
          `r${revision} to be Healthy`,
          (s) => s.revision === revision && s.phase === 'Healthy',
        );
        expect(await sample.routeWeights(ROLLOUT)).toEqual({ 'checkout-stable': 100, 'checkout-canary': 0 });
      },
    },
    'temporal-abort': {
      before: () => remember(aRevisionWaitingAtItsFirstPause()),
      check: () => degradedWith('error budget', revision),
    },
    tctl: {
      before: async () => {
        const tctl = path.join(stack.binDir, 'tctl');
        // Missing, it fails naming the fix rather than skipping: users' tctl commands must work.
        if (!existsSync(tctl)) {
          throw new Error(
            `tctl is not installed at ${tctl}: run npm run stack:install, whose output says why`,
          );
        }
        await remember(aRevisionWaitingAtItsFirstPause());
      },
      check: () => degradedWith('error budget', revision),
    },
    'annotate-retry': {
      before: () => remember(waitForStatus('an aborted revision', (s) => s.phase === 'Degraded')),
      check: async () => {
        await waitForStatus(`r${revision} to run its steps again`, waitingAtStep(1, revision));
        await waitFor(
          'the bridge to remove the delivered annotation',
          async () => !('siirto.dev/retry' in ((await sampleRollout()).metadata?.annotations ?? {})),
        );
      },
    },
    'annotate-promote': {
      before: () => remember(waitForStatus('a revision at its first pause', waitingAtStep(1))),
      check: async () => {
        await waitForStatus(`r${revision} to wait at its second pause`, waitingAtStep(3, revision));
        expect(await sample.routeWeights(ROLLOUT)).toEqual({ 'checkout-stable': 50, 'checkout-canary': 50 });
      },
    },
    'annotate-abort': {
      before: () => remember(status()),
      check: () => degradedWith('error budget', revision),
    },
    'update-and-query': {
      before: () => remember(aRevisionWaitingAtItsFirstPause()),
      check: async ({ stdout }) => {
        expect(stdout).toContain(String(revision));
        await waitForStatus(`r${revision} to wait at its second pause`, waitingAtStep(3, revision));
      },
    },
    'cli-promote-abort': {
      before: () => remember(aRevisionWaitingAtItsFirstPause()),
      check: async ({ stdout }) => {
        const { workflowId } = await status();
        expect(stdout).toMatch(new RegExp(`${ROLLOUT}\\s+Paused\\s+2/5\\s+80/20\\s+${revision}`));
        expect(stdout).toContain(`Rollout ${NAMESPACE}/${ROLLOUT}   revision ${revision}   Paused`);
        expect(stdout).toContain(`promote accepted by ${workflowId}`);
        expect(stdout).toContain(`abort accepted by ${workflowId}`);
        await degradedWith('5xx', revision);
      },
    },
    'cli-retry-promote-watch': {
      before: () => remember(waitForStatus('an aborted revision', (s) => s.phase === 'Degraded')),
      check: async ({ stdout }) => {
        expect(stdout).toContain('retry accepted by');
        expect(stdout).toContain('full promote accepted by');
        expect(stdout).toContain(`r${revision} is stable`);
        expect(await status()).toMatchObject({ phase: 'Healthy', revision });
        expect(await sample.routeWeights(ROLLOUT)).toEqual({ 'checkout-stable': 100, 'checkout-canary': 0 });
      },
    },
    'cli-history-undo': {
      before: () => remember(waitForStatus('a Healthy revision', (s) => s.phase === 'Healthy')),
      check: async ({ stdout }) => {
        expect(stdout).toMatch(/REVISION\s+IMAGE\s+OUTCOME\s+STARTED\s+DURATION\s+BY\s+MESSAGE\s+WEB UI/);
        expect(stdout).toMatch(
          new RegExp(`^r${revision}\\s+registry\\.example/checkout:\\S+\\s+Healthy`, 'm'),
        );
        expect(stdout).toMatch(
          new RegExp(`template of revision \\d+ restored; it rolls out as revision ${revision + 1}`),
        );
        await waitForStatus(`r${revision + 1} to wait at its first pause`, waitingAtStep(1, revision + 1));
      },
    },
    'deploy-production': {
      before: async () => {
        const present = await run('kubectl', [
          'get',
          ...DEPLOY_CLUSTER_OBJECTS,
          '--ignore-not-found',
          '-o',
          'name',
        ]);
        deployed = {
          namespace: await core.readNamespace({ name: DEPLOY_NAMESPACE }).then(
            () => true,
            () => false,
          ),
          clusterObjects: present.stdout.split('\n').filter(Boolean),
        };
      },
      check: async ({ stdout }) => {
        // First what would be applied, then the same on the apiserver.
        expect(stdout).toMatch(/^kind: Deployment$/m);
        expect(stdout).toContain('TEMPORAL_TLS_CERT: /etc/siirto/temporal-tls/tls.crt');
        const [bridge, worker] = await Promise.all(
          ['siirto-bridge', 'siirto-worker'].map((name) =>
            apps.readNamespacedDeployment({ name, namespace: DEPLOY_NAMESPACE }),
          ),
        );
        expect(bridge?.spec?.replicas).toBe(2);
        expect(worker?.spec?.replicas).toBe(3);
      },
    },
    'api-key-secret': {
      before: async () => {
        writeFileSync(path.join(scratch, 'api-key.txt'), apiKey);
        await core
          .readNamespace({ name: DEPLOY_NAMESPACE })
          .catch(() => core.createNamespace({ body: { metadata: { name: DEPLOY_NAMESPACE } } }));
        await core
          .deleteNamespacedSecret({ name: 'siirto-temporal-api-key', namespace: DEPLOY_NAMESPACE })
          .catch(() => undefined);
      },
      directory: () => scratch,
      check: async () => {
        const secret = await core.readNamespacedSecret({
          name: 'siirto-temporal-api-key',
          namespace: DEPLOY_NAMESPACE,
        });
        expect(Buffer.from(secret.data?.TEMPORAL_API_KEY ?? '', 'base64').toString()).toBe(apiKey);
      },
    },
  };

  const blocks = docShellBlocks().filter((block) => block.runBy?.file === THIS_FILE);

  beforeAll(async () => {
    sampleExisted = await core.readNamespace({ name: NAMESPACE }).then(
      () => true,
      () => false,
    );
  });

  afterAll(async () => {
    // Still running when a test before the Ctrl-C one failed: its whole process group goes.
    if (local?.process.pid && local.process.exitCode === null && local.process.signalCode === null) {
      try {
        process.kill(-local.process.pid, 'SIGTERM');
        await local.closed;
      } catch {
        // Gone between the check and the kill.
      }
    }
    rmSync(scratch, { recursive: true, force: true });
    if (deployed) {
      if (!deployed.namespace) {
        await core
          .deleteNamespace({ name: DEPLOY_NAMESPACE, propagationPolicy: 'Background' })
          .catch(() => undefined);
      }
      const created = DEPLOY_CLUSTER_OBJECTS.filter(
        (object) =>
          !deployed?.clusterObjects.some((present) => present.endsWith(object.replace(/^[a-z]+\//, '/'))),
      );
      if (created.length > 0) await run('kubectl', ['delete', ...created, '--ignore-not-found']);
    }
    // A sample someone was trying out stays; one this test made goes.
    if (sampleExisted) return;
    await terminateRunningWorkflows(`RolloutNamespace = "${NAMESPACE}"`, 'the doc commands test is over');
    await core.deleteNamespace({ name: NAMESPACE, propagationPolicy: 'Background' });
  });

  it('has a step for every block that names it, and no step that no block names', () => {
    const named = blocks.map((block) => block.runBy?.id ?? '');
    expect(named.filter((id) => !(id in STEPS))).toEqual([]);
    expect(Object.keys(STEPS).filter((id) => !named.includes(id))).toEqual([]);
  });

  for (const block of blocks) {
    const id = block.runBy?.id ?? '';
    const step = STEPS[id];
    it(
      `runs ${block.doc}:${block.line} (${id}) as written, and it does what the doc says`,
      async () => {
        if (!step)
          throw new Error(`${block.doc}:${block.line} names '${id}', which STEPS in ${THIS_FILE} lacks`);
        await step.before?.();
        const result = step.run
          ? await step.run(block)
          : await run(
              'bash',
              ['-eo', 'pipefail', '-c', block.text],
              undefined,
              environment,
              step.directory?.() ?? stack.projectDir,
            );
        if (result.code !== 0) {
          throw new Error(
            `${block.doc}:${block.line} exited ${result.code}:\n${block.text}\n${result.stderr || result.stdout}`,
          );
        }
        await step.check(result);
      },
      step?.timeoutMs ?? 150_000,
    );
  }

  it('shows Siirto objects the apiserver takes as written: a server-side dry run, strict about fields', async () => {
    const shown = docSiirtoObjects();
    expect(shown.length).toBeGreaterThanOrEqual(5);
    const refused: string[] = [];
    for (const { where, what, object } of shown) {
      const result = await run(
        'kubectl',
        ['apply', '--dry-run=server', '--validate=strict', '-f', '-'],
        JSON.stringify(object),
      );
      if (result.code !== 0) refused.push(`${where} ${what}: ${result.stderr.trim()}`);
    }
    expect(refused).toEqual([]);
  });

  it('stops the worker and the bridge of npm run local on Ctrl-C, and keeps the stack running', async () => {
    if (!local?.process.pid) throw new Error('npm run local was not started');
    process.kill(-local.process.pid, 'SIGINT');
    await local.closed;
    expect(local.output()).toContain('worker and bridge stopped; the stack keeps running');
  });
});
