import { fetchAnalysisTemplates, resolveAnalysis } from '../../activities/analysis-templates';
import {
  ANALYSIS_TEMPLATE_PLURAL,
  CLUSTER_ANALYSIS_TEMPLATE_PLURAL,
  RolloutAnalysisSchema,
} from '../../schemas/analysis';
import { ROLLOUT_GROUP, ROLLOUT_VERSION } from '../../schemas/rollout';
import { activityKubeClients, failureOf } from '../activities/fixtures';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';

describe('reading analysis templates from the apiserver', () => {
  const scope = isolate('analysis-templates');
  const { namespace } = scope;
  const kube = activityKubeClients();
  const { custom } = kubeClients();
  // Cluster-scoped, so named after this file's run to never meet another's.
  const clusterTemplate = `${scope.workflowIdPrefix}-latency`;
  const field = 'spec.strategy.canary.steps[2].analysis';
  const rollout = { namespace, name: 'web', uid: '00000000-0000-0000-0000-000000000001' };
  const context = {
    namespace,
    rollout: 'web',
    canaryHash: 'c4n4ry',
    stableHash: 'st4bl3',
    canaryService: 'web-canary',
    stableService: 'web-stable',
  };

  const metric = (name: string, query: string, conditions: Record<string, string>) => ({
    name,
    interval: '10s',
    ...conditions,
    provider: { prometheus: { query } },
  });

  const createTemplate = (name: string, spec: unknown) =>
    custom.createNamespacedCustomObject({
      group: ROLLOUT_GROUP,
      version: ROLLOUT_VERSION,
      plural: ANALYSIS_TEMPLATE_PLURAL,
      namespace,
      body: {
        apiVersion: 'siirto.dev/v1alpha1',
        kind: 'AnalysisTemplate',
        metadata: { name, namespace },
        spec,
      },
    });

  beforeAll(async () => {
    await runOrThrow('kubectl', [
      'wait',
      '--for=condition=Established',
      `crd/${ANALYSIS_TEMPLATE_PLURAL}.${ROLLOUT_GROUP}`,
      `crd/${CLUSTER_ANALYSIS_TEMPLATE_PLURAL}.${ROLLOUT_GROUP}`,
      '--timeout=30s',
    ]);
    await createTemplate('success-rate', {
      args: [{ name: 'service' }, { name: 'window', value: '5m' }],
      metrics: [
        metric(
          'error-ratio',
          'sum(rate(requests{service="{{args.service}}",hash="{{ args.canary-hash }}",code=~"5.."}[{{args.window}}]))',
          { successCondition: 'result < 0.05', failureCondition: 'result >= 0.1' },
        ),
      ],
    });
    await createTemplate('broken-condition', {
      metrics: [metric('saturation', 'up', { successCondition: 'result <' })],
    });
    // The CRD cannot express "at least one condition"; the schema can.
    await createTemplate('no-condition', { metrics: [metric('saturation', 'up', {})] });
    await custom.createClusterCustomObject({
      group: ROLLOUT_GROUP,
      version: ROLLOUT_VERSION,
      plural: CLUSTER_ANALYSIS_TEMPLATE_PLURAL,
      body: {
        apiVersion: 'siirto.dev/v1alpha1',
        kind: 'ClusterAnalysisTemplate',
        metadata: { name: clusterTemplate },
        spec: {
          metrics: [
            metric('latency', 'max(latency{namespace="{{args.namespace}}",rollout="{{args.rollout}}"})', {
              failureCondition: 'result > 0.5',
            }),
          ],
        },
      },
    });
  });

  afterAll(async () => {
    await custom.deleteClusterCustomObject({
      group: ROLLOUT_GROUP,
      version: ROLLOUT_VERSION,
      plural: CLUSTER_ANALYSIS_TEMPLATE_PLURAL,
      name: clusterTemplate,
    });
  });

  const analysis = (input: unknown) => RolloutAnalysisSchema.parse(input);

  it('reads namespaced and cluster templates with their schema defaults', async () => {
    const templates = await fetchAnalysisTemplates(kube, {
      namespace,
      references: [
        { reference: { templateName: 'success-rate', clusterScope: false }, field: `${field}.templates[0]` },
        { reference: { templateName: clusterTemplate, clusterScope: true }, field: `${field}.templates[1]` },
      ],
    });
    expect(templates.map((template) => template.source)).toEqual([
      `AnalysisTemplate ${namespace}/success-rate`,
      `ClusterAnalysisTemplate ${clusterTemplate}`,
    ]);
    expect(templates[1]!.spec.args).toEqual([]);
    expect(templates[1]!.spec.metrics[0]).toMatchObject({ failureLimit: 0, consecutiveErrorLimit: 4 });
  });

  it('resolves an analysis of templates and built-ins into metrics ready to measure', async () => {
    const metrics = await resolveAnalysis(kube, {
      rollout,
      field,
      context,
      mode: 'step',
      analysis: analysis({
        templates: [{ templateName: 'success-rate' }, { templateName: clusterTemplate, clusterScope: true }],
        args: [{ name: 'service', value: 'checkout' }],
        builtIn: { latencyP95: { maxSeconds: 0.3 } },
      }),
    });
    expect(metrics).toEqual([
      expect.objectContaining({
        name: 'error-ratio',
        source: `AnalysisTemplate ${namespace}/success-rate`,
        query: 'sum(rate(requests{service="checkout",hash="c4n4ry",code=~"5.."}[5m]))',
        intervalMilliseconds: 10_000,
        count: 1,
      }),
      expect.objectContaining({
        name: 'latency',
        source: `ClusterAnalysisTemplate ${clusterTemplate}`,
        query: `max(latency{namespace="${namespace}",rollout="web"})`,
        failureCondition: 'result > 0.5',
      }),
      expect.objectContaining({
        name: 'latency-p95',
        source: 'builtIn',
        query: `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="${namespace}",siirto_dev_pod_template_hash="c4n4ry"}[1m])))`,
      }),
    ]);
  });

  it('fails non-retryably, naming the template and the field, when a template is missing', async () => {
    const failure = await failureOf(
      resolveAnalysis(kube, {
        rollout,
        field,
        context,
        mode: 'step',
        analysis: analysis({
          templates: [{ templateName: 'success-rate' }, { templateName: 'absent' }],
          args: [{ name: 'service', value: 'checkout' }],
        }),
      }),
    );
    expect(failure).toMatchObject({
      type: 'InvalidConfiguration',
      nonRetryable: true,
      message: `AnalysisTemplate ${namespace}/absent not found: create it or fix ${field}.templates[1].templateName`,
    });

    const cluster = await failureOf(
      resolveAnalysis(kube, {
        rollout,
        field,
        context,
        mode: 'background',
        analysis: analysis({ templates: [{ templateName: 'success-rate', clusterScope: true }] }),
      }),
    );
    expect(cluster).toMatchObject({
      type: 'InvalidConfiguration',
      message:
        `ClusterAnalysisTemplate success-rate not found: create it or fix ${field}.templates[0].templateName ` +
        `(or set ${field}.templates[0].clusterScope to false for an AnalysisTemplate in ${namespace})`,
    });
  });

  it('fails non-retryably, naming the template, when a template does not match the schema', async () => {
    const failure = await failureOf(
      resolveAnalysis(kube, {
        rollout,
        field,
        context,
        mode: 'step',
        analysis: analysis({ templates: [{ templateName: 'no-condition' }] }),
      }),
    );
    expect(failure.type).toBe('InvalidConfiguration');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(
      new RegExp(
        `^AnalysisTemplate ${namespace}/no-condition, referenced by ${field.replace(/[.[\]]/g, '\\$&')}\\.templates\\[0\\], ` +
          'is not a valid template: .*set successCondition, failureCondition or both.*Fix the template and apply it again$',
        's',
      ),
    );
  });

  it('fails non-retryably, listing every problem, when the analysis cannot be measured', async () => {
    const failure = await failureOf(
      resolveAnalysis(kube, {
        rollout,
        field,
        context,
        mode: 'step',
        analysis: analysis({
          templates: [{ templateName: 'success-rate' }, { templateName: 'broken-condition' }],
        }),
      }),
    );
    expect(failure).toMatchObject({
      type: 'InvalidConfiguration',
      nonRetryable: true,
      message:
        `Rollout ${namespace}/web ${field} cannot be measured: ` +
        `AnalysisTemplate ${namespace}/success-rate spec.metrics[0].provider.prometheus.query (metric "error-ratio") ` +
        `uses {{args.service}}, which has no value: pass it in ${field}.args or give it a default in ` +
        `AnalysisTemplate ${namespace}/success-rate spec.args; ` +
        `AnalysisTemplate ${namespace}/broken-condition spec.metrics[0].successCondition (metric "saturation"): ` +
        'expected a number, "result" or "(" at column 9 in "result <"',
    });
  });
});
