import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { POD_TEMPLATE_HASH_LABEL } from '../../kubernetes/labels';
import type { RolloutStatus } from '../../schemas/rollout';
import { run } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { literal } from '../harness/literal-pattern';
import { kubectlApply, setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';

const app = 'orders';
const SIIRTO = path.join(stack.projectDir, 'cli', 'siirto');
const CHECK = 'orders-check';
/** Who the CLI says sent a command. */
const BY = `${process.env.USER ?? 'someone'} (siirto CLI)`;

interface PastRollout {
  revision: number;
  outcome: string;
  by?: string;
  message: string;
  durationSeconds?: number;
  link: string;
}

describe('the siirto CLI', () => {
  const scope = isolate('cli');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app, {
    workerEnvironment: () => ({ SIIRTO_PROMETHEUS_URL: stack.prometheusUrl }),
  });
  const siirto = (...args: string[]) => run(SIIRTO, [...args, '-n', namespace]);
  const started: ChildProcess[] = [];

  /** Runs the CLI in the background, its output readable while it runs, as for `status --watch`. */
  function startSiirto(...args: string[]) {
    const child = spawn(SIIRTO, [...args, '-n', namespace], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exitCode = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    return { output: () => stdout, exitCode };
  }

  beforeAll(async () => {
    // Prometheus' own constant needs no traffic; the count keeps the analysis measuring for longer
    // than any test here waits, so only a full promote or an abort ends its step.
    await kubectlApply(
      JSON.stringify({
        apiVersion: 'siirto.dev/v1alpha1',
        kind: 'AnalysisTemplate',
        metadata: { name: CHECK, namespace },
        spec: {
          metrics: [
            {
              name: CHECK,
              interval: '1s',
              count: 600,
              successCondition: 'result < 1',
              provider: { prometheus: { query: 'vector(0.25)' } },
            },
          ],
        },
      }),
    );
  });

  afterEach(() => {
    for (const child of started.splice(0)) if (child.exitCode === null) child.kill();
  });

  const measuredTwice = (revision: number) => (status: RolloutStatus) =>
    status.revision === revision &&
    status.analysis?.step?.revision === revision &&
    (status.analysis.step.metrics[0]?.successful ?? 0) >= 2;

  // A whole journey of about twenty CLI runs (each a Node start of a few seconds on a busy two-core
  // machine) and three revisions: every wait in it has its own deadline, so the test's own limit only
  // bounds the sum.
  it('lists, shows, promotes, refuses, aborts, retries, keeps history and undoes a rollout', async () => {
    const first = await scenario.firstRevisionHealthy([
      { setWeight: 50 },
      { pause: {} },
      { analysis: { templates: [{ templateName: CHECK }] } },
    ]);

    const [listed, listedAsJson] = await Promise.all([siirto('list'), siirto('list', '-o', 'json')]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/NAME\s+PHASE\s+STEP\s+WEIGHTS\s+REVISION\s+AGE/);
    expect(listed.stdout).toMatch(new RegExp(`${app}\\s+Healthy\\s+3/3\\s+100/0\\s+1`));
    const asJson = JSON.parse(listedAsJson.stdout) as { metadata: { name: string } }[];
    expect(asJson.map((rollout) => rollout.metadata.name)).toEqual([app]);

    // r2 pauses at its second step.
    await setImage(namespace, app, `registry.example/${app}:2`);
    const paused = await scenario.waitForStatus(
      'r2 to pause at 50%',
      (s) => s.revision === 2 && s.phase === 'Paused',
    );
    // Independent reads, side by side: each CLI run takes a moment to start.
    const [shown, listedPaused, asYaml, withoutTemporal] = await Promise.all([
      siirto('status', app),
      siirto('list'),
      siirto('status', app, '-o', 'yaml'),
      // Without Temporal the view still stands, from the Rollout's status.
      siirto('status', app, '--address', '127.0.0.1:1'),
    ]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`Rollout ${namespace}/${app}   revision 2   Paused`);
    expect(shown.stdout).toContain('canary 50% / stable 50%');
    expect(shown.stdout).toContain('✓ 1. 50%');
    expect(shown.stdout).toContain('▶ 2. pause until promoted');
    expect(shown.stdout).toMatch(new RegExp(`${app}-${paused.currentTemplateHash} \\(canary\\)  2/2 Ready`));
    // Steps count from 1 in the list too, as in the status.
    expect(listedPaused.stdout).toMatch(new RegExp(`${app}\\s+Paused\\s+2/3\\s+50/50\\s+2`));
    expect(asYaml.code).toBe(0);
    expect(k8s.loadYaml(asYaml.stdout)).toMatchObject({
      phase: 'Paused',
      revision: 2,
      currentStepIndex: 1,
      weights: { stable: 50, canary: 50 },
      workflowId: paused.workflowId,
    });
    expect(withoutTemporal.code).toBe(0);
    expect(withoutTemporal.stdout).toContain('▶ 2. pause until promoted');
    expect(withoutTemporal.stdout).toContain(
      'pause: time left unknown (cannot reach Temporal at 127.0.0.1:1',
    );

    // A promote ends the pause; the analysis step that follows is no pause for a plain promote.
    const promoted = await siirto('promote', app);
    expect(promoted.stdout).toContain(`promote accepted by ${paused.workflowId}`);
    await scenario.waitForStatus('r2 to measure its analysis twice', measuredTwice(2));
    const [analysing, notPaused] = await Promise.all([siirto('status', app), siirto('promote', app)]);
    expect(analysing.stdout).toContain('▶ 3. analysis');
    expect(analysing.stdout).toContain('  analysis\n    step 3: Running');
    expect(analysing.stdout).toMatch(
      new RegExp(
        `      ${CHECK}  Running  \\d+ successful, 0 failed, 0 inconclusive, 0 errors  last Successful 0.25: `,
      ),
    );
    expect(notPaused.code).toBe(1);
    expect(notPaused.stderr).toContain(
      `promote refused: nothing to promote: ${namespace}/${app} r2 is not paused; use full`,
    );

    // A watch that sees the rollout go Degraded exits 1.
    const watch = startSiirto('status', app, '--watch', '--timeout', '60');
    await waitFor('the watch to show the analysis', () => watch.output().includes(CHECK));
    const aborted = await siirto('abort', app, '--reason', 'bad canary');
    expect(aborted.stdout).toContain(`abort accepted by ${paused.workflowId}`);
    expect(await watch.exitCode).toBe(1);
    expect(watch.output()).toContain(`revision 2   Degraded\n  aborted by ${BY}: bad canary`);
    expect(watch.output()).toContain('    step 3: Stopped');

    // A retry runs the steps again; a full promote at the pause skips the rest, the analysis too.
    const retried = await siirto('retry', app);
    expect(retried.stdout).toContain(`retry accepted by ${paused.workflowId} (was Degraded`);
    await scenario.waitForStatus('r2 to pause again', (s) => s.revision === 2 && s.phase === 'Paused');
    const full = await siirto('promote', app, '--full');
    expect(full.stdout).toContain(`full promote accepted by ${paused.workflowId} (was Paused at step 2/3)`);
    const watched = await siirto('status', app, '--watch', '--timeout', '60');
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain(`r2 is stable (promoted by ${BY})`);

    const [refused, history] = await Promise.all([siirto('promote', app), siirto('history', app)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`promote refused: ${paused.workflowId} is not running`);

    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(/REVISION\s+IMAGE\s+OUTCOME\s+STARTED\s+DURATION\s+BY\s+MESSAGE\s+WEB UI/);
    expect(history.stdout).toMatch(
      new RegExp(
        `r2\\s+registry.example/${app}:2\\s+Healthy\\s+\\d+s ago\\s+\\d+s\\s+${literal(BY)}\\s+r2 is stable`,
      ),
    );
    expect(history.stdout).toMatch(
      new RegExp(`r1\\s+registry.example/${app}:1\\s+Healthy\\s+.*\\d+s\\s+-\\s+`),
    );
    expect(history.stdout).toContain(`${stack.temporalUiUrl}/namespaces/default/workflows/`);

    // Undo brings revision 1's template back as revision 3, on revision 1's ReplicaSet.
    const undone = await siirto('undo', app);
    expect(undone.stdout).toContain('template of revision 1 restored; it rolls out as revision 3');
    const third = await scenario.waitForStatus(
      'r3 to pause at 50%',
      (s) => s.revision === 3 && s.phase === 'Paused',
    );
    expect(third.currentTemplateHash).toBe(first.stableTemplateHash);
    const replicaSets = await scenario.see.replicaSets(app);
    expect(replicaSets.filter((rs) => rs.hash === first.stableTemplateHash)).toHaveLength(1);
    expect(replicaSets.every((rs) => rs.name === `${app}-${rs.hash}`)).toBe(true);

    await siirto('abort', app, '--reason', 'wrong build');
    await scenario.waitForStatus('r3 to become Degraded', (s) => s.phase === 'Degraded');
    const degraded = await siirto('status', app);
    expect(degraded.code).toBe(1);
    expect(degraded.stdout).toContain('wrong build');
    expect(await scenario.see.serviceSelector(`${app}-stable`)).toMatchObject({
      [POD_TEMPLATE_HASH_LABEL]: paused.currentTemplateHash,
    });

    // r3 still runs, waiting for a retry: who aborted it comes from the rollout itself.
    const past = JSON.parse((await siirto('history', app, '-o', 'json')).stdout) as PastRollout[];
    expect(past.map(({ revision, outcome, by }) => ({ revision, outcome, by }))).toEqual([
      { revision: 3, outcome: 'Degraded', by: BY },
      { revision: 2, outcome: 'Healthy', by: BY },
      { revision: 1, outcome: 'Healthy' },
    ]);
    expect(past[0]).toMatchObject({ message: `aborted by ${BY}: wrong build` });
    expect(past[0]?.durationSeconds).toBeUndefined();
    expect(past[0]?.link).toBe(
      `${stack.temporalUiUrl}/namespaces/default/workflows/${encodeURIComponent(`${namespace}/${app}/r3`)}`,
    );
  }, 300_000);

  it('says what is wrong, with exit codes a script can use', async () => {
    const [missing, usage, nameAndAll, timeout, halfCertificate, unreadable, unreachable] = await Promise.all(
      [
        siirto('status', 'no-such-rollout'),
        siirto('promote'),
        siirto('promote', app, '-l', 'app=other'),
        siirto('status', app, '--watch', '--timeout', 'soon'),
        siirto('history', app, '--tls-cert-path', '/etc/siirto/tls.crt'),
        siirto(
          'history',
          app,
          '--tls-cert-path',
          '/nonexistent/tls.crt',
          '--tls-key-path',
          '/nonexistent/tls.key',
        ),
        siirto('history', app, '--address', '127.0.0.1:1'),
      ],
    );
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain(`rollout no-such-rollout not found in namespace ${namespace}`);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("siirto promote needs the Rollout's name");
    expect(nameAndAll.code).toBe(2);
    expect(nameAndAll.stderr).toContain(
      "siirto promote takes either a Rollout's name or --all (with -l SELECTOR to pick by labels)",
    );
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toContain('siirto: --timeout "soon" is not a number of seconds');
    expect(halfCertificate.code).toBe(2);
    expect(halfCertificate.stderr).toContain(
      'siirto: invalid Temporal settings: --tls-key-path is needed with its partner: ' +
        'a client certificate for mTLS takes both --tls-cert-path and --tls-key-path; set both, or neither',
    );
    expect(unreadable.code).toBe(2);
    expect(unreadable.stderr).toMatch(
      /siirto: --tls-cert-path=\/nonexistent\/tls.crt cannot be read .*ENOENT/,
    );
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain('cannot reach Temporal at 127.0.0.1:1');
    expect(unreachable.stderr).toContain('check --address');
  });
});
