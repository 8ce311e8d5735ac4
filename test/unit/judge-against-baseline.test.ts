import { baselinePodHash, roleMatchers, scopeJudgeQuery, seriesLabel } from '../../analysis/judge-query';
import { buildBaselineReplicaSet, baselineName } from '../../activities/baseline-replica-set';
import { buildBaselineService } from '../../activities/baseline-service';
import { judgedMetricSettings } from '../../activities/canary-judgement';
import { CanaryJudgeSchema, CanaryStepAnalysisSchema } from '../../schemas/analysis';
import { checkRollout, parseRollout } from '../../k8s-bridge/rollout-validation';
import { RolloutSpecSchema } from '../../schemas/rollout';
import { argoGettingStartedRollout } from '../harness/rollout-fixtures';

const scope = { namespace: 'shop', stableHash: 'aaa111', canaryHash: 'bbb222' };
const latency =
  'sum by (pod) (rate(http_request_duration_seconds_sum{ {{selector}} }[{{range}}])) / ' +
  'sum by (pod) (rate(http_request_duration_seconds_count{ {{ selector }} }[{{ range }}]))';

describe('a judged metric’s query, scoped to the baseline’s or the canary’s pods', () => {
  it('matches the baseline’s pods by the stable hash and the baseline role', () => {
    expect(roleMatchers('baseline', scope)).toBe(
      'namespace="shop",siirto_dev_pod_template_hash="aaa111",siirto_dev_role="baseline"',
    );
  });

  it('matches baseline pods with a hash of their own by it and the baseline role', () => {
    expect(roleMatchers('baseline', { ...scope, baselineHash: baselinePodHash('aaa111') })).toBe(
      'namespace="shop",siirto_dev_pod_template_hash="aaa111-baseline",siirto_dev_role="baseline"',
    );
  });

  it('matches the canary’s pods by their own hash, and never a pod with a role', () => {
    expect(roleMatchers('canary', scope)).toBe(
      'namespace="shop",siirto_dev_pod_template_hash="bbb222",siirto_dev_role=""',
    );
  });

  it('writes the matchers for every {{selector}} and the step for every {{range}}, spaced or not', () => {
    const query = scopeJudgeQuery(latency, 'canary', scope, 5_000);
    expect(query).toBe(
      'sum by (pod) (rate(http_request_duration_seconds_sum{ namespace="shop",siirto_dev_pod_template_hash="bbb222",siirto_dev_role="" }[5s])) / ' +
        'sum by (pod) (rate(http_request_duration_seconds_count{ namespace="shop",siirto_dev_pod_template_hash="bbb222",siirto_dev_role="" }[5s]))',
    );
  });

  it('escapes what it writes, so a namespace cannot end the string and add a matcher', () => {
    const query = scopeJudgeQuery(
      'up{ {{selector}} }',
      'baseline',
      { ...scope, namespace: 'a",x="y' },
      1_000,
    );
    expect(query).toContain('namespace="a\\",x=\\"y"');
  });

  it('names pod labels as Prometheus’ labelmap does', () => {
    expect(seriesLabel('siirto.dev/role')).toBe('siirto_dev_role');
  });
});

