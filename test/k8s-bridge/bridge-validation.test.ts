import type { Client } from '@temporalio/client';
import type { RolloutStatus } from '../../schemas/rollout';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { observer } from '../harness/observe';
import { kubectlApply, rolloutManifest, servicesAndRoute } from '../harness/rollout-fixtures';
import { siirtoBridge, type SiirtoProcess } from '../harness/siirto-processes';
import { temporalClient, terminateRunningWorkflows } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { bridgeProbes, reconcilesLogged } from './bridge-probes';

interface Manifest {
  spec: {
    template: { metadata: { labels: Record<string, string> } };
    strategy: {
      canary: { stableService: string; canaryService: string; trafficRouting: unknown; steps: unknown[] };
    };
  };
}

/**
 * Each Rollout below is wrong in one way the CRD cannot catch. The bridge must say which field and
 * how to fix it (status, condition, one Warning Event), start nothing, and pick the Rollout up once
 * it is fixed, by an edit or by creating what was missing, without a restart.
 */
describe('the bridge refuses a Rollout it cannot roll out, and says why', () => {
  const scope = isolate('bridge-validation');
  const { namespace } = scope;
  const see = observer(namespace);
  let bridge: SiirtoProcess;
  let client: Client;
  let probes: ReturnType<typeof bridgeProbes>;
  /** Where the bridge's log stood when the Rollouts were applied. */
  let appliedAt: number;

  /** A Rollout routed through the shared `web` Services and route, changed by `edit`. */
  const invalidRollout = (
    name: string,
    edit: (manifest: Manifest) => void,
    steps: unknown[] = [{ setWeight: 20 }],
  ) => {
    const manifest = JSON.parse(rolloutManifest({ namespace, app: name, steps })) as Manifest;
    Object.assign(manifest.spec.strategy.canary, {
      stableService: 'web-stable',
      canaryService: 'web-canary',
      trafficRouting: { gatewayAPI: { httpRoute: 'web' } },
    });
    edit(manifest);
    return JSON.stringify(manifest);
  };
  const routeTo = (name: string, ...services: string[]) =>
    JSON.stringify({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name, namespace },
      spec: { rules: [{ backendRefs: services.map((service) => ({ name: service, port: 80 })) }] },
    });
  const useRoute = (route: string) => (manifest: Manifest) => {
    manifest.spec.strategy.canary.trafficRouting = { gatewayAPI: { httpRoute: route } };
  };

  const cases: { name: string; manifest: () => string; message: string }[] = [
    {
      name: 'unreadable-pause',
      manifest: () =>
        invalidRollout('unreadable-pause', () => {}, [
          { setWeight: 20 },
          { pause: { duration: '5 minutes' } },
        ]),
      message:
        'spec.strategy.canary.steps[1].pause.duration: "5 minutes" is not a duration; write it like 30s, 5m or 1h30m',
    },
    {
      name: 'overweight',
      manifest: () => invalidRollout('overweight', () => {}, [{ setWeight: 150 }]),
      message: 'spec.strategy.canary.steps[0].setWeight: 150 is above 100',
    },
    {
      name: 'missing-stable',
      manifest: () =>
        invalidRollout('missing-stable', (m) => {
          m.spec.strategy.canary.stableService = 'late-stable';
          useRoute('to-late-stable')(m);
        }),
      message: `spec.strategy.canary.stableService: Service "late-stable" not found in namespace ${namespace}; create it`,
    },
    {
      name: 'missing-canary',
      manifest: () =>
        invalidRollout('missing-canary', (m) => (m.spec.strategy.canary.canaryService = 'absent-canary')),
      message: `spec.strategy.canary.canaryService: Service "absent-canary" not found in namespace ${namespace}`,
    },
    {
      name: 'missing-route',
      manifest: () => invalidRollout('missing-route', useRoute('late-route')),
      message: `spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute: HTTPRoute "late-route" not found in namespace ${namespace}`,
    },
    {
      name: 'route-without-canary',
      manifest: () => invalidRollout('route-without-canary', useRoute('stable-only')),
      message: 'HTTPRoute "stable-only" has no backendRef for the canary Service "web-canary"',
    },
    {
      name: 'route-without-stable',
      manifest: () => invalidRollout('route-without-stable', useRoute('canary-only')),
      message: 'HTTPRoute "canary-only" has no backendRef for the stable Service "web-stable"',
    },
    {
      name: 'mislabelled',
      manifest: () =>
        invalidRollout('mislabelled', (m) => (m.spec.template.metadata.labels = { app: 'web' })),
      message:
        'spec.selector.matchLabels.app: selects "mislabelled" but spec.template.metadata.labels.app is "web"; make the selector match the template labels',
    },
    {
      name: 'one-service',
      manifest: () =>
        invalidRollout('one-service', (m) => (m.spec.strategy.canary.canaryService = 'web-stable')),
      message: 'spec.strategy.canary.canaryService: "web-stable" is also the stableService',
    },
    {
      name: 'with-analysis',
      manifest: () =>
        invalidRollout('with-analysis', () => {}, [
          { setWeight: 20 },
          { analysis: { templates: [{ templateName: 'error-rate' }] } },
        ]),
      message: `AnalysisTemplate ${namespace}/error-rate not found: create it or fix spec.strategy.canary.steps[1].analysis.templates[0].templateName`,
    },
  ];

  const statusOf = (name: string, description: string, accept: (status: RolloutStatus) => boolean) =>
    waitFor(`${name}: ${description}`, async () => {
      const status = await see.rolloutStatus(name);
      return accept(status) && status;
    });

  beforeAll(async () => {
    await kubectlApply(servicesAndRoute(namespace, 'web'));
    await kubectlApply(
      [
        routeTo('stable-only', 'web-stable'),
        routeTo('canary-only', 'web-canary'),
        routeTo('to-late-stable', 'late-stable', 'web-canary'),
      ].join('\n---\n'),
    );
    client = await temporalClient();
    probes = bridgeProbes(client, namespace);
    bridge = siirtoBridge(scope, 'bridge', { SIIRTO_LOG_LEVEL: 'debug' });
    await bridge.start();
    appliedAt = bridge.logText().length;
    await kubectlApply(cases.map((invalid) => invalid.manifest()).join('\n---\n'));
  });

  afterAll(async () => {
    await bridge?.stop();
    // Nothing serves the file's task queue any more: end the runs its Rollouts left open.
    await terminateRunningWorkflows(`RolloutNamespace = "${namespace}"`, 'test finished');
    await client?.connection.close();
  });

  it.each(cases)(
    '$name: phase Invalid naming the field, one Warning Event, no workflow',
    async ({ name, message }) => {
      const status = await statusOf(name, 'phase Invalid', (status) => status.phase === 'Invalid');
      expect(status.message).toContain(message);
      expect(status.revision).toBeUndefined();
      expect(status.conditions).toEqual([
        expect.objectContaining({
          type: 'Valid',
          status: 'False',
          reason: 'InvalidSpec',
          message: status.message,
        }),
      ]);

      // Resyncs keep finding it invalid (the first reconcile wrote the status, two more follow); none of
      // them may start a workflow or repeat the Event.
      await waitFor(
        `${name}: three reconciles`,
        () => reconcilesLogged(bridge, namespace, name, appliedAt) >= 3,
      );
      expect(await probes.rolloutEvents(name, 'InvalidSpec')).toEqual([
        { type: 'Warning', message: status.message, count: 1 },
      ]);
      expect(await probes.countRuns(name)).toBe(0);
    },
  );

  it('picks a fixed spec up at once, without a restart', async () => {
    await statusOf('unreadable-pause', 'phase Invalid', (status) => status.phase === 'Invalid');
    await runOrThrow('kubectl', [
      'patch',
      'rollouts.siirto.dev',
      'unreadable-pause',
      '-n',
      namespace,
      '--type',
      'json',
      '-p',
      JSON.stringify([{ op: 'replace', path: '/spec/strategy/canary/steps/1/pause/duration', value: '5m' }]),
    ]);
    const status = await statusOf('unreadable-pause', 'revision 1', (status) => status.revision === 1);
    expect(status).toMatchObject({ phase: 'Progressing', workflowId: `${namespace}/unreadable-pause/r1` });
    expect(status.conditions).toContainEqual(expect.objectContaining({ type: 'Valid', status: 'True' }));
    await waitFor('r1 running', () =>
      client.workflow.getHandle(`${namespace}/unreadable-pause/r1`).describe(),
    );
    expect(await probes.runsOf('unreadable-pause')).toEqual([
      expect.objectContaining({ workflowId: `${namespace}/unreadable-pause/r1`, status: 'RUNNING' }),
    ]);
    expect(await probes.rolloutEvents('unreadable-pause', 'SpecValid')).toEqual([
      expect.objectContaining({ type: 'Normal' }),
    ]);
  });

  it('heals through the resync once the missing Service and HTTPRoute are created', async () => {
    await statusOf('missing-stable', 'phase Invalid', (status) => status.phase === 'Invalid');
    await statusOf('missing-route', 'phase Invalid', (status) => status.phase === 'Invalid');
    // Neither Rollout changes: only the periodic resync can notice.
    await kubectlApply(
      [
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'late-stable', namespace },
          spec: { selector: { app: 'missing-stable' }, ports: [{ port: 80, targetPort: 8080 }] },
        }),
        routeTo('late-route', 'web-stable', 'web-canary'),
      ].join('\n---\n'),
    );
    for (const name of ['missing-stable', 'missing-route']) {
      const status = await statusOf(name, 'revision 1', (status) => status.revision === 1);
      expect(status).toMatchObject({ phase: 'Progressing', workflowId: `${namespace}/${name}/r1` });
      expect(status.conditions).toContainEqual(expect.objectContaining({ type: 'Valid', status: 'True' }));
      await waitFor(`${name}: r1 running`, () =>
        client.workflow.getHandle(`${namespace}/${name}/r1`).describe(),
      );
      expect(await probes.countRuns(name)).toBe(1);
    }
  });

  it('keeps the phase of a revision in flight when its route goes, and says so in its Valid condition', async () => {
    await statusOf(
      'missing-route',
      'revision 1',
      (status) => status.revision === 1 && status.phase === 'Progressing',
    );
    const workflowId = `${namespace}/missing-route/r1`;
    const from = bridge.logText().length;
    await runOrThrow('kubectl', ['delete', 'httproute', 'late-route', '-n', namespace]);
    const reported = await statusOf('missing-route', 'Valid False', (status) =>
      Boolean(status.conditions?.some((c) => c.type === 'Valid' && c.status === 'False')),
    );
    const problem = `spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute: HTTPRoute "late-route" not found in namespace ${namespace}`;
    const problems = reported.conditions?.find((c) => c.type === 'Valid')?.message;
    expect(problems).toContain(problem);
    expect(reported.conditions).toContainEqual(
      expect.objectContaining({ type: 'Valid', status: 'False', reason: 'InvalidSpec', message: problems }),
    );
    // Resyncs go on; none writes Invalid over the revision in flight, or repeats the Event.
    await waitFor('three reconciles', () => reconcilesLogged(bridge, namespace, 'missing-route', from) >= 3);
    expect(await see.rolloutStatus('missing-route')).toMatchObject({ phase: 'Progressing', revision: 1 });
    // The Rollout was Invalid before its first revision, with an Event of its own then.
    const events = await probes.rolloutEvents('missing-route', 'InvalidSpec');
    expect(events.filter((event) => event.message.startsWith(workflowId))).toEqual([
      {
        type: 'Warning',
        message:
          `${workflowId} is in flight and goes on (its own steps decide; promote and abort still reach it), ` +
          `but the spec has problems: ${problems}`,
        count: 1,
      },
    ]);

    await kubectlApply(routeTo('late-route', 'web-stable', 'web-canary'));
    const valid = await statusOf('missing-route', 'Valid True', (status) =>
      Boolean(status.conditions?.some((c) => c.type === 'Valid' && c.status === 'True')),
    );
    // No worker runs r1, so it is still running: the Rollout is Progressing at the same revision.
    expect(valid).toMatchObject({ revision: 1, phase: 'Progressing' });
    expect(await probes.runsOf('missing-route')).toEqual([
      expect.objectContaining({ workflowId, status: 'RUNNING' }),
    ]);
    // The bridge records the Event just after the status it writes.
    const goesOn = await waitFor('the SpecValid Event of revision 1 going on', async () => {
      const events = await probes.rolloutEvents('missing-route', 'SpecValid');
      return events.find((event) => event.message.endsWith('goes on'));
    });
    expect(goesOn).toEqual({
      type: 'Normal',
      message: 'the spec is valid again; revision 1 goes on',
      count: 1,
    });
  });
});
