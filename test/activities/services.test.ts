import { pointServiceAtRevision } from '../../activities/services';
import { POD_TEMPLATE_HASH_LABEL } from '../../kubernetes/labels';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { activityKubeClients, failureOf } from './fixtures';

describe('pointing a Service at a revision', () => {
  const scope = isolate('activity-service');
  const kube = activityKubeClients();
  const { core } = kubeClients();
  const rollout = () => ({ namespace: scope.namespace, name: 'shop', uid: 'uid-of-shop' });

  it('adds the pod-template-hash to its selector, keeps the other keys, and moves it on the next revision', async () => {
    await core.createNamespacedService({
      namespace: scope.namespace,
      body: {
        metadata: { name: 'shop-canary' },
        spec: { selector: { app: 'shop', tier: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    });

    await pointServiceAtRevision(kube, {
      rollout: rollout(),
      service: 'shop-canary',
      templateHash: 'aaaaaaaaaa',
    });
    const first = await core.readNamespacedService({ name: 'shop-canary', namespace: scope.namespace });
    expect(first.spec?.selector).toEqual({
      app: 'shop',
      tier: 'web',
      [POD_TEMPLATE_HASH_LABEL]: 'aaaaaaaaaa',
    });

    await pointServiceAtRevision(kube, {
      rollout: rollout(),
      service: 'shop-canary',
      templateHash: 'aaaaaaaaaa',
    });
    const again = await core.readNamespacedService({ name: 'shop-canary', namespace: scope.namespace });
    expect(again.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);

    await pointServiceAtRevision(kube, {
      rollout: rollout(),
      service: 'shop-canary',
      templateHash: 'bbbbbbbbbb',
    });
    const moved = await core.readNamespacedService({ name: 'shop-canary', namespace: scope.namespace });
    expect(moved.spec?.selector).toEqual({
      app: 'shop',
      tier: 'web',
      [POD_TEMPLATE_HASH_LABEL]: 'bbbbbbbbbb',
    });
    expect(moved.spec?.ports?.[0]?.targetPort).toBe(8080);
  });

  it('fails non-retryably naming the Service when it does not exist', async () => {
    const failure = await failureOf(
      pointServiceAtRevision(kube, {
        rollout: rollout(),
        service: 'shop-stable',
        templateHash: 'aaaaaaaaaa',
      }),
    );

    expect(failure.type).toBe('ServiceMissing');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(`Service ${scope.namespace}/shop-stable`);
    expect(failure.message).toContain(`Rollout ${scope.namespace}/shop`);
    expect(failure.message).toContain('create it');
  });
});
