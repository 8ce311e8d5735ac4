import * as k8s from '@kubernetes/client-node';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run, runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { stack } from '../harness/stack';
import { kustomizeIntoNamespace } from './kustomize-into-namespace';

interface Container {
  name: string;
  image?: string;
  command?: string[];
  workingDir?: string;
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string }[];
}

interface RenderedObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
  spec?: {
    replicas?: number;
    template?: {
      metadata?: { annotations?: Record<string, string> };
      spec: { containers: Container[]; volumes?: { name: string; secret?: { secretName: string } }[] };
    };
  };
}

async function render(overlay: string): Promise<RenderedObject[]> {
  return parse(await runOrThrow('kubectl', ['kustomize', overlay]));
}

function parse(manifest: string): RenderedObject[] {
  return k8s.loadAllYaml(manifest) as RenderedObject[];
}

const API_KEY_COMPONENT = 'deploy/components/temporal-api-key';
const INSTALL_DOC = readFileSync(path.join(stack.projectDir, 'docs', 'install.md'), 'utf8');

function deployment(objects: RenderedObject[], name: string) {
  const found = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === name);
  const template = found?.spec?.template;
  if (!template?.spec.containers[0]) throw new Error(`no Deployment ${name} with a container rendered`);
  return { template, container: template.spec.containers[0] };
}

/** The variables the Deployment's container starts with: its own env and its ConfigMaps' keys. */
function variables(objects: RenderedObject[], name: string): Record<string, string> {
  const { container } = deployment(objects, name);
  const fromConfigMaps = (container.envFrom ?? []).flatMap(({ configMapRef }) => {
    const configMap = objects.find(
      (object) => object.kind === 'ConfigMap' && object.metadata.name === configMapRef?.name,
    );
    return Object.entries(configMap?.data ?? {});
  });
  return Object.fromEntries([
    ...fromConfigMaps,
    ...(container.env ?? []).map((variable) => [variable.name, variable.value ?? 'valueFrom']),
  ]);
}

const PROCESSES = [
  ['siirto-bridge', 9465],
  ['siirto-worker', 9464],
] as const;

