import path from 'node:path';
import { POD_TEMPLATE_HASH_LABEL } from '../../kubernetes/labels';
import { run } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';

const app = 'orders';
const SIIRTO = path.join(stack.projectDir, 'cli', 'siirto');

describe('the siirto CLI', () => {
  const scope = isolate('cli');
  const scenario = rolloutScenario(scope, app);
  const siirto = (...args: string[]) => run(SIIRTO, [...args, '-n', scope.namespace]);

  it('lists, shows, promotes, refuses, keeps history, undoes and aborts a rollout', async () => {
    const first = await scenario.firstRevisionHealthy([{ setWeight: 50 }, { pause: {} }]);

    const listed = await siirto('list');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/NAME\s+PHASE\s+STEP\s+WEIGHTS\s+REVISION\s+AGE/);
    expect(listed.stdout).toMatch(new RegExp(`${app}\\s+Healthy\\s+2/2\\s+100/0\\s+1`));
    const asJson = JSON.parse((await siirto('list', '-o', 'json')).stdout) as {
      metadata: { name: string };
    }[];
    expect(asJson.map((rollout) => rollout.metadata.name)).toEqual([app]);

    await setImage(scope.namespace, app, `registry.example/${app}:2`);
    const paused = await scenario.waitForStatus(
      'r2 to pause at 50%',
      (s) => s.revision === 2 && s.phase === 'Paused',
    );
    const shown = await siirto('status', app);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`Rollout ${scope.namespace}/${app}   revision 2   Paused`);
    expect(shown.stdout).toContain('canary 50% / stable 50%');
    expect(shown.stdout).toContain('✓ 1. 50%');
    expect(shown.stdout).toContain('▶ 2. pause until promoted');
    expect(shown.stdout).toMatch(new RegExp(`${app}-${paused.currentTemplateHash} \\(canary\\)  2/2 Ready`));

    const promoted = await siirto('promote', app);
    expect(promoted.stdout).toContain(`promote accepted by ${paused.workflowId}`);
    const watched = await siirto('status', app, '--watch', '--timeout', '60');
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain('Healthy');

    const refused = await siirto('promote', app);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`promote refused: ${paused.workflowId} is not running`);

    const history = await siirto('history', app);
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(new RegExp(`r2\\s+registry.example/${app}:2\\s+Healthy`));
    expect(history.stdout).toMatch(new RegExp(`r1\\s+registry.example/${app}:1\\s+Healthy`));
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

    const aborted = await siirto('abort', app, '--reason', 'wrong build');
    expect(aborted.stdout).toContain('abort accepted');
    await scenario.waitForStatus('r3 to become Degraded', (s) => s.phase === 'Degraded');
    const degraded = await siirto('status', app);
    expect(degraded.code).toBe(1);
    expect(degraded.stdout).toContain('wrong build');
    expect(await scenario.see.serviceSelector(`${app}-stable`)).toMatchObject({
      [POD_TEMPLATE_HASH_LABEL]: paused.currentTemplateHash,
    });
  });

  it('says what is wrong, with exit codes a script can use', async () => {
    const missing = await siirto('status', 'no-such-rollout');
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain(`rollout no-such-rollout not found in namespace ${scope.namespace}`);
    const usage = await siirto('promote');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("siirto promote needs the Rollout's name");
    const unreachable = await run(SIIRTO, [
      'history',
      app,
      '-n',
      scope.namespace,
      '--address',
      '127.0.0.1:1',
    ]);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain('cannot reach Temporal at 127.0.0.1:1');
  });
});
