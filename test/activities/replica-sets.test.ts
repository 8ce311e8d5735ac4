import { ensureReplicaSet, scaleReplicaSet } from '../../activities/replica-sets';
import { waitForReplicaSetAvailable } from '../../activities/replica-set-availability';
import { POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION } from '../../kubernetes/labels';
import { runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { waitFor } from '../harness/wait';
import { activityKubeClients, changeRolloutImage, createRollout, failureOf, runActivity } from './fixtures';

describe('the ReplicaSet of a revision', () => {
  const scope = isolate('activity-rs');
  const kube = activityKubeClients();
  const { apps } = kubeClients();

  it('is created from the Rollout, owned by it, and its pods become available', async () => {
    const { ref, rollout, templateHash } = await createRollout(scope.namespace, 'shop');

    const summary = await ensureReplicaSet(kube, { rollout: ref, revision: 1, templateHash, replicas: 2 });
    expect(summary).toEqual({ name: `shop-${templateHash}`, replicas: 2, availableReplicas: 0 });

    const replicaSet = await apps.readNamespacedReplicaSet({
      name: summary.name,
      namespace: scope.namespace,
    });
    expect(replicaSet.metadata?.ownerReferences).toEqual([
      {
        apiVersion: 'siirto.dev/v1alpha1',
        kind: 'Rollout',
        name: 'shop',
        uid: ref.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(replicaSet.metadata?.annotations?.[REVISION_ANNOTATION]).toBe('1');
    expect(replicaSet.metadata?.labels).toEqual({
      app: 'shop',
      tier: 'web',
      [POD_TEMPLATE_HASH_LABEL]: templateHash,
    });
    expect(replicaSet.spec?.selector).toEqual({
      matchLabels: { app: 'shop', [POD_TEMPLATE_HASH_LABEL]: templateHash },
      matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }],
    });
    expect(replicaSet.spec?.template?.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL]).toBe(templateHash);
    expect(replicaSet.spec?.template?.metadata?.annotations).toEqual(
      rollout.spec.template.metadata?.annotations,
    );
    expect(replicaSet.spec?.template?.spec?.containers[0]?.image).toBe('registry.example/shop:1');

    const wait = runActivity(() =>
      waitForReplicaSetAvailable(kube, { rollout: ref, templateHash, replicas: 2, deadlineSeconds: 60 }),
    );
    expect(await wait.result).toEqual({ name: summary.name, replicas: 2, availableReplicas: 2 });
    expect(wait.heartbeats).toContainEqual(expect.objectContaining({ replicas: 2 }));

    const pods = JSON.parse(
      await runOrThrow('kubectl', [
        'get',
        'pods',
        '-n',
        scope.namespace,
        '-l',
        `${POD_TEMPLATE_HASH_LABEL}=${templateHash}`,
        '-o',
        'json',
      ]),
    ) as { items: { status: { conditions: { type: string; status: string }[] } }[] };
    expect(pods.items).toHaveLength(2);
    for (const pod of pods.items) {
      expect(pod.status.conditions).toContainEqual(
        expect.objectContaining({ type: 'Ready', status: 'True' }),
      );
    }
  });

  it('is left as it is when ensured again with the same replicas, as a retried activity does', async () => {
    const { ref, templateHash } = await createRollout(scope.namespace, 'retried');
    const input = { rollout: ref, revision: 3, templateHash, replicas: 1 };
    const first = await ensureReplicaSet(kube, input);
    const before = await apps.readNamespacedReplicaSet({ name: first.name, namespace: scope.namespace });

    const [second, third] = await Promise.all([ensureReplicaSet(kube, input), ensureReplicaSet(kube, input)]);

    expect(second.name).toBe(first.name);
    expect(third.name).toBe(first.name);
    const after = await apps.readNamespacedReplicaSet({ name: first.name, namespace: scope.namespace });
    expect(after.metadata?.uid).toBe(before.metadata?.uid);
    expect(after.metadata?.generation).toBe(before.metadata?.generation);
    const owned = await apps.listNamespacedReplicaSet({
      namespace: scope.namespace,
      labelSelector: `${POD_TEMPLATE_HASH_LABEL}=${templateHash}`,
    });
    expect(owned.items).toHaveLength(1);
  });

  it('is scaled when ensured with other replicas, and scaled to zero its pods go away', async () => {
    const { ref, templateHash } = await createRollout(scope.namespace, 'scaled');
    await ensureReplicaSet(kube, { rollout: ref, revision: 1, templateHash, replicas: 1 });
    const scaledUp = await ensureReplicaSet(kube, { rollout: ref, revision: 2, templateHash, replicas: 3 });
    expect(scaledUp.replicas).toBe(3);
    const annotated = await apps.readNamespacedReplicaSet({
      name: scaledUp.name,
      namespace: scope.namespace,
    });
    expect(annotated.metadata?.annotations?.[REVISION_ANNOTATION]).toBe('2');

    const three = runActivity(() =>
      waitForReplicaSetAvailable(kube, { rollout: ref, templateHash, replicas: 3, deadlineSeconds: 60 }),
    );
    expect((await three.result).availableReplicas).toBe(3);

    await scaleReplicaSet(kube, { rollout: ref, templateHash, replicas: 0 });
    const none = runActivity(() =>
      waitForReplicaSetAvailable(kube, { rollout: ref, templateHash, replicas: 0, deadlineSeconds: 60 }),
    );
    expect(await none.result).toEqual({ name: scaledUp.name, replicas: 0, availableReplicas: 0 });
    await waitFor('the pods of the scaled-down ReplicaSet to be gone', async () => {
      const pods = await kubeClients().core.listNamespacedPod({
        namespace: scope.namespace,
        labelSelector: `${POD_TEMPLATE_HASH_LABEL}=${templateHash}`,
      });
      return pods.items.length === 0;
    });
  });

  it('scaling a ReplicaSet that does not exist to zero succeeds; to more fails naming it', async () => {
    const { ref } = await createRollout(scope.namespace, 'absent');
    await expect(
      scaleReplicaSet(kube, { rollout: ref, templateHash: '0123456789', replicas: 0 }),
    ).resolves.toBe(undefined);
    const failure = await failureOf(
      scaleReplicaSet(kube, { rollout: ref, templateHash: '0123456789', replicas: 2 }),
    );
    expect(failure.type).toBe('ReplicaSetMissing');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(`ReplicaSet ${scope.namespace}/absent-0123456789`);
  });

  it('is refused with RevisionSuperseded once the Rollout has a newer template', async () => {
    const { ref, templateHash } = await createRollout(scope.namespace, 'superseded');
    const { templateHash: newerHash } = await changeRolloutImage(ref, 'registry.example/shop:2');
    expect(newerHash).not.toBe(templateHash);

    const failure = await failureOf(
      ensureReplicaSet(kube, { rollout: ref, revision: 1, templateHash, replicas: 1 }),
    );

    expect(failure.type).toBe('RevisionSuperseded');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(`Rollout ${scope.namespace}/superseded`);
    expect(failure.message).toContain(newerHash);
    const listed = await apps.listNamespacedReplicaSet({
      namespace: scope.namespace,
      labelSelector: `${POD_TEMPLATE_HASH_LABEL}=${templateHash}`,
    });
    expect(listed.items).toHaveLength(0);
  });

  it('is refused with RolloutGone for a Rollout deleted and created again under the same name', async () => {
    const original = await createRollout(scope.namespace, 'recreated');
    await runOrThrow('kubectl', [
      'delete',
      'rollouts.siirto.dev',
      'recreated',
      '-n',
      scope.namespace,
      '--wait=true',
    ]);
    await createRollout(scope.namespace, 'recreated');

    const failure = await failureOf(
      ensureReplicaSet(kube, {
        rollout: original.ref,
        revision: 1,
        templateHash: original.templateHash,
        replicas: 1,
      }),
    );

    expect(failure.type).toBe('RolloutGone');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(original.ref.uid);
  });

  it('refuses to take over a ReplicaSet of the same name the Rollout does not own', async () => {
    const { ref, templateHash } = await createRollout(scope.namespace, 'foreign');
    await apps.createNamespacedReplicaSet({
      namespace: scope.namespace,
      body: {
        metadata: { name: `foreign-${templateHash}` },
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

    const failure = await failureOf(
      ensureReplicaSet(kube, { rollout: ref, revision: 1, templateHash, replicas: 1 }),
    );

    expect(failure.type).toBe('ReplicaSetConflict');
    expect(failure.message).toContain(`ReplicaSet ${scope.namespace}/foreign-${templateHash}`);
    const untouched = await apps.readNamespacedReplicaSet({
      name: `foreign-${templateHash}`,
      namespace: scope.namespace,
    });
    expect(untouched.spec?.replicas).toBe(0);
  });

  it('turns a pod template the apiserver rejects into a non-retryable failure naming the fix', async () => {
    const { ref, templateHash } = await createRollout(scope.namespace, 'invalid-template', {
      podSpec: { containers: [{ name: 'Not_A_Valid_Name', image: 'registry.example/shop:1' }] },
    });

    const failure = await failureOf(
      ensureReplicaSet(kube, { rollout: ref, revision: 1, templateHash, replicas: 1 }),
    );

    expect(failure.nonRetryable).toBe(true);
    expect(failure.type).toBe('KubernetesInvalid');
    expect(failure.message).toContain('spec.template.spec.containers[0].name');
    expect(failure.message).toContain("Rollout's spec.template");
  });
});
