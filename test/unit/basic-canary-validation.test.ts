import { checkRollout, parseRollout, type ClusterFacts } from '../../k8s-bridge/rollout-validation';
import type { Rollout } from '../../schemas/rollout';
import { argoGettingStartedRollout } from '../harness/rollout-fixtures';

const noServices: ClusterFacts = {
  existingServices: new Set(),
  routingProblems: [],
  analysisTemplates: new Map(),
  templateProblems: [],
};

/** Argo Rollouts' getting-started Rollout, with only its apiVersion changed. */
function gettingStarted(canary: Record<string, unknown> = {}): unknown {
  return argoGettingStartedRollout('demo', 'rollouts-demo', canary);
}

function parsed(manifest: unknown): Rollout {
  const result = parseRollout(manifest);
  if (!result.rollout) throw new Error(`does not parse: ${result.problems.join('; ')}`);
  return result.rollout;
}

describe('a canary without a traffic router', () => {
  it("accepts Argo Rollouts' getting-started Rollout, with no Services or routes to check", () => {
    expect(checkRollout(parsed(gettingStarted()), noServices)).toEqual([]);
  });

  it('takes maxSurge and maxUnavailable as a number or a percentage, as Deployments do', () => {
    expect(checkRollout(parsed(gettingStarted({ maxSurge: '50%', maxUnavailable: 0 })), noServices)).toEqual(
      [],
    );
    expect(parseRollout(gettingStarted({ maxSurge: 'half' })).problems.join('\n')).toContain(
      'spec.strategy.canary.maxSurge',
    );
  });

  it('refuses maxSurge and maxUnavailable both 0, naming the fix', () => {
    expect(checkRollout(parsed(gettingStarted({ maxSurge: 0, maxUnavailable: 0 })), noServices)).toEqual([
      expect.stringMatching(/^spec\.strategy\.canary\.maxUnavailable: .*set either above 0/),
    ]);
  });

  it('refuses header and mirror route steps, which need a router, naming the field and the fix', () => {
    const rollout = parsed(
      gettingStarted({
        steps: [
          {
            setHeaderRoute: { name: 'beta', match: [{ headerName: 'X-Beta', headerValue: { exact: '1' } }] },
          },
          { setMirrorRoute: { name: 'copy' } },
        ],
      }),
    );
    const problems = checkRollout(rollout, noServices);
    expect(problems).toContain(
      'spec.strategy.canary.steps[0].setHeaderRoute: needs a traffic router to route requests by what they ' +
        'carry; add spec.strategy.canary.trafficRouting, or remove the step',
    );
    expect(
      problems.some((problem) => problem.startsWith('spec.strategy.canary.steps[1].setMirrorRoute: needs')),
    ).toBe(true);
  });

  it('checks the Services it is given without a router, as with one', () => {
    const problems = checkRollout(parsed(gettingStarted({ canaryService: 'demo-canary' })), noServices);
    expect(problems).toEqual([
      expect.stringMatching(/^spec\.strategy\.canary\.canaryService: Service "demo-canary" not found/),
    ]);
  });

  it('requires both Services with trafficRouting, naming the way out', () => {
    const rollout = parsed(gettingStarted({ trafficRouting: { gatewayAPI: { httpRoute: 'demo' } } }));
    expect(checkRollout(rollout, noServices)).toEqual([
      expect.stringContaining('spec.strategy.canary.stableService: required with trafficRouting'),
      expect.stringContaining('spec.strategy.canary.canaryService: required with trafficRouting'),
    ]);
  });
});
