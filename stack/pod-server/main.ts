import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { Behaviour, changeBehaviour, DEFAULT_BEHAVIOUR } from './behaviour';
import { Pod, watchPods } from './pod-watch';
import { SamplePod, servedPorts } from './sample-pod';

/**
 * The local stack's stand-in for a container runtime: kwok makes pods Running and Ready without
 * running anything, so this server, inside the pods' network namespace, answers for every Running pod
 * at its pod IP and container ports with the sample app (sample-pod.ts). Every pod address is local
 * in that namespace, so one listener per port serves them all and tells pods apart by the address a
 * connection arrived at; an address that is no Running pod's is refused, as a dead pod's would be.
 *
 * A Unix socket takes commands for tests and the quick start:
 *   GET /pods                    the pods served: address, version, behaviour, requests served
 *   PUT /behaviour               {namespace, image, errorRate?, latencyMilliseconds?}: changes how
 *                                every pod of that image in that namespace answers, now and later
 *
 *   ip netns exec siirto-pods node --import tsx stack/pod-server/main.ts \
 *     --apiserver-socket .stack/pod-server/apiserver.sock --control-socket .stack/pod-server/control.sock
 */

const { values } = parseArgs({
  options: {
    'apiserver-socket': { type: 'string' },
    'control-socket': { type: 'string' },
  },
});
const apiserverSocket = values['apiserver-socket'];
const controlSocket = values['control-socket'];
if (!apiserverSocket || !controlSocket) {
  process.stderr.write(
    '--apiserver-socket (kubectl proxy --unix-socket) and --control-socket are required\n',
  );
  process.exit(2);
}

const log = (event: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n`);

/** Runtime changes by `PUT /behaviour`, by `namespace/image`. */
const behaviourChanges = new Map<string, Behaviour>();
const imageKey = (namespace: string, image: string) => `${namespace}/${image}`;

/** The sample app of each Running pod, by uid, so its counters live as long as the pod. */
const samples = new Map<string, SamplePod>();
/** `ip:port` → the pod answering there. */
const addresses = new Map<string, SamplePod>();
const listeners = new Map<number, Server>();
/** Open connections by the pod address they arrived at, to cut them when the pod goes. */
const connections = new Map<string, Set<Socket>>();

const imageKeyOf = (pod: Pod) => imageKey(pod.metadata.namespace, pod.spec.containers[0]?.image ?? '');

function behaviourOf(pod: Pod, initial: () => Behaviour): () => Behaviour {
  const key = imageKeyOf(pod);
  return () => behaviourChanges.get(key) ?? initial();
}

function initialBehaviourOf(key: string): Behaviour | undefined {
  return [...samples.values()].find((sample) => imageKeyOf(sample.pod) === key)?.initialBehaviour;
}

function podsChanged(pods: ReadonlyMap<string, Pod>): void {
  const running = new Set<string>();
  addresses.clear();
  for (const pod of pods.values()) {
    const ip = pod.status?.podIP;
    if (pod.status?.phase !== 'Running' || !ip) continue;
    running.add(pod.metadata.uid);
    let sample = samples.get(pod.metadata.uid);
    if (!sample) {
      try {
        const created: SamplePod = new SamplePod(
          pod,
          behaviourOf(pod, () => created.initialBehaviour),
        );
        sample = created;
      } catch (error) {
        log('pod not served', {
          pod: `${pod.metadata.namespace}/${pod.metadata.name}`,
          error: String(error),
        });
        continue;
      }
      samples.set(pod.metadata.uid, sample);
      log('serving', { pod: sample.name, ip, ports: servedPorts(pod), version: sample.version });
    }
    for (const port of servedPorts(pod)) {
      addresses.set(`${ip}:${port}`, sample);
      listen(port);
    }
  }
  for (const [uid, sample] of samples) {
    if (running.has(uid)) continue;
    samples.delete(uid);
    log('stopped serving', { pod: sample.name });
  }
  // A pod gone, or at another address, takes its connections with it.
  for (const [address, sockets] of connections) {
    if (addresses.has(address)) continue;
    for (const socket of sockets) socket.destroy();
    connections.delete(address);
  }
}

function listen(port: number): void {
  if (listeners.has(port)) return;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const { localAddress, localPort } = request.socket;
    const sample = addresses.get(`${localAddress}:${localPort}`);
    if (!sample) {
      request.socket.destroy();
      return;
    }
    sample.handle(request, response);
  });
  // Longer than any test: an idle connection closed just as the gateway reuses it would fail a request.
  server.keepAliveTimeout = 10 * 60_000;
  server.on('connection', (socket: Socket) => {
    const address = `${socket.localAddress}:${socket.localPort}`;
    if (!addresses.has(address)) {
      socket.destroy();
      return;
    }
    const open = connections.get(address) ?? new Set<Socket>();
    connections.set(address, open);
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  server.on('error', (error) => log('listen failed', { port, error: String(error) }));
  server.listen(port, '0.0.0.0');
  listeners.set(port, server);
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  let body = '';
  for await (const chunk of request) body += String(chunk);
  return JSON.parse(body);
}

function control(request: IncomingMessage, response: ServerResponse): void {
  const reply = (status: number, body: unknown) => {
    response.writeHead(status, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(body));
  };
  const path = new URL(request.url ?? '/', 'http://control').pathname;
  if (request.method === 'GET' && path === '/pods') {
    reply(
      200,
      [...samples.values()].map((sample) => ({
        namespace: sample.pod.metadata.namespace,
        name: sample.pod.metadata.name,
        ip: sample.pod.status?.podIP,
        ports: servedPorts(sample.pod),
        labels: sample.pod.metadata.labels ?? {},
        image: sample.pod.spec.containers[0]?.image,
        version: sample.version,
        served: sample.served,
      })),
    );
  } else if (request.method === 'PUT' && path === '/behaviour') {
    readJson(request).then(
      (body) => {
        const { namespace, image, ...change } = (body ?? {}) as Record<string, unknown>;
        if (typeof namespace !== 'string' || typeof image !== 'string') {
          return reply(400, { error: 'namespace and image are required: whose pods change' });
        }
        const key = imageKey(namespace, image);
        // A change applies on top of what the image's pods do now.
        const current = behaviourChanges.get(key) ?? initialBehaviourOf(key) ?? DEFAULT_BEHAVIOUR;
        try {
          const next = changeBehaviour(current, change);
          behaviourChanges.set(key, next);
          log('behaviour', { namespace, image, ...next });
          reply(200, next);
        } catch (error) {
          reply(400, { error: (error as Error).message });
        }
      },
      (error: Error) => reply(400, { error: `the body must be JSON: ${error.message}` }),
    );
  } else {
    reply(404, { error: 'GET /pods or PUT /behaviour' });
  }
}

rmSync(controlSocket, { force: true });
createServer(control).listen(controlSocket, () => log('control listening', { socket: controlSocket }));
watchPods(apiserverSocket, podsChanged);
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
