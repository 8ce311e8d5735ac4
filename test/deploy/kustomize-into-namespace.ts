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
    // As JSON, which is YAML too: a suffix such as -123456 would otherwise be read as a number.
    const kustomization = {
      namespace: options.namespace,
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
