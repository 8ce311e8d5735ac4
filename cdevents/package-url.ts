/**
 * The package URL (purl, https://github.com/package-url/purl-spec) of a container image, as CDEvents
 * wants for an artifact: `pkg:oci/<name>@<digest>?repository_url=<registry/path>&tag=<tag>`.
 *
 * Pure: it runs in workflow code as well as in activities.
 */

/** What a container image reference says, with Docker's defaults filled in. */
export interface ImageReference {
  /** Host (and port) of the registry, such as `docker.io` or `registry.example.com:5000`. */
  registry: string;
  /** Repository path inside the registry, such as `library/nginx` or `team/app`. */
  path: string;
  tag?: string;
  /** Content digest such as `sha256:<64 hex>`, lowercase. */
  digest?: string;
}

const DOCKER_HUB = 'docker.io';
/** Names Docker accepts for Docker Hub; the purl names it one way so equal images get equal purls. */
const DOCKER_HUB_ALIASES = new Set([DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io']);
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-f]{32,}$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/**
 * Reads an image reference the way a container runtime does: a first segment with a dot or a port,
 * or `localhost`, is a registry; otherwise the image is on Docker Hub, where one-segment names live
 * under `library/`. Without tag and digest, the runtime pulls `latest`.
 */
export function parseImageReference(image: string): ImageReference {
  const invalid = (why: string) =>
    new Error(
      `image ${JSON.stringify(image)} is not a valid image reference: ${why}; write it as [registry/]path[:tag][@sha256:digest]`,
    );
  let rest = image.trim();
  if (rest === '') throw invalid('it is empty');
  if (/\s/.test(rest)) throw invalid('it contains white space');

  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1).toLowerCase();
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(`the digest ${JSON.stringify(digest)} is not algorithm:hex`);
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(`the tag ${JSON.stringify(tag)} is not a valid tag`);
  }

  const segments = rest.split('/');
  if (segments.some((segment) => segment === '')) throw invalid('its path has an empty segment');
  const [first = '', ...others] = segments;
  const hasRegistry = others.length > 0 && (/[.:]/.test(first) || first === 'localhost');
  let registry = hasRegistry ? first : DOCKER_HUB;
  let pathSegments = hasRegistry ? others : segments;
  if (DOCKER_HUB_ALIASES.has(registry.toLowerCase())) {
    registry = DOCKER_HUB;
    if (pathSegments.length === 1) pathSegments = ['library', ...pathSegments];
  }
  if (!tag && !digest) tag = 'latest';
  return { registry, path: pathSegments.join('/'), tag, digest };
}

/**
 * Percent-encodes a purl component as the purl specification's canonical form does: letters, digits,
 * `.-_~` and the colon stay as they are, every other character becomes UTF-8 `%XX` triplets.
 */
export function encodePurlComponent(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%3A/g, ':');
}

/**
 * The purl of a container image: the name is the repository's last segment in lowercase, the digest
 * (when the image has one) is the version, and the qualifiers, in key order, say where the image
 * lives (`repository_url`) and which tag it was pulled by (`tag`).
 */
export function packageUrlOfImage(image: string): string {
  const reference = parseImageReference(image);
  const name = (reference.path.split('/').pop() ?? reference.path).toLowerCase();
  const qualifiers: [string, string | undefined][] = [
    ['repository_url', `${reference.registry}/${reference.path}`],
    ['tag', reference.tag],
  ];
  const query = qualifiers
    .filter((pair): pair is [string, string] => pair[1] !== undefined)
    .map(([key, value]) => `${key}=${encodePurlComponent(value)}`)
    .join('&');
  const version = reference.digest ? `@${encodePurlComponent(reference.digest)}` : '';
  return `pkg:oci/${encodePurlComponent(name)}${version}?${query}`;
}
