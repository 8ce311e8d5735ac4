import {
  FLEET_PREVIOUS_TEMPLATE_ANNOTATION,
  FLEET_RELEASE_ANNOTATION,
} from '../activities/fleet/cluster-rollouts';
import type { Rollout } from '../schemas/rollout';
import { parseReleaseValue, releaseValue } from '../temporal/release-attribute';

/**
 * The fleet release (`<app>/<release>`) a revision about to start belongs to, for its run's
 * `SiirtoRelease` search attribute: the Rollout carries the release's `siirto.dev/fleet-release`, and
 * the revision is not the template the release replaced (a later roll-back to it, or an undo, is no
 * revision of the release). Undefined when the annotation is absent or is not in the form a release
 * writes: the run then starts without the attribute, as any run does.
 */
export function fleetReleaseOfRevision(
  rollout: Pick<Rollout, 'metadata'>,
  templateHash: string,
): string | undefined {
  const annotations = rollout.metadata.annotations ?? {};
  const name = parseReleaseValue(annotations[FLEET_RELEASE_ANNOTATION]);
  if (!name) return undefined;
  if (annotations[FLEET_PREVIOUS_TEMPLATE_ANNOTATION] === templateHash) return undefined;
  return releaseValue(name);
}
