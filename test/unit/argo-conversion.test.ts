import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { AnalysisTemplateSpecSchema } from '../../schemas/analysis';
import { RolloutSpecSchema } from '../../schemas/rollout';
import { convertArgoManifests } from '../../cli/argo-conversion';
import { convertCommand } from '../../cli/convert-command';
import { CliError } from '../../cli/cli-context';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'argo-rollouts');
const fixturePath = (name: string) => path.join(FIXTURES, name);
const fixture = (name: string): unknown[] => loadAllYaml(readFileSync(fixturePath(name), 'utf8'));

type Converted = {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown>;
};
const convert = (documents: unknown[]) => {
  const { documents: converted, notes } = convertArgoManifests(documents);
  return { converted: converted as Converted[], notes };
};
const byKind = (documents: Converted[], kind: string) =>
  documents.filter((document) => document.kind === kind);

/** An Argo canary Rollout routed by the Gateway API plugin, with `canary` merged into its strategy. */
function argoCanary(canary: Record<string, unknown>, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'checkout', namespace: 'shop' },
    spec: {
      selector: { matchLabels: { app: 'checkout' } },
      template: {
        metadata: { labels: { app: 'checkout' } },
        spec: { containers: [{ name: 'app', image: 'a:1' }] },
      },
      strategy: {
        canary: {
          stableService: 'checkout-stable',
          canaryService: 'checkout-canary',
          trafficRouting: {
            plugins: { 'argoproj-labs/gatewayAPI': { httpRoute: 'checkout', namespace: 'shop' } },
          },
          ...canary,
        },
      },
      ...spec,
    },
  };
}

