import { podTemplateHash } from '../../schemas/pod-template-hash';
import { PodTemplateSchema, type PodTemplate } from '../../schemas/rollout';
import type { FleetReleaseSpec } from '../../schemas/fleet-release';

/**
 * A release's change applied to one Rollout's pod template: pure, so the same template always gives
 * the same result and a retried write after a lost answer writes nothing new.
 */

export type TemplateChange = FleetReleaseSpec['change'];

/** A change that cannot apply to this template as written (a container it does not have). */
export class TemplateChangeError extends Error {
  override name = 'TemplateChangeError';
}

/** RFC 7386: objects merge key by key, null removes a key, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const base =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? (target as Record<string, unknown>)
      : {};
  const changes = patch as Record<string, unknown>;
  const kept = Object.entries(base).filter(([key]) => !(key in changes));
  const patched = Object.entries(changes)
    .filter(([, value]) => value !== null)
    .map(([key, value]) => [key, mergePatch(base[key], value)] as const);
  return Object.fromEntries([...kept, ...patched]);
}

interface Container {
  name?: unknown;
  image?: unknown;
}

/** The template with the change: the patch first, then each named container's image. */
export function changeTemplate(template: PodTemplate, change: TemplateChange): PodTemplate {
  const patched = change.templatePatch
    ? (mergePatch(structuredClone(template), change.templatePatch) as PodTemplate)
    : structuredClone(template);
  const images = Object.entries(change.images ?? {});
  if (images.length > 0) {
    const lists = ['containers', 'initContainers'].map((key) => patched.spec[key]);
    const containers = lists.flatMap((list) => (Array.isArray(list) ? (list as Container[]) : []));
    for (const [name, image] of images) {
      const found = containers.filter((container) => container.name === name);
      if (found.length === 0) {
        const names = containers.map((container) => String(container.name)).join(', ');
        throw new TemplateChangeError(
          `change.images names container ${name}, which the template does not have (it has ${names || 'none'}): ` +
            'name one of those, or change the Rollout first',
        );
      }
      for (const container of found) container.image = image;
    }
  }
  const checked = PodTemplateSchema.safeParse(patched);
  if (!checked.success) {
    throw new TemplateChangeError(
      `change.templatePatch leaves no valid pod template: ${checked.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}`,
    );
  }
  return checked.data;
}

/** The hash Siirto's bridge names the template's revision by (as it reads spec.template). */
export function templateHashOf(template: unknown): string {
  return podTemplateHash(PodTemplateSchema.parse(template));
}
