import { kubeClients } from '../harness/kube';
import { isolate } from '../harness/isolation';
import { run, runOrThrow } from '../harness/commands';
import { waitFor } from '../harness/wait';

describe('the local Kubernetes control plane', () => {
  const scope = isolate('kubernetes');
  const { apps } = kubeClients();

  it('serves the pinned Kubernetes version, and kubectl matches its minor version', async () => {
    const version = JSON.parse(await runOrThrow('kubectl', ['version', '-o', 'json']));
    expect(version.serverVersion.gitVersion).toMatch(/^v1\.34\.\d+$/);
    expect(version.clientVersion.minor).toBe(version.serverVersion.minor);
  });

  it('makes a ReplicaSet of 3 available through the controller-manager, scheduler and kwok', async () => {
    const labels = { app: 'smoke' };
    await apps.createNamespacedReplicaSet({
      namespace: scope.namespace,
      body: {
        metadata: { name: 'smoke' },
        spec: {
          replicas: 3,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'app', image: 'registry.example/smoke:1' }] },
          },
        },
      },
    });
    const status = await waitFor('3/3 available replicas', async () => {
      const replicaSet = await apps.readNamespacedReplicaSet({ name: 'smoke', namespace: scope.namespace });
      return replicaSet.status?.availableReplicas === 3 && replicaSet.status;
    });
    expect(status.readyReplicas).toBe(3);

    const pods = JSON.parse(
      await runOrThrow('kubectl', ['get', 'pods', '-n', scope.namespace, '-o', 'json']),
    );
    expect(pods.items).toHaveLength(3);
    for (const pod of pods.items) {
      expect(pod.spec.nodeName).toMatch(/^kwok-node-/);
      expect(pod.status.phase).toBe('Running');
    }
  });

  it('validates HTTPRoutes against the Gateway API schema', async () => {
    const route = (weight: number) => `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: weights-${weight}, namespace: ${scope.namespace} }
spec:
  rules:
    - backendRefs:
        - { name: stable, port: 80, weight: ${weight} }
`;
    const accepted = await run('kubectl', ['apply', '-f', '-'], route(100));
    expect(accepted.stderr).toBe('');
    expect(accepted.stdout).toContain('httproute.gateway.networking.k8s.io/weights-100 created');

    const rejected = await run('kubectl', ['apply', '-f', '-'], route(1_000_001));
    expect(rejected.code).not.toBe(0);
    expect(rejected.stderr).toContain('spec.rules[0].backendRefs[0].weight');
    expect(rejected.stderr).toContain('should be less than or equal to 1000000');
  });
});
