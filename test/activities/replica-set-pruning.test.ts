import type * as k8s from '@kubernetes/client-node';
import { pruneOldReplicaSets, replicaSetsToPrune } from '../../activities/replica-set-pruning';
import { ensureReplicaSet } from '../../activities/replica-sets';
import { POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION } from '../../kubernetes/labels';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { activityKubeClients, changeRolloutImage, createRollout } from './fixtures';

describe('pruning the ReplicaSets of old revisions', () => {
  const scope = isolate('activity-prune');
  const kube = activityKubeClients();
  const { apps } = kubeClients();

  it('deletes the oldest scaled-down ones beyond revisionHistoryLimit, sparing kept, running and foreign ones', async () => {
    const first = await createRollout(scope.namespace, 'shop', { revisionHistoryLimit: 1, replicas: 1 });
    const hashes: string[] = [];
    // Revision 1 still runs (say, scaled up by hand); 2 to 4 are scaled down; 5 is current.
    for (let revision = 1; revision <= 5; revision++) {
      const { templateHash } =
        revision === 1 ? first : await changeRolloutImage(first.ref, `registry.example/shop:${revision}`);
      const replicas = revision === 1 || revision === 5 ? 1 : 0;
      await ensureReplicaSet(kube, { rollout: first.ref, revision, templateHash, replicas });
      hashes.push(templateHash);
    }
    await apps.createNamespacedReplicaSet({
      namespace: scope.namespace,
      body: {
        metadata: { name: 'hand-made', labels: { [POD_TEMPLATE_HASH_LABEL]: 'hand-made' } },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'hand-made' } },
          template: {
            metadata: { labels: { app: 'hand-made' } },
            spec: { containers: [{ name: 'app', image: 'registry.example/other:1' }] },
          },
        },
      },
    });
    const [running, oldest, older, stable, current] = hashes as [string, string, string, string, string];

    await pruneOldReplicaSets(kube, { rollout: first.ref, keepTemplateHashes: [current, stable] });

    const left = await apps.listNamespacedReplicaSet({ namespace: scope.namespace });
    expect(left.items.map((replicaSet) => replicaSet.metadata?.name).sort()).toEqual(
      ['hand-made', ...[running, older, stable, current].map((hash) => `shop-${hash}`)].sort(),
    );
    expect(left.items.map((replicaSet) => replicaSet.metadata?.name)).not.toContain(`shop-${oldest}`);

    // Nothing more to prune: a second run, as after a retry, deletes nothing.
    await pruneOldReplicaSets(kube, { rollout: first.ref, keepTemplateHashes: [current, stable] });
    expect((await apps.listNamespacedReplicaSet({ namespace: scope.namespace })).items).toHaveLength(5);
  });
});

describe('choosing which ReplicaSets to prune', () => {
  const owner = (uid: string): k8s.V1OwnerReference => ({
    apiVersion: 'siirto.dev/v1alpha1',
    kind: 'Rollout',
    name: 'shop',
    uid,
    controller: true,
  });
  const replicaSet = (
    hash: string,
    revision: number,
    created: string,
    ownerUid = 'u1',
  ): k8s.V1ReplicaSet => ({
    metadata: {
      name: `shop-${hash}`,
      labels: { [POD_TEMPLATE_HASH_LABEL]: hash },
      annotations: { [REVISION_ANNOTATION]: String(revision) },
      creationTimestamp: new Date(created),
      ownerReferences: [owner(ownerUid)],
    },
    spec: { replicas: 0, selector: {} },
  });

  it('orders by revision, so a template that came back counts as recent though its ReplicaSet is old', () => {
    const returned = replicaSet('aaa', 5, '2030-01-01T00:00:00Z');
    const middle = replicaSet('bbb', 3, '2030-01-02T00:00:00Z');
    const later = replicaSet('ccc', 4, '2030-01-03T00:00:00Z');

    expect(replicaSetsToPrune([returned, middle, later], 'u1', [], 1)).toEqual([middle, later]);
  });

  it('keeps all when there are no more than the limit, and never one of another owner', () => {
    const mine = replicaSet('aaa', 1, '2030-01-01T00:00:00Z');
    const other = replicaSet('bbb', 1, '2030-01-01T00:00:00Z', 'u2');

    expect(replicaSetsToPrune([mine], 'u1', [], 1)).toEqual([]);
    expect(replicaSetsToPrune([mine, other], 'u1', [], 0)).toEqual([mine]);
  });
});
