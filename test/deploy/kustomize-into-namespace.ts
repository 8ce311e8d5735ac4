import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runOrThrow } from '../harness/commands';
import { stack } from '../harness/stack';

/**
 * Renders one of Siirto's kustomizations (a folder under deploy/) into another namespace, with a name
 * suffix on every object, so a test can apply it without meeting the real siirto-system objects or
 * another test's cluster-wide ClusterRoles. Kustomize rewrites the bindings' subjects and role
 * references to match, as it would for a user's own overlay.
 */
export async function kustomizeIntoNamespace(
  folder: string,
  rename: { namespace: string; nameSuffix?: string },
): Promise<string> {
  const overlay = mkdtempSync(path.join(tmpdir(), 'siirto-overlay-'));
  try {
    // Kustomize refuses absolute paths to other kustomizations; a relative one works from anywhere.
    const target = path.relative(overlay, path.join(stack.projectDir, folder));
    const nameSuffix = rename.nameSuffix ? `nameSuffix: ${rename.nameSuffix}\n` : '';
    writeFileSync(
      path.join(overlay, 'kustomization.yaml'),
      `namespace: ${rename.namespace}\n${nameSuffix}resources:\n  - ${target}\n`,
    );
    return await runOrThrow('kubectl', ['kustomize', overlay]);
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
}
