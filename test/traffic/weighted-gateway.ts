import * as k8s from '@kubernetes/client-node';
import { keepIdleConnectionsOpen } from './idle-connections';
import { Agent, createServer, IncomingMessage, request as httpRequest, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { KubeClients, makeKubeClients } from '../../kubernetes/client';
import { apiMessage } from '../../kubernetes/errors';
import { endWithParent, fail, listenAndAnnounce } from './child-lifecycle';
import { GatewayWeights, HTTP_ROUTE, HttpRoute, weightsOfRoute } from './route-weights';
import { WeightedPicker } from './weighted-picker';

/**
 * A gateway for tests: splits requests between sample apps by the weights of one HTTPRoute, as a
 * Gateway API implementation would, and follows weight changes through a watch.
 *
 *   node --import tsx test/traffic/weighted-gateway.ts --namespace shop --route checkout \
 *     --backend checkout-stable=http://127.0.0.1:41001 --backend checkout-canary=http://127.0.0.1:41002 \
 *     [--port 0]
 *
 * The cluster comes from KUBECONFIG. `GET /gateway/weights` tells the weights in use; every other
 * request goes to a backend of the route's first rule, or is answered 503 when all weights are 0.
 */

/** A watch that ends sooner than this is not reopened sooner: a refused watch must not become a busy loop. */
const MINIMUM_WATCH_LIFETIME_MS = 1_000;

function log(event: string, fields: object): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

function readOptions() {
  const { values } = parseArgs({
    options: {
      namespace: { type: 'string' },
      route: { type: 'string' },
      backend: { type: 'string', multiple: true, default: [] },
      port: { type: 'string', default: '0' },
    },
  });
  if (!values.namespace) fail('--namespace is required: the namespace of the HTTPRoute to follow');
  if (!values.route) fail('--route is required: the name of the HTTPRoute to follow');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    fail(`--port must be a port number, or 0 for any free port; got ${values.port}`);
  }
  const backends = new Map<string, URL>();
  for (const backend of values.backend) {
    const separator = backend.indexOf('=');
    const service = backend.slice(0, separator);
    let url: URL | undefined;
    try {
      url = new URL(backend.slice(separator + 1));
    } catch {
      url = undefined;
    }
    if (separator <= 0 || url?.protocol !== 'http:') {
      fail(
        `--backend must be SERVICE=http://HOST:PORT, such as checkout-stable=http://127.0.0.1:41001; got ${backend}`,
      );
    }
    backends.set(service, url);
  }
  return { namespace: values.namespace, route: values.route, port, backends };
}

/**
 * Lists the route and applies it, then keeps watching it from the list's version; when a watch ends
 * for any reason (the apiserver closes watches, or answers 410 Gone for a version too old) it lists
 * again, which also catches up on whatever happened in between. Resolves once the first list is
 * applied and fails only if that first list does: later failures are retried.
 */
async function followRoute(
  { custom, config }: KubeClients,
  namespace: string,
  name: string,
  apply: (route: HttpRoute | undefined) => void,
  stopped: AbortSignal,
): Promise<void> {
  const watch = new k8s.Watch(config);
  const fieldSelector = `metadata.name=${name}`;
  const list = async () => {
    const routes = (await custom.listNamespacedCustomObject({ ...HTTP_ROUTE, namespace, fieldSelector })) as {
      items: HttpRoute[];
      metadata?: { resourceVersion?: string };
    };
    apply(routes.items[0]);
    return routes.metadata?.resourceVersion;
  };

  const keepWatching = async (firstVersion: string | undefined) => {
    let resourceVersion = firstVersion;
    for (;;) {
      const openedAt = Date.now();
      if (resourceVersion !== undefined) {
        await watchUntilClosed(watch, namespace, fieldSelector, resourceVersion, apply, stopped);
      }
      if (stopped.aborted) return;
      const lifetimeMs = Date.now() - openedAt;
      if (lifetimeMs < MINIMUM_WATCH_LIFETIME_MS) {
        await delay(MINIMUM_WATCH_LIFETIME_MS - lifetimeMs, undefined, { signal: stopped }).catch(
          () => undefined,
        );
        if (stopped.aborted) return;
      }
      try {
        resourceVersion = await list();
      } catch (error) {
        log('list-failed', { error: apiMessage(error) });
        resourceVersion = undefined;
      }
    }
  };
  void keepWatching(await list());
}