describe('the deploy/ kustomize overlays', () => {
  // A dry run cannot create siirto-system for the objects that go in it, so the server validates each
  // overlay re-rooted into this test's own (existing) namespace.
  const { namespace } = isolate('deploy-manifests');

  it.each([
    ['overlays/local', 'deploy/overlays/local', []],
    ['overlays/production', 'deploy/overlays/production', []],
    ['the base with the temporal-api-key component', 'deploy/base', [API_KEY_COMPONENT]],
  ])(
    '%s is accepted by the API server, every object validated server-side',
    async (_, folder, components) => {
      const manifest = await kustomizeIntoNamespace(folder, {
        namespace,
        nameSuffix: '-dry-run',
        components,
      });
      const result = await run(
        'kubectl',
        ['apply', '--dry-run=server', '--output', 'name', '-f', '-'],
        manifest,
      );
      expect(result).toMatchObject({ code: 0, stderr: expect.not.stringMatching(/error/i) });
      // ConfigMap names end in a hash of their contents, so that a change rolls the Deployments.
      const applied = result.stdout
        .trim()
        .replace(/(siirto-(temporal|worker)-dry-run)-[a-z0-9]{10}$/gm, '$1-<hash>');
      expect(applied.split('\n').sort()).toEqual(
        [
          'clusterrole.rbac.authorization.k8s.io/siirto-bridge-dry-run',
          'clusterrole.rbac.authorization.k8s.io/siirto-worker-dry-run',
          'clusterrolebinding.rbac.authorization.k8s.io/siirto-bridge-dry-run',
          'clusterrolebinding.rbac.authorization.k8s.io/siirto-worker-dry-run',
          'configmap/siirto-temporal-dry-run-<hash>',
          'configmap/siirto-worker-dry-run-<hash>',
          'customresourcedefinition.apiextensions.k8s.io/analysistemplates.siirto.dev',
          'customresourcedefinition.apiextensions.k8s.io/clusteranalysistemplates.siirto.dev',
          'customresourcedefinition.apiextensions.k8s.io/rollouts.siirto.dev',
          'deployment.apps/siirto-bridge-dry-run',
          'deployment.apps/siirto-worker-dry-run',
          `namespace/${namespace}`,
          'poddisruptionbudget.policy/siirto-bridge-dry-run',
          'poddisruptionbudget.policy/siirto-worker-dry-run',
          'role.rbac.authorization.k8s.io/siirto-bridge-command-tokens-dry-run',
          'rolebinding.rbac.authorization.k8s.io/siirto-bridge-command-tokens-dry-run',
          'serviceaccount/siirto-bridge-dry-run',
          'serviceaccount/siirto-worker-dry-run',
        ].sort(),
      );
    },
  );

  it('puts everything namespaced in siirto-system, with two bridges and the overlay’s worker count', async () => {
    const local = await render('deploy/overlays/local');
    const production = await render('deploy/overlays/production');
    for (const objects of [local, production]) {
      const namespaced = objects.filter(
        (object) =>
          !['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'].includes(
            object.kind,
          ),
      );
      expect(new Set(namespaced.map((object) => object.metadata.namespace))).toEqual(
        new Set(['siirto-system']),
      );
    }
    const replicas = (objects: RenderedObject[]) =>
      Object.fromEntries(
        objects
          .filter((object) => object.kind === 'Deployment')
          .map((object) => [object.metadata.name, object.spec?.replicas]),
      );
    expect(replicas(local)).toEqual({ 'siirto-bridge': 2, 'siirto-worker': 1 });
    expect(replicas(production)).toEqual({ 'siirto-bridge': 2, 'siirto-worker': 3 });
  });

  it('keeps each container’s own env in production, and gives both processes the TLS settings', async () => {
    const base = await render('deploy/base');
    const production = await render('deploy/overlays/production');
    for (const [name] of PROCESSES) {
      const inProduction = variables(production, name);
      expect(Object.keys(inProduction)).toEqual(expect.arrayContaining(Object.keys(variables(base, name))));
      const { template, container } = deployment(production, name);
      const mount = container.volumeMounts?.find((volumeMount) => volumeMount.name === 'temporal-tls');
      expect(template.spec.volumes).toContainEqual({
        name: 'temporal-tls',
        secret: expect.objectContaining({ secretName: 'siirto-temporal-tls' }),
      });
      expect(inProduction).toMatchObject({
        TEMPORAL_TLS_CERT: `${mount?.mountPath}/tls.crt`,
        TEMPORAL_TLS_KEY: `${mount?.mountPath}/tls.key`,
        TEMPORAL_TLS_CA: `${mount?.mountPath}/ca.crt`,
      });
    }
    expect(variables(production, 'siirto-worker')).toHaveProperty('SIIRTO_CDEVENTS_AUTH_TOKEN');
    expect(variables(await render('deploy/overlays/local'), 'siirto-bridge')).toHaveProperty(
      'SIIRTO_LOG_LEVEL',
    );
  });

  it('reads the API key from its Secret in both processes with the temporal-api-key component', async () => {
    const base = await render('deploy/base');
    const withApiKey = parse(
      await kustomizeIntoNamespace('deploy/base', {
        namespace: 'siirto-system',
        components: [API_KEY_COMPONENT],
      }),
    );
    for (const [name] of PROCESSES) {
      const { container } = deployment(withApiKey, name);
      expect(container.envFrom).toEqual([
        ...(deployment(base, name).container.envFrom ?? []),
        { secretRef: { name: 'siirto-temporal-api-key' } },
      ]);
      expect(container.env).toEqual(deployment(base, name).container.env);
    }
  });

  it('declares the metrics ports, the SDK’s too, and annotates the pods for scraping', async () => {
    const base = await render('deploy/base');
    for (const [name, port] of PROCESSES) {
      const { template, container } = deployment(base, name);
      expect(container.ports).toContainEqual({ name: 'metrics', containerPort: port });
      expect(template.metadata?.annotations).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(port),
        'prometheus.io/path': '/metrics',
      });
    }
    expect(deployment(base, 'siirto-worker').container.ports).toContainEqual({
      name: 'sdk-metrics',
      containerPort: 9466,
    });
  });

  it('runs the commands the package installs, from the image named by the package’s version and a placeholder digest', async () => {
    const { version } = JSON.parse(readFileSync(path.join(stack.projectDir, 'package.json'), 'utf8')) as {
      version: string;
    };
    const image = `ghcr.io/siirto/siirto:${version}@sha256:${'0'.repeat(64)}`;
    for (const overlay of ['deploy/overlays/local', 'deploy/overlays/production']) {
      const objects = await render(overlay);
      for (const [name] of PROCESSES) {
        const { container } = deployment(objects, name);
        expect(container).toMatchObject({ image, command: [name] });
        expect(container.workingDir).toBeUndefined();
      }
    }
    expect(INSTALL_DOC).toContain(image);
  });

  it('takes the image of a user’s overlay written as docs/install.md shows', async () => {
    const [documented] = [...INSTALL_DOC.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((match) =>
      k8s.loadYaml<{ resources: string[]; images: { newName: string; newTag: string; digest: string }[] }>(
        match[1] ?? '',
      ),
    );
    const wanted = documented?.images[0];
    if (!documented || !wanted) throw new Error('docs/install.md shows no overlay with an image');
    const overlay = mkdtempSync(path.join(tmpdir(), 'siirto-user-overlay-'));
    try {
      // The document's overlay, its resource the production overlay wherever this checkout is.
      const production = path.relative(overlay, path.join(stack.projectDir, 'deploy/overlays/production'));
      writeFileSync(
        path.join(overlay, 'kustomization.yaml'),
        JSON.stringify({ ...documented, resources: [production] }),
      );
      const objects = await render(overlay);
      for (const [name] of PROCESSES) {
        expect(deployment(objects, name).container.image).toBe(
          `${wanted.newName}:${wanted.newTag}@${wanted.digest}`,
        );
      }
    } finally {
      rmSync(overlay, { recursive: true, force: true });
    }
  });
});
