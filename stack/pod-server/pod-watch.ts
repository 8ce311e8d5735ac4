import { request } from 'node:http';
import { createInterface } from 'node:readline';

/**
 * Keeps a map of the cluster's pods, by list and watch through `kubectl proxy` on a Unix socket: the
 * pod server runs inside the pods' network namespace, where the apiserver's loopback address is not
 * reachable, but a socket file is.
 */

export interface Pod {
  metadata: {
    namespace: string;
    name: string;
    uid: string;
    resourceVersion: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
  };
  spec: {
    containers: {
      name: string;
      image: string;
      ports?: { containerPort: number; protocol?: string }[];
      env?: { name: string; value?: string }[];
    }[];
  };
  status?: { phase?: string; podIP?: string };
}

interface PodList {
  metadata: { resourceVersion: string };
  items: Pod[];
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Pod & { code?: number };
}

const RETRY_MS = 1_000;

/** Lists and watches until `stopped` (the pod server never stops it; a test does). */
export function watchPods(
  socketPath: string,
  onChange: (pods: ReadonlyMap<string, Pod>) => void,
  stopped?: AbortSignal,
): void {
  const pods = new Map<string, Pod>();
  const key = (pod: Pod) => `${pod.metadata.namespace}/${pod.metadata.name}`;

  const get = (path: string) =>
    request({ socketPath, path, headers: { Accept: 'application/json' }, timeout: 0 });

  const list = () =>
    new Promise<string>((resolve, reject) => {
      const call = get('/api/v1/pods');
      call.once('response', (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.once('end', () => {
          if (response.statusCode !== 200)
            return reject(new Error(`listing pods: ${response.statusCode} ${body}`));
          const listed = JSON.parse(body) as PodList;
          pods.clear();
          for (const pod of listed.items) pods.set(key(pod), pod);
          onChange(pods);
          resolve(listed.metadata.resourceVersion);
        });
      });
      call.once('error', reject);
      call.end();
    });

  /** Resolves when the watch ends, for whatever reason; the caller lists again. */
  const watch = (resourceVersion: string) =>
    new Promise<void>((resolve) => {
      const call = get(
        `/api/v1/pods?watch=true&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}`,
      );
      call.once('response', (response) => {
        const lines = createInterface({ input: response });
        // A connection the apiserver drops (as when it restarts) ends this watch, not the pod server:
        // pods keep answering through a control-plane outage, as a kubelet's containers do.
        lines.on('error', () => resolve());
        response.once('error', () => resolve());
        lines.on('line', (line) => {
          const event = JSON.parse(line) as WatchEvent;
          if (event.type === 'ERROR') {
            call.destroy();
            return;
          }
          if (event.type === 'BOOKMARK') return;
          if (event.type === 'DELETED') pods.delete(key(event.object));
          else pods.set(key(event.object), event.object);
          onChange(pods);
        });
        response.once('close', () => resolve());
      });
      call.once('error', () => resolve());
      call.end();
    });

  const run = async () => {
    while (!stopped?.aborted) {
      try {
        // A watch the apiserver ends after its timeout is listed again at once.
        await watch(await list());
      } catch (error) {
        process.stderr.write(`${JSON.stringify({ event: 'pod list failed', error: String(error) })}\n`);
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  };
  // Runs until `stopped`; it catches its own failures and retries, so it never rejects.
  void run();
}