describe('the judge block of a canary step’s analysis', () => {
  const judge = { metrics: [{ name: 'latency', query: latency }] };

  it('fills Kayenta’s defaults', () => {
    expect(CanaryJudgeSchema.parse(judge)).toEqual({
      interval: '30s',
      count: 1,
      step: '5s',
      confidenceLevel: 0.98,
      tolerance: 0.25,
      thresholds: { pass: 95, marginal: 75 },
      metrics: [
        {
          name: 'latency',
          query: latency,
          direction: 'increase',
          critical: false,
          weight: 1,
          nanStrategy: 'remove',
        },
      ],
    });
  });

  it('refuses a query without {{selector}}, naming the field and where to put it', () => {
    const issues = CanaryJudgeSchema.safeParse({
      metrics: [{ name: 'latency', query: 'sum by (pod) (rate(http_requests_total[1m]))' }],
    }).error?.issues;
    expect(issues).toEqual([
      expect.objectContaining({
        path: ['metrics', 0, 'query'],
        message: expect.stringMatching(/^has no \{\{selector\}\}: write it inside the braces of each series/),
      }),
    ]);
  });

  it('refuses a marginal threshold above pass, a step longer than the interval and a name used twice', () => {
    const issues = CanaryJudgeSchema.safeParse({
      interval: '10s',
      step: '20s',
      thresholds: { pass: 70, marginal: 80 },
      metrics: [judge.metrics[0], judge.metrics[0]],
    }).error?.issues;
    expect(issues?.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      ['step', 'is longer than the interval 10s: make it a fraction of it, such as a tenth'],
      ['thresholds.marginal', 'is above thresholds.pass (70): make it at most pass'],
      ['metrics.1.name', '"latency" is used by an earlier metric: give each metric a name of its own'],
    ]);
  });

  it('refuses an interval that is not a duration', () => {
    const [issue] = CanaryJudgeSchema.safeParse({ ...judge, interval: 'soon' }).error?.issues ?? [];
    expect([issue?.path, issue?.message]).toEqual([
      ['interval'],
      'is "soon": write a duration of at least 1s, like 30s or 1m',
    ]);
  });

  it('runs on its own: not beside templates or built-in thresholds', () => {
    const [issue] =
      CanaryStepAnalysisSchema.safeParse({ judge, builtIn: { errorRate: { max: 0.1 } } }).error?.issues ?? [];
    expect(issue?.path).toEqual(['judge']);
    expect(issue?.message).toMatch(/move the templates and builtIn to an analysis step of their own$/);
  });

  it('is read in a canary step, whose problems name the Rollout’s full path', () => {
    const spec = {
      selector: { matchLabels: { app: 'shop' } },
      template: {
        metadata: { labels: { app: 'shop' } },
        spec: { containers: [{ name: 'a', image: 'a:1' }] },
      },
      strategy: {
        canary: {
          steps: [{ setWeight: 50 }, { analysis: { judge: { metrics: [{ name: 'x', query: 'up' }] } } }],
        },
      },
    };
    const [issue] = RolloutSpecSchema.safeParse(spec).error?.issues ?? [];
    expect(issue?.path).toEqual([
      'strategy',
      'canary',
      'steps',
      1,
      'analysis',
      'judge',
      'metrics',
      0,
      'query',
    ]);
  });

  it('gives each metric the judge’s confidence level, and its tolerance unless the metric sets its own', () => {
    const parsed = CanaryJudgeSchema.parse({
      tolerance: 0.1,
      metrics: [judge.metrics[0], { name: 'errors', query: latency, tolerance: 0.5, critical: true }],
    });
    expect(
      judgedMetricSettings(parsed).map(({ name, tolerance, confidenceLevel, critical }) => [
        name,
        tolerance,
        confidenceLevel,
        critical,
      ]),
    ).toEqual([
      ['latency', 0.1, 0.98, false],
      ['errors', 0.5, 0.98, true],
    ]);
  });
});

describe('the baseline ReplicaSet', () => {
  const rollout = { namespace: 'shop', name: 'checkout', uid: 'u-1' };
  const stable = {
    metadata: {
      name: 'checkout-aaa111',
      labels: { app: 'checkout', 'siirto.dev/pod-template-hash': 'aaa111' },
      ownerReferences: [
        {
          apiVersion: 'siirto.dev/v1alpha1',
          kind: 'Rollout',
          name: 'checkout',
          uid: 'u-1',
          controller: true,
        },
      ],
    },
    spec: {
      replicas: 5,
      selector: { matchLabels: { app: 'checkout', 'siirto.dev/pod-template-hash': 'aaa111' } },
      template: {
        metadata: { labels: { app: 'checkout', 'siirto.dev/pod-template-hash': 'aaa111' } },
        spec: { containers: [{ name: 'app', image: 'checkout:1' }] },
      },
    },
  };

  it('runs the stable’s template, its pods labelled as baseline beside the stable hash, owned by the Rollout', () => {
    const baseline = buildBaselineReplicaSet(stable, rollout, 'aaa111', 2);
    expect(baseline.metadata?.name).toBe(baselineName(rollout, 'aaa111'));
    expect(baseline.metadata?.name).toBe('checkout-baseline-aaa111');
    expect(baseline.spec?.replicas).toBe(2);
    expect(baseline.spec?.template?.metadata?.labels).toEqual({
      app: 'checkout',
      'siirto.dev/pod-template-hash': 'aaa111',
      'siirto.dev/role': 'baseline',
    });
    expect(baseline.spec?.selector.matchLabels).toEqual({
      app: 'checkout',
      'siirto.dev/pod-template-hash': 'aaa111',
      'siirto.dev/role': 'baseline',
    });
    expect(baseline.spec?.template?.spec).toEqual(stable.spec.template.spec);
    expect(baseline.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ uid: 'u-1', controller: true }),
    ]);
  });

  it('carries no pod-template-hash label itself, so nothing takes it for a revision’s ReplicaSet', () => {
    const baseline = buildBaselineReplicaSet(stable, rollout, 'aaa111', 2);
    expect(baseline.metadata?.labels).toEqual({ app: 'checkout', 'siirto.dev/role': 'baseline' });
    expect(buildBaselineReplicaSet(stable, rollout, 'aaa111', 2, true).metadata?.labels).toEqual({
      app: 'checkout',
      'siirto.dev/role': 'baseline',
    });
  });

  it('gives its pods a hash of their own for a route to weigh them apart, so the stable Service leaves them out', () => {
    const baseline = buildBaselineReplicaSet(stable, rollout, 'aaa111', 2, true);
    const labels = {
      app: 'checkout',
      'siirto.dev/pod-template-hash': 'aaa111-baseline',
      'siirto.dev/role': 'baseline',
    };
    expect(baseline.spec?.template?.metadata?.labels).toEqual(labels);
    expect(baseline.spec?.selector.matchLabels).toEqual(labels);
  });

  it('has a Service of its own for a route: the stable Service’s ports, selecting the baseline’s pods alone', () => {
    const stableService = {
      metadata: { name: 'checkout-stable', namespace: 'shop' },
      spec: {
        selector: { app: 'checkout', 'siirto.dev/pod-template-hash': 'aaa111' },
        ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30080 }],
        clusterIP: '10.0.0.9',
      },
    };
    const baseline = buildBaselineReplicaSet(stable, rollout, 'aaa111', 2, true);
    const service = buildBaselineService(stableService, baseline, rollout, 'aaa111');
    expect(service.metadata?.name).toBe('checkout-baseline');
    expect(service.spec?.selector).toEqual(baseline.spec?.selector.matchLabels);
    expect(service.spec?.ports).toEqual([
      { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', appProtocol: undefined },
    ]);
    expect(service.spec?.clusterIP).toBeUndefined();
    expect(service.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Rollout', uid: 'u-1', controller: true }),
    ]);
  });
});

