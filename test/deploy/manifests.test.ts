import * as k8s from '@kubernetes/client-node';
import { run, runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { kustomizeIntoNamespace } from './kustomize-into-namespace';

interface RenderedObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: { replicas?: number };
}

async function render(overlay: string): Promise<RenderedObject[]> {
  return k8s.loadAllYaml(await runOrThrow('kubectl', ['kustomize', overlay])) as RenderedObject[];
}

describe('the deploy/ kustomize overlays', () => {
  // A dry run cannot create siirto-system for the objects that go in it, so the server validates each
  // overlay re-rooted into this test's own (existing) namespace.
  const { namespace } = isolate('deploy-manifests');

  it.each(['local', 'production'])(
    'overlays/%s is accepted by the API server, every object validated server-side',
    async (overlay) => {
      const manifest = await kustomizeIntoNamespace(`deploy/overlays/${overlay}`, {
        namespace,
        nameSuffix: '-dry-run',
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
});
