import { SiirtoReleaseKey } from '../workflows/search-attributes';
import { quoteQueryValue } from './cluster-identity';

/**
 * The `SiirtoRelease` search attribute (`<app>/<release>`) outside the release's own workflow: each
 * cluster's bridge puts it on the revision runs a release started, so one visibility query finds the
 * release and every cluster's runs of it. The value comes from an annotation anyone with write access
 * to a Rollout can set, so only the form a release writes is taken, and queries quote it.
 */

/** A Kubernetes object name, as a release file's `spec.app` and `metadata.name` are. */
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const LONGEST_NAME = 253;

export interface ReleaseName {
  app: string;
  release: string;
}

/** `<app>/<release>` as a release writes it, or undefined for any other text. */
export function parseReleaseValue(value: string | undefined): ReleaseName | undefined {
  if (value === undefined) return undefined;
  const parts = value.split('/');
  if (parts.length !== 2) return undefined;
  const [app = '', release = ''] = parts;
  const valid = (name: string) => name.length <= LONGEST_NAME && NAME.test(name);
  return valid(app) && valid(release) ? { app, release } : undefined;
}

/** The attribute's value, `<app>/<release>`. */
export function releaseValue(name: ReleaseName): string {
  return `${name.app}/${name.release}`;
}

/**
 * The visibility query for every workflow of one release: the release's own (`fleet/<app>`) and each
 * cluster's revision runs. The value is quoted, so no text can widen the query.
 */
export function releaseQuery(value: string): string {
  return `${SiirtoReleaseKey.name} = ${quoteQueryValue(value)}`;
}

/** Whether Temporal refused a start because its namespace has no `SiirtoRelease` search attribute. */
export function isReleaseAttributeMissing(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (
      cause.message.includes(SiirtoReleaseKey.name) &&
      /not a valid search attribute|not defined|not registered|invalid/i.test(cause.message)
    ) {
      return true;
    }
  }
  return false;
}