describe('siirto convert, from Argo Rollouts manifests', () => {
  it('turns a Gateway API canary into a siirto.dev Rollout with gatewayAPI routing, Argo’s whole-second pause kept', () => {
    const input = fixture('canary-gateway-api.yaml');
    const { converted, notes } = convert(input);

    expect(converted.slice(0, 3)).toEqual(input.slice(0, 3));
    const [rollout] = byKind(converted, 'Rollout');
    expect(rollout).toMatchObject({ apiVersion: 'siirto.dev/v1alpha1', metadata: { name: 'rollouts-demo' } });
    expect(rollout?.spec.strategy).toEqual({
      canary: {
        stableService: 'argo-rollouts-stable-service',
        canaryService: 'argo-rollouts-canary-service',
        trafficRouting: { gatewayAPI: { httpRoute: 'argo-rollouts-http-route' } },
        steps: [
          { setWeight: 30 },
          { pause: { duration: 10 } },
          { setWeight: 60 },
          { pause: { duration: '5s' } },
        ],
      },
    });
    expect(RolloutSpecSchema.safeParse(rollout?.spec).error).toBeUndefined();
    expect(notes).toEqual([
      'Rollout rollouts-demo: spec.strategy.canary.trafficRouting.plugins["argoproj-labs/gatewayAPI"].namespace: ' +
        "not carried over: Siirto uses HTTPRoutes in the Rollout's namespace; apply the Rollout in default",
    ]);
  });

  it('converts the getting-started canary without a router, saying the missing trafficRouting is what keeps it from rolling out', () => {
    const { converted, notes } = convert(fixture('basic-canary.yaml'));

    expect(converted.map((document) => document.kind)).toEqual(['Rollout', 'Service']);
    expect(converted[0]?.spec.strategy).toEqual({
      canary: {
        steps: [
          { setWeight: 20 },
          { pause: {} },
          { setWeight: 40 },
          { pause: { duration: 10 } },
          { setWeight: 60 },
          { pause: { duration: 10 } },
          { setWeight: 80 },
          { pause: { duration: 10 } },
        ],
      },
    });
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/^Rollout rollouts-demo: spec\.strategy\.canary\.trafficRouting: missing: /);
    expect(notes[0]).toContain('add trafficRouting.gatewayAPI.httpRoute');
  });

  it('writes blue-green under Argo’s own field names, with what Siirto does not do listed', () => {
    const { converted, notes } = convert(fixture('blue-green.yaml'));

    expect(converted[0]?.spec.strategy).toEqual({
      blueGreen: {
        activeService: 'rollout-bluegreen-active',
        previewService: 'rollout-bluegreen-preview',
        autoPromotionEnabled: false,
        previewReplicaCount: 1,
        scaleDownDelaySeconds: 30,
        abortScaleDownDelaySeconds: 10,
        previewMetadata: { labels: { role: 'preview' } },
        activeMetadata: { labels: { role: 'active' } },
        prePromotionAnalysis: {
          templates: [{ templateName: 'smoke-tests' }],
          args: [{ name: 'service-name', value: 'rollout-bluegreen-preview.shop.svc.cluster.local' }],
        },
        postPromotionAnalysis: { templates: [{ templateName: 'success-rate', clusterScope: true }] },
      },
    });
    expect(notes.map((line) => line.split(': ').slice(0, 2).join(': '))).toEqual([
      'Rollout shop/rollout-bluegreen: spec.strategy.blueGreen.antiAffinity',
      'Rollout shop/rollout-bluegreen: spec.strategy.blueGreen.scaleDownDelayRevisionLimit',
    ]);
    expect(byKind(converted, 'Service')).toHaveLength(2);
  });

  describe('analysis templates', () => {
    const { converted, notes } = convert(fixture('analysis-templates.yaml'));
    const noteOn = (object: string, field: string) =>
      notes.find((line) => line.startsWith(`${object}: ${field}: `));

    it('keeps Prometheus metrics with their arguments, reading Argo’s result[0] as Siirto’s one number', () => {
      const [successRate] = byKind(converted, 'AnalysisTemplate');
      const [errorRate] = byKind(converted, 'ClusterAnalysisTemplate');
      expect(successRate?.metadata.name).toBe('success-rate');
      expect(successRate?.spec).toMatchObject({
        args: [{ name: 'service-name' }, { name: 'prometheus-port', value: '9090' }],
        metrics: [
          {
            name: 'success-rate',
            interval: '5m',
            failureLimit: 3,
            successCondition: 'result >= 0.95',
            provider: { prometheus: { address: 'http://prometheus.example.com:9090' } },
          },
        ],
      });
      expect(errorRate?.spec).toMatchObject({
        metrics: [
          {
            name: 'error-rate',
            count: 5,
            consecutiveErrorLimit: 2,
            failureCondition: 'result > 0.05 || isNaN(result)',
          },
        ],
      });
      for (const template of [successRate, errorRate]) {
        expect(AnalysisTemplateSpecSchema.safeParse(template?.spec).error).toBeUndefined();
      }
    });

    it('lists every metric, condition, argument and option it leaves out, and why', () => {
      expect(
        noteOn('AnalysisTemplate success-rate', 'spec.metrics[0].provider.prometheus.timeout'),
      ).toBeDefined();
      expect(noteOn('AnalysisTemplate success-rate', 'spec.metrics[1].provider')).toContain(
        'Siirto measures with Prometheus only, not web',
      );
      expect(noteOn('ClusterAnalysisTemplate error-rate', 'spec.args[1].valueFrom')).toContain('Secret');
      expect(noteOn('ClusterAnalysisTemplate error-rate', 'spec.metrics[0].name')).toContain(
        'renamed to "error-rate"',
      );
      expect(noteOn('ClusterAnalysisTemplate error-rate', 'spec.metrics[0].successCondition')).toContain(
        'unknown name "len"',
      );
    });

    it('leaves out a template with no Prometheus metric, and the Rollout’s references to it', () => {
      expect(converted.map((document) => document.metadata.name)).not.toContain('datadog-errors');
      expect(noteOn('AnalysisTemplate datadog-errors', 'spec.metrics')).toContain('the template is left out');
      const [rollout] = byKind(converted, 'Rollout');
      const steps = (rollout?.spec.strategy as { canary: { steps: unknown[] } }).canary.steps;
      expect(steps).toContainEqual({
        analysis: {
          templates: [{ templateName: 'success-rate' }],
          args: [
            { name: 'service-name', value: 'guestbook-canary.shop.svc.cluster.local' },
            { name: 'rollout-name', value: 'guestbook' },
          ],
        },
      });
      expect(
        noteOn('Rollout shop/guestbook', 'spec.strategy.canary.steps[3].analysis.templates[1]'),
      ).toBeDefined();
      expect(noteOn('Rollout shop/guestbook', 'spec.strategy.canary.steps[3].analysis.args[1]')).toContain(
        'Siirto always fills in "canary-hash" itself',
      );
      expect(noteOn('Rollout shop/guestbook', 'spec.strategy.canary.steps[4]')).toContain('no Experiments');
      expect(RolloutSpecSchema.safeParse(rollout?.spec).error).toBeUndefined();
    });
  });

  it('carries the header, mirror and canary-scale steps over in Argo’s shape, with the managed routes they name', () => {
    const steps = [
      { setCanaryScale: { weight: 25 } },
      { setHeaderRoute: { name: 'beta', match: [{ headerName: 'x-beta', headerValue: { exact: 'yes' } }] } },
      { setMirrorRoute: { name: 'mirror', percentage: 10, match: [{ method: { exact: 'GET' } }] } },
      { plugin: { name: 'acme/step', config: {} } },
    ];
    const argo = argoCanary({ steps });
    const routing = argo.spec.strategy.canary.trafficRouting as Record<string, unknown>;
    routing.managedRoutes = [{ name: 'beta' }, { name: 'mirror' }];
    const { converted, notes } = convert([argo]);
    const canary = (converted[0]?.spec.strategy as { canary: Record<string, unknown> }).canary;
    expect(canary.steps).toEqual(steps.slice(0, 3));
    expect(canary.trafficRouting).toEqual({
      gatewayAPI: { httpRoute: 'checkout' },
      managedRoutes: [{ name: 'beta' }, { name: 'mirror' }],
    });
    expect(notes).toEqual([
      'Rollout shop/checkout: spec.strategy.canary.steps[3]: left out: Siirto runs no step plugins',
    ]);
  });

  it('keeps a pause Siirto cannot read, saying how to write it', () => {
    const { converted, notes } = convert([argoCanary({ steps: [{ pause: { duration: '1d' } }] })]);
    expect((converted[0]?.spec.strategy as { canary: { steps: unknown[] } }).canary.steps).toEqual([
      { pause: { duration: '1d' } },
    ]);
    expect(notes).toEqual([
      'Rollout shop/checkout: spec.strategy.canary.steps[0].pause.duration: "1d" is no duration Siirto reads: ' +
        'write it like 30s, 5m, 1h or 10 (seconds)',
    ]);
  });

  it('names each Argo-only field of the Rollout it leaves out', () => {
    const argo = argoCanary(
      {
        dynamicStableScale: true,
        antiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: {} },
        canaryMetadata: { labels: { role: 'canary' } },
        maxSurge: '25%',
        trafficRouting: {
          nginx: { stableIngress: 'checkout' },
          plugins: {
            'argoproj-labs/gatewayAPI': { httpRoutes: [{ name: 'a' }, { name: 'b', useHeaderRoutes: true }] },
          },
        },
      },
      { workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'checkout' }, minReadySeconds: 10 },
    );
    const { converted, notes } = convert([argo]);
    const fields = notes.map((line) => line.split(': ')[1]);
    expect(fields).toEqual([
      'spec.workloadRef',
      'spec.minReadySeconds',
      'spec.strategy.canary.maxSurge',
      'spec.strategy.canary.antiAffinity',
      'spec.strategy.canary.canaryMetadata',
      'spec.strategy.canary.dynamicStableScale',
      'spec.strategy.canary.trafficRouting.plugins["argoproj-labs/gatewayAPI"].httpRoutes[1].useHeaderRoutes',
    ]);
    expect(notes[0]).toContain('copy the referenced workload');
    expect(
      (converted[0]?.spec.strategy as { canary: { trafficRouting: unknown } }).canary.trafficRouting,
    ).toEqual({
      gatewayAPI: { httpRoutes: [{ name: 'a' }, { name: 'b' }] },
      nginx: { stableIngress: 'checkout' },
    });
  });

  it('carries an nginx Rollout over to nginx routing with the fields Argo and Siirto share, naming the one it leaves out', () => {
    const nginx = {
      stableIngresses: ['web', 'api'],
      annotationPrefix: 'custom.nginx.org',
      additionalIngressAnnotations: { 'canary-by-header': 'X-Canary' },
      canaryIngressAnnotations: { 'example.com/team': 'shop' },
    };
    const { converted, notes } = convert([argoCanary({ trafficRouting: { nginx } })]);
    expect(
      (converted[0]?.spec.strategy as { canary: { trafficRouting: unknown } }).canary.trafficRouting,
    ).toEqual({
      nginx: {
        stableIngresses: ['web', 'api'],
        annotationPrefix: 'custom.nginx.org',
        additionalIngressAnnotations: { 'canary-by-header': 'X-Canary' },
      },
    });
    expect(notes).toEqual([
      'Rollout shop/checkout: spec.strategy.canary.trafficRouting.nginx.canaryIngressAnnotations: not carried ' +
        'over: write the canary annotations in additionalIngressAnnotations, without the prefix',
    ]);
    expect(RolloutSpecSchema.safeParse(converted[0]?.spec).success).toBe(true);
  });

  it('passes objects not of Argo Rollouts through unchanged, leaves out Argo’s runtime objects, skips empty documents', () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'checkout' },
      spec: { replicas: 2 },
    };
    const run = { apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisRun', metadata: { name: 'run-1' } };
    const { converted, notes } = convert([deployment, null, run]);
    expect(converted).toEqual([deployment]);
    expect(notes).toEqual([
      'AnalysisRun run-1: kind: left out: Siirto has no such object; it keeps analyses and experiments in Temporal history',
    ]);
  });

  it('writes multi-document YAML, and fails only on input it cannot read', () => {
    const { manifests, notes } = convertCommand(fixturePath('canary-gateway-api.yaml'), () => '');
    const documents = loadAllYaml(manifests) as Converted[];
    expect(documents.map((document) => document.kind)).toEqual([
      'Service',
      'Service',
      'HTTPRoute',
      'Rollout',
    ]);
    expect(notes).toHaveLength(1);

    expect(convertCommand('-', () => 'kind: Service\n---\n').manifests).toBe('kind: Service\n');
    expect(() => convertCommand(fixturePath('missing.yaml'), () => '')).toThrow(CliError);
    expect(() => convertCommand('-', () => 'a: [')).toThrow(/standard input is not YAML/);
    expect(() => convertCommand(undefined, () => '')).toThrow(/needs -f FILE/);
  });
});
