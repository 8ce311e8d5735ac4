import { promoteUpdate } from '../../workflows/rollout-api';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { withoutWeights } from '../harness/observe';
import { httpRoute, kubectlApply, patchRolloutSpec, sampleContainer } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { writeFigures } from '../harness/figures';
import { waitFor } from '../harness/wait';

const app = 'mirrored';

const mirrorStep = {
  setMirrorRoute: { name: 'shadow', percentage: 50, match: [{ path: { prefix: '/orders' } }] },
};
const steps = [{ setWeight: 20 }, mirrorStep, { pause: {} }];

describe('a mirror route step', () => {
  const scope = isolate('mirror-routes');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);
  const figures: Record<string, unknown> = {};
  /** A GatewayClass of a controller that is not Traefik's; nothing implements it on the stack. */
  const otherClass = `${namespace}-elsewhere`;

  const rulesOf = () => scenario.see.routeRules(app);

  const withImage = (tag: number, withSteps: unknown[]) => ({
    template: { spec: { containers: [sampleContainer(`registry.example/${app}:${tag}`)] } },
    strategy: { canary: { steps: withSteps } },
  });

  beforeAll(async () => {
    await scenario.firstRevisionHealthy([]);
  });

  afterAll(async () => {
    await runOrThrow('kubectl', ['delete', 'gatewayclass', otherClass, '--ignore-not-found']);
    writeFigures('mirror-routes', figures);
  });

  it("is refused on a route attached to Traefik's Gateway, which has no RequestMirror, naming the step and the fix", async () => {
    await patchRolloutSpec(namespace, app, withImage(2, steps));
    const invalid = await scenario.waitForStatus('the Rollout to be Invalid', (s) => s.phase === 'Invalid');
    expect(invalid.message).toContain(
      `spec.strategy.canary.steps[1].setMirrorRoute: HTTPRoute ${namespace}/${app} is attached to Gateway ` +
        'siirto-gateway/local (GatewayClass ',
    );
    expect(invalid.message).toContain(
      'whose controller traefik.io/gateway-controller has no RequestMirror and answers the requests a mirror ' +
        'rule matches with HTTP 500 instead of serving them; remove the setMirrorRoute step, or attach the ' +
        'route to a Gateway whose controller implements RequestMirror',
    );
    // Nothing was half-applied: the route has only the user's rule.
    expect((await rulesOf()).map((rule) => rule.name)).toEqual([undefined]);
  });

  it('adds its rule at its step, on a Gateway whose controller mirrors, and takes it away at promotion', async () => {
    await kubectlApply(
      [
        `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: ${otherClass} }
spec: { controllerName: example.com/gateway-controller }`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: elsewhere, namespace: ${namespace} }
spec:
  gatewayClassName: ${otherClass}
  listeners: [{ name: http, protocol: HTTP, port: 80 }]`,
      ].join('\n---\n'),
    );
    await kubectlApply(httpRoute(namespace, app, { name: 'elsewhere' }));
    const userRules = await rulesOf();
    // A new template, so the bridge looks at the Rollout again at once.
    await patchRolloutSpec(namespace, app, withImage(3, steps));
    let weightAt: number | undefined;
    let ruleAt: number | undefined;
    const mirror = await waitFor(
      'the mirror rule on the route',
      async () => {
        const rules = await rulesOf();
        const now = Date.now();
        const canaryWeight = rules
          .find((rule) => rule.name === undefined)
          ?.backendRefs?.find((ref) => ref.name === `${app}-canary`)?.weight;
        if (canaryWeight === 20) weightAt ??= now;
        const found = rules.find((rule) => rule.name === 'siirto.shadow');
        if (found) ruleAt ??= now;
        return found;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    figures.stepToMirrorRuleMs = weightAt === undefined ? 'weight not seen' : ruleAt! - weightAt;
    expect(mirror.matches).toEqual([
      expect.objectContaining({ path: { type: 'PathPrefix', value: '/orders' } }),
    ]);
    expect(mirror.filters).toEqual([
      {
        type: 'RequestMirror',
        requestMirror: {
          backendRef: { group: '', kind: 'Service', name: `${app}-canary`, port: 80 },
          percent: 50,
        },
      },
    ]);
    const paused = await scenario.waitForStatus(
      'the canary to pause after its mirror step',
      (s) => s.phase === 'Paused' && s.currentStepIndex === 2,
    );
    expect((await rulesOf()).map((rule) => rule.name)).toEqual(['siirto.shadow', undefined]);

    const promotedAt = Date.now();
    await scenario.client.workflow
      .getHandle(paused.workflowId ?? '')
      .executeUpdate(promoteUpdate, { args: [{ by: 'mirror routes test' }] });
    await waitFor(
      "the route's rules to be the user's again",
      async () => withoutWeights(await rulesOf()) === withoutWeights(userRules),
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    figures.mirrorCleanUpAfterPromotionMs = Date.now() - promotedAt;
    await scenario.waitForStatus(
      'the canary to become Healthy',
      (s) => s.phase === 'Healthy' && s.revision === paused.revision,
    );
    expect(withoutWeights(await rulesOf())).toBe(withoutWeights(userRules));
  });
});