describe('a judge in a Rollout the bridge checks', () => {
  const judge = { analysis: { judge: { metrics: [{ name: 'latency', query: latency }] } } };
  const facts = {
    existingServices: new Set<string>(),
    routingProblems: [],
    analysisTemplates: new Map(),
    templateProblems: [],
  };
  const problemsWith = (steps: unknown[]) => {
    const parsed = parseRollout(argoGettingStartedRollout('demo', 'rollouts-demo', { steps }));
    if (!parsed.rollout) throw new Error(parsed.problems.join('; '));
    return checkRollout(parsed.rollout, facts);
  };

  it('refuses a judge that no step before has given canary pods, naming the fix', () => {
    expect(problemsWith([judge, { setWeight: 50 }])).toEqual([
      'spec.strategy.canary.steps[0].analysis.judge: no step before it gives the canary pods, so there is ' +
        'nothing to judge against a baseline; put a setWeight step with a weight above 0 before it',
    ]);
  });

  it('accepts one after a setWeight, with no templates to look up', () => {
    expect(problemsWith([{ setWeight: 50 }, judge])).toEqual([]);
  });

  it('refuses one routed by Gateway API above 50 %, where the stable has less left for the baseline than the canary has', () => {
    const parsed = parseRollout(
      argoGettingStartedRollout('demo', 'rollouts-demo', {
        steps: [{ setWeight: 20 }, judge, { setWeight: 60 }, judge, { setWeight: 50 }, judge],
        stableService: 'rollouts-demo-stable',
        canaryService: 'rollouts-demo-canary',
        trafficRouting: { gatewayAPI: { httpRoute: 'rollouts-demo' } },
      }),
    );
    if (!parsed.rollout) throw new Error(parsed.problems.join('; '));
    const services = {
      ...facts,
      existingServices: new Set(['rollouts-demo-stable', 'rollouts-demo-canary']),
    };
    expect(checkRollout(parsed.rollout, services)).toEqual([
      'spec.strategy.canary.steps[3].analysis.judge: the canary has 60 % of the traffic here, and the ' +
        "baseline can get the canary's share only from the stable's rest, which is smaller; judge after a " +
        'setWeight of 50 or less',
    ]);
  });

  it('refuses one routed by ingress-nginx alone, which cannot give the baseline a share of its own', () => {
    const parsed = parseRollout(
      argoGettingStartedRollout('demo', 'rollouts-demo', {
        steps: [{ setWeight: 20 }, judge],
        stableService: 'rollouts-demo-stable',
        canaryService: 'rollouts-demo-canary',
        trafficRouting: { nginx: { stableIngress: 'rollouts-demo' } },
      }),
    );
    if (!parsed.rollout) throw new Error(parsed.problems.join('; '));
    const services = {
      ...facts,
      existingServices: new Set(['rollouts-demo-stable', 'rollouts-demo-canary']),
    };
    expect(checkRollout(parsed.rollout, services)).toEqual([
      'spec.strategy.canary.steps[1].analysis.judge: spec.strategy.canary.trafficRouting.nginx cannot give ' +
        "the baseline the canary's share of traffic (an ingress-nginx canary Ingress splits between two " +
        'Services only); route through spec.strategy.canary.trafficRouting.gatewayAPI, or judge by a ' +
        'threshold (analysis.templates) instead',
    ]);
  });
});
