/**
 * The Prometheus servers a worker may query. A metric's `provider.prometheus.address` comes from
 * whoever wrote the template, and the worker would send its query (and make its requests from inside
 * the cluster) wherever that points; so it queries only the addresses its operator listed.
 *
 * Addresses compare as the request they lead to: scheme, user info, host and port as a URL parser
 * normalises them (`HTTP://Prom:80/` is `http://prom`), and the path without trailing slashes.
 * Query strings and fragments play no part, since the query endpoint is resolved without them.
 */
export class PrometheusAddressAllowList {
  private readonly allowed: ReadonlySet<string>;

  constructor(addresses: readonly string[]) {
    this.allowed = new Set(addresses.flatMap((address) => comparable(address) ?? []));
  }

  allows(address: string): boolean {
    const key = comparable(address);
    return key !== undefined && this.allowed.has(key);
  }
}

/** Says which address was refused and how to allow it, as a problem of `field`. */
export function refusedAddressProblem(field: string, address: string): string {
  return (
    `${field} is ${JSON.stringify(address)}, a Prometheus this worker is not allowed to query: add it to ` +
    'SIIRTO_PROMETHEUS_ALLOWED_ADDRESSES on the worker, or leave the address out to use SIIRTO_PROMETHEUS_URL'
  );
}

/** An http(s) URL, the only kind of Prometheus address Siirto queries. */
export function isHttpUrl(text: string): boolean {
  return httpUrl(text) !== undefined;
}

function httpUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

function comparable(address: string): string | undefined {
  const url = httpUrl(address);
  if (!url) return undefined;
  const userInfo = url.username || url.password ? `${url.username}:${url.password}@` : '';
  return `${url.protocol}//${userInfo}${url.host}${url.pathname.replace(/\/+$/, '')}`;
}
