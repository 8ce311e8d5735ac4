import { request } from 'node:http';
import type { Behaviour } from '../../stack/pod-server/behaviour';
import { stack } from '../harness/stack';

/** A pod the stack's pod server answers for, as its `GET /pods` lists it. */
export interface ServedPod {
  namespace: string;
  name: string;
  ip: string;
  ports: number[];
  labels: Record<string, string>;
  image: string;
  version: string;
  /** Requests it has answered, /metrics not counted. */
  served: number;
}

/** The stack's pod server, through its control socket. */
export const podServer = {
  async pods(namespace: string): Promise<ServedPod[]> {
    const pods = await call<ServedPod[]>('GET', '/pods');
    return pods.filter((pod) => pod.namespace === namespace);
  },
  setBehaviour(namespace: string, image: string, change: Partial<Behaviour>): Promise<Behaviour> {
    return call<Behaviour>('PUT', '/behaviour', { namespace, image, ...change });
  },
};

function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const sent = request(
      { socketPath: stack.podServerSocket, method, path, headers: { 'Content-Type': 'application/json' } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.once('end', () => {
          if (response.statusCode !== 200) {
            reject(new Error(`pod server: ${method} ${path} answered ${response.statusCode}: ${text}`));
          } else {
            resolve(JSON.parse(text) as T);
          }
        });
      },
    );
    sent.once('error', reject);
    sent.setTimeout(5_000, () => sent.destroy(new Error(`pod server: ${method} ${path} took over 5 s`)));
    sent.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
