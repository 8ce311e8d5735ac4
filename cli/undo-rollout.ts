import * as k8s from '@kubernetes/client-node';
import { POD_TEMPLATE_ANNOTATION, POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION } from '../kubernetes/labels';
import { ROLLOUT_GROUP, ROLLOUT_PLURAL, ROLLOUT_VERSION } from '../schemas/rollout';
import { CliError, type CliContext } from './cli-context';
import { readRollout } from './rollouts';

/**
 * `siirto undo NAME [--to-revision N]`: puts an earlier revision's pod template back on the Rollout,
 * which the bridge rolls out as a new revision (its ReplicaSet is found again by hash).
 */
export async function undoCommand(context: CliContext, name: string, toRevision?: number): Promise<string> {
  const rollout = await readRollout(context, name);
  const current = rollout.status?.revision ?? 0;
  const listed = await context.kube.apps.listNamespacedReplicaSet({ namespace: context.namespace });
  const earlier = listed.items
    .filter((replicaSet) =>
      replicaSet.metadata?.ownerReferences?.some((owner) => owner.uid === rollout.metadata.uid),
    )
    .map((replicaSet) => ({
      replicaSet,
      revision: Number(replicaSet.metadata?.annotations?.[REVISION_ANNOTATION] ?? 0),
    }))
    .filter(({ revision, replicaSet }) =>
      toRevision === undefined
        ? revision < current &&
          replicaSet.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL] !== rollout.status?.currentTemplateHash
        : revision === toRevision,
    )
    .sort((a, b) => b.revision - a.revision);
  const target = earlier[0];
  const written = target?.replicaSet.metadata?.annotations?.[POD_TEMPLATE_ANNOTATION];
  if (!target || !written) {
    const kept = toRevision === undefined ? 'no earlier revision' : `revision ${toRevision} is not`;
    throw new CliError(
      `${kept} kept for rollout ${name}: only revisions whose ReplicaSet remains (revisionHistoryLimit) can be restored`,
      4,
    );
  }
  const template: unknown = JSON.parse(written);
  await context.kube.custom.patchNamespacedCustomObject(
    {
      group: ROLLOUT_GROUP,
      version: ROLLOUT_VERSION,
      plural: ROLLOUT_PLURAL,
      namespace: context.namespace,
      name,
      body: [{ op: 'replace', path: '/spec/template', value: template }],
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
  );
  return `rollout ${name}: template of revision ${target.revision} restored; it rolls out as revision ${current + 1}`;
}