function watchUntilClosed(
  watch: k8s.Watch,
  namespace: string,
  fieldSelector: string,
  resourceVersion: string,
  apply: (route: HttpRoute | undefined) => void,
  stopped: AbortSignal,
): Promise<void> {
  return new Promise((resolve) => {
    let connection: AbortController | undefined;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      stopped.removeEventListener('abort', close);
      connection?.abort();
      resolve();
    };
    stopped.addEventListener('abort', close, { once: true });
    watch
      .watch(
        `/apis/${HTTP_ROUTE.group}/${HTTP_ROUTE.version}/namespaces/${namespace}/${HTTP_ROUTE.plural}`,
        { fieldSelector, resourceVersion, allowWatchBookmarks: true },
        (type: string, object: HttpRoute) => {
          if (closed) return;
          if (type === 'ADDED' || type === 'MODIFIED') apply(object);
          else if (type === 'DELETED') apply(undefined);
          else if (type === 'ERROR') {
            log('watch-error', { status: object });
            close();
          }
        },
        (error: unknown) => {
          if (error && !stopped.aborted) log('watch-ended', { error: apiMessage(error) });
          close();
        },
      )
      .then(
        (controller) => {
          connection = controller;
          if (closed) controller.abort();
        },
        (error: unknown) => {
          log('watch-failed', { error: apiMessage(error) });
          close();
        },
      );
  });
}

function answer(response: ServerResponse, status: number, body: object): void {
  response.writeHead(status, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(body));
}

async function main(): Promise<void> {
  const options = readOptions();
  const routeName = `${options.namespace}/${options.route}`;
  let applied: GatewayWeights = { route: routeName, found: false, weights: {}, appliedAt: Date.now() };
  let picker = new WeightedPicker(new Map());

  const apply = (route: HttpRoute | undefined) => {
    const weights = weightsOfRoute(route);
    const unchanged =
      (route !== undefined) === applied.found &&
      JSON.stringify(Object.fromEntries(weights)) === JSON.stringify(applied.weights);
    const resourceVersion = route?.metadata?.resourceVersion;
    if (unchanged) {
      applied = { ...applied, resourceVersion };
      return;
    }
    // A new picker starts the round afresh; keeping the old one for equal weights keeps the split exact.
    picker = new WeightedPicker(weights);
    applied = {
      route: routeName,
      found: route !== undefined,
      weights: Object.fromEntries(weights),
      resourceVersion,
      appliedAt: Date.now(),
    };
    const unmapped = [...weights.keys()].filter((service) => !options.backends.has(service));
    log('weights', { ...applied, ...(unmapped.length > 0 ? { unmapped } : {}) });
  };

  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const forward = (request: IncomingMessage, response: ServerResponse) => {
    const service = picker.pick();
    if (service === undefined) {
      const reason = applied.found ? 'every backend of its first rule has weight 0' : 'it does not exist';
      return answer(response, 503, { error: `no backend for HTTPRoute ${routeName}: ${reason}` });
    }
    const target = options.backends.get(service);
    if (!target) {
      return answer(response, 500, {
        error: `no address for Service ${service}: start the gateway with --backend ${service}=http://127.0.0.1:PORT`,
      });
    }
    const upstream = httpRequest(
      {
        hostname: target.hostname,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, host: target.host },
        agent,
      },
      (backendResponse) => {
        response.writeHead(backendResponse.statusCode ?? 502, {
          ...backendResponse.headers,
          'X-Gateway-Backend': service,
        });
        backendResponse.pipe(response);
      },
    );
    upstream.on('error', (error) => {
      if (response.headersSent) return response.destroy(error);
      answer(response, 502, {
        error: `Service ${service} at ${target.origin} did not answer: ${error.message}`,
      });
    });
    // A client that gives up releases the backend too.
    response.once('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });
    request.pipe(upstream);
  };

  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://gateway').pathname;
    if (path === '/gateway/weights' && request.method === 'GET') return answer(response, 200, applied);
    if (path.startsWith('/gateway/'))
      return answer(response, 404, { error: 'the gateway answers GET /gateway/weights' });
    forward(request, response);
  });
  keepIdleConnectionsOpen(server);

  const stopping = new AbortController();
  endWithParent(() => {
    stopping.abort();
    server.closeAllConnections();
    server.close();
    agent.destroy();
  });

  // Listening only once the route has been read: a test that learns the port can rely on the weights.
  try {
    await followRoute(makeKubeClients(), options.namespace, options.route, apply, stopping.signal);
  } catch (error) {
    fail(
      `cannot read HTTPRoute ${routeName}: ${apiMessage(error)}; ` +
        'is KUBECONFIG set and the Gateway API CRD (httproutes.gateway.networking.k8s.io) installed?',
    );
  }
  await listenAndAnnounce(server, options.port);
}

main().catch((error: Error) => fail(`weighted gateway failed: ${error.stack ?? error.message}`));
