import { encodePurlComponent, packageUrlOfImage, parseImageReference } from '../../cdevents/package-url';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('package URL of a container image', () => {
  it.each([
    ['nginx', 'pkg:oci/nginx?repository_url=docker.io%2Flibrary%2Fnginx&tag=latest'],
    ['nginx:1.27', 'pkg:oci/nginx?repository_url=docker.io%2Flibrary%2Fnginx&tag=1.27'],
    [
      'registry.example.com:5000/team/app:v2',
      'pkg:oci/app?repository_url=registry.example.com:5000%2Fteam%2Fapp&tag=v2',
    ],
    [`ghcr.io/org/app@${DIGEST}`, `pkg:oci/app@${DIGEST}?repository_url=ghcr.io%2Forg%2Fapp`],
    ['docker.io/library/nginx', 'pkg:oci/nginx?repository_url=docker.io%2Flibrary%2Fnginx&tag=latest'],
    ['index.docker.io/bitnami/redis:7.4', 'pkg:oci/redis?repository_url=docker.io%2Fbitnami%2Fredis&tag=7.4'],
    ['localhost:5000/shop:dev', 'pkg:oci/shop?repository_url=localhost:5000%2Fshop&tag=dev'],
    [
      'Registry.Example.com/Team/MyApp:v1',
      'pkg:oci/myapp?repository_url=Registry.Example.com%2FTeam%2FMyApp&tag=v1',
    ],
    [
      `quay.io/org/app:v3@${DIGEST.toUpperCase().replace('SHA256', 'sha256')}`,
      `pkg:oci/app@${DIGEST}?repository_url=quay.io%2Forg%2Fapp&tag=v3`,
    ],
  ])('%s is %s', (image, purl) => {
    expect(packageUrlOfImage(image)).toBe(purl);
  });

  it('gives an image on Docker Hub one purl however it is written', () => {
    const purls = new Set(
      ['nginx', 'docker.io/nginx', 'docker.io/library/nginx:latest'].map(packageUrlOfImage),
    );
    expect([...purls]).toEqual(['pkg:oci/nginx?repository_url=docker.io%2Flibrary%2Fnginx&tag=latest']);
  });

  it('keeps what it encodes recoverable: the qualifiers decode to the registry path and tag', () => {
    const purl = packageUrlOfImage('registry.example.com:5000/team/app:v2');
    const qualifiers = new URLSearchParams(purl.split('?')[1]);
    expect(qualifiers.get('repository_url')).toBe('registry.example.com:5000/team/app');
    expect(qualifiers.get('tag')).toBe('v2');
  });

  it('reads a one-segment name with a port-like suffix as a tag, as container runtimes do', () => {
    expect(parseImageReference('myhost:5000')).toEqual({
      registry: 'docker.io',
      path: 'library/myhost',
      tag: '5000',
      digest: undefined,
    });
  });

  it.each([
    ['', 'it is empty'],
    ['   ', 'it is empty'],
    ['nginx latest', 'white space'],
    ['nginx:', 'is not a valid tag'],
    ['team//app', 'empty segment'],
    ['app@sha256:xyz', 'is not algorithm:hex'],
  ])('refuses %j, naming the image and the problem', (image, problem) => {
    expect(() => packageUrlOfImage(image)).toThrow(problem);
    expect(() => packageUrlOfImage(image)).toThrow(`image ${JSON.stringify(image)}`);
  });
});

describe('purl percent-encoding', () => {
  it.each([
    ['abc-1.2_3~', 'abc-1.2_3~'],
    ['host:5000/a b', 'host:5000%2Fa%20b'],
    ["a!b*c'd(e)", 'a%21b%2Ac%27d%28e%29'],
    ['a+b&c=d?e#f@g%h', 'a%2Bb%26c%3Dd%3Fe%23f%40g%25h'],
    ['café', 'caf%C3%A9'],
  ])('encodes %j as %j', (text, encoded) => {
    expect(encodePurlComponent(text)).toBe(encoded);
    expect(decodeURIComponent(encoded)).toBe(text);
  });
});
