import { createServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { watchPods, type Pod } from '../../stack/pod-server/pod-watch';
import { waitFor } from '../harness/wait';

const pod = (name: string): Pod => ({
  metadata: { namespace: 'shop', name, uid: name, resourceVersion: '1' },
  spec: { containers: [{ name: 'app', image: 'registry.example/shop:1' }] },
  status: { phase: 'Running', podIP: '198.18.0.9' },
});

/**
 * The pod server's watch of the cluster's pods, against a stand-in for `kubectl proxy` that drops the
 * watch's connection mid-stream, as it does when the apiserver behind it is killed.
 */
describe("the pod server's watch of pods", () => {
  let server: Server | undefined;
  const stopped = new AbortController();
  afterEach(() => {
    stopped.abort();
    server?.close();
  });

  it('survives a watch connection dropped mid-stream, keeps its pods and lists again', async () => {
    const socketPath = path.join(mkdtempSync(path.join(tmpdir(), 'pod-watch-')), 'apiserver.sock');
    let lists = 0;
    server = createServer((request, response) => {
      if (!request.url?.includes('watch=true')) {
        lists++;
        response.end(JSON.stringify({ metadata: { resourceVersion: '1' }, items: [pod('web-1')] }));
        return;
      }
      // Headers and half an event, then the connection is gone.
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.write('{"type":"ADDED","object":');
      setTimeout(() => response.socket?.destroy(), 50);
    });
    await new Promise<void>((resolve) => server!.listen(socketPath, resolve));

    const seen: string[][] = [];
    watchPods(socketPath, (pods) => seen.push([...pods.keys()]), stopped.signal);

    await waitFor('the pods to be listed again after the dropped watch', () => lists >= 2, {
      timeoutMs: 10_000,
    });
    expect(seen.every((names) => names.join() === 'shop/web-1')).toBe(true);
  });
});
