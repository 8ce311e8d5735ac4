import { run, runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { rolloutManifest } from '../harness/rollout-fixtures';
import { SiirtoProcess, siirtoEnvironment } from '../harness/siirto-processes';

describe('the Rollout resource and the worker, as a platform engineer meets them', () => {
  const scope = isolate('resource');

  it('explains its canary fields with kubectl explain, under its own short name sro', async () => {
    const explained = await runOrThrow('kubectl', ['explain', 'sro.spec.strategy.canary']);
    expect(explained).toContain('Shift traffic to the new revision step by step.');
    // Both Services and trafficRouting are optional: a canary without a router needs none of them.
    expect(explained).toMatch(/stableService\s+<string>\n\s+Service that selects the stable pods/);
    expect(explained).toContain('Required with trafficRouting.');
    expect(explained).toMatch(/trafficRouting\s+<Object>\n/);
    expect(explained).toContain('Service that selects the canary pods');
    const steps = await runOrThrow('kubectl', ['explain', 'sro.spec.strategy.canary.steps.pause.duration']);
    expect(steps).toContain('How long to pause, such as 30s, 5m or 1h30m');
    expect(steps).toContain('or a number of seconds');
  });

  it('rejects a step that is two things at once when it is applied', async () => {
    const manifest = rolloutManifest({
      namespace: scope.namespace,
      app: 'twofold',
      steps: [{ setWeight: 20, pause: { duration: '5s' } }],
    });
    const applied = await run('kubectl', ['apply', '-f', '-'], manifest);
    expect(applied.code).not.toBe(0);
    expect(applied.stderr).toContain('spec.strategy.canary.steps[0]');
    expect(applied.stderr).toContain('set exactly one of setWeight, pause, analysis');
  });

  it('shows phase, step, weight and revision as columns in kubectl get sro', async () => {
    await runOrThrow(
      'kubectl',
      ['apply', '-f', '-'],
      rolloutManifest({ namespace: scope.namespace, app: 'listed', steps: [] }),
    );
    const table = await runOrThrow('kubectl', ['get', 'sro', '-n', scope.namespace, '-o', 'wide']);
    expect(table.split('\n')[0]).toMatch(/NAME\s+PHASE\s+STEP\s+WEIGHT\s+REVISION\s+AGE/);
  });

  it('stops the worker at start with the variable to fix when the Temporal settings are wrong', async () => {
    const worker = new SiirtoProcess(
      'worker/main.ts',
      siirtoEnvironment(scope, {
        TEMPORAL_ADDRESS: 'temporal.example',
        TEMPORAL_TLS_CERT: '/tmp/client.pem',
      }),
      /never/,
      `${scope.namespace}-misconfigured-worker`,
    );
    await expect(worker.start()).rejects.toThrow(/exited with 1/);
    expect(worker.logText()).toContain('TEMPORAL_ADDRESS must be host:port');
    expect(worker.logText()).toContain('TEMPORAL_TLS_KEY is needed with its partner');
  });
});
