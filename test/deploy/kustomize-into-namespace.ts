import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runOrThrow } from '../harness/commands';
import { stack } from '../harness/stack';

/**
 * Renders one of Siirto's kustomizations (a folder under deploy/), with any of its components, into
 * another namespace, with a name suffix on every object, so a test can apply it without meeting the
 * real siirto-system objects or another test's cluster-wide ClusterRoles. Kustomize rewrites the
 * bindings' subjects and role references to match, as it would for a user's own overlay.
 */
export async function kustomizeIntoNamespace(
  folder: string,
  options: { namespace: string; nameSuffix?: string; components?: string[] },
): Promise<string> {
  const overlay = mkdtempSync(path.join(tmpdir(), 'siirto-overlay-'));
  try {
    // Kustomize refuses absolute paths to other kustomizations; a relative one works from anywhere.
    const relative = (to: string) => path.relative(overlay, path.join(stack.projectDir, to));
    // Besides `namespace:`, which leaves alone subjects named with a namespace (as a component's
    // bindings must name siirto-system), every ServiceAccount a binding names moves too, so the
    // accounts bound are the ones renamed.
    const namespaceTransformer = {
      apiVersion: 'builtin',
      kind: 'NamespaceTransformer',
      metadata: { name: 'into-test-namespace', namespace: options.namespace },
      setRoleBindingSubjects: 'allServiceAccounts',
    };
    writeFileSync(path.join(overlay, 'namespace.yaml'), JSON.stringify(namespaceTransformer));
    // As JSON, which is YAML too: a suffix such as -123456 would otherwise be read as a number.
    const kustomization = {
      namespace: options.namespace,
      transformers: ['namespace.yaml'],
      ...(options.nameSuffix ? { nameSuffix: options.nameSuffix } : {}),
      resources: [relative(folder)],
      ...(options.components?.length ? { components: options.components.map(relative) } : {}),
    };
    writeFileSync(path.join(overlay, 'kustomization.yaml'), JSON.stringify(kustomization));
    return await runOrThrow('kubectl', ['kustomize', overlay]);
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
}
