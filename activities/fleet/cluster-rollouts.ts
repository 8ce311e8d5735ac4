import * as k8s from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { isNotFound } from '../../kubernetes/errors';
import type { KubeClients } from '../../kubernetes/client';
import { selectorText } from '../../kubernetes/label-selector';
import { POD_TEMPLATE_ANNOTATION, POD_TEMPLATE_HASH_LABEL } from '../../kubernetes/labels';
import { FailureType } from '../../reasons/rollout-reasons';
import { ROLLOUT_GROUP, ROLLOUT_PLURAL, ROLLOUT_VERSION, type PodTemplate } from '../../schemas/rollout';
import { addressText, type RolloutAddress } from '../../workflows/fleet-api';
import { abortUpdate, promoteUpdate } from '../../workflows/rollout-api';
import type { FleetActivities } from './fleet-activities';
import { followRolloutByWatch, rolloutGone, type FleetRollout } from './rollout-follow';
import { changeTemplate, TemplateChangeError, templateHashOf, type TemplateChange } from './template-change';

/** The release a Rollout's template came from, `<app>/<release>`: `kubectl get rollouts -L` shows it. */
export const FLEET_RELEASE_ANNOTATION = 'siirto.dev/fleet-release';
/** The template hash the release replaced, so a retried write still knows what to roll back to. */
export const FLEET_PREVIOUS_TEMPLATE_ANNOTATION = 'siirto.dev/fleet-previous-template-hash';

const rolloutType = { group: ROLLOUT_GROUP, version: ROLLOUT_VERSION, plural: ROLLOUT_PLURAL };

async function readRollout(kube: KubeClients, target: RolloutAddress): Promise<FleetRollout> {
  try {
    return (await kube.custom.getNamespacedCustomObject({
      ...rolloutType,
      namespace: target.namespace,
      name: target.name,
    })) as FleetRollout;
  } catch (error) {
    if (isNotFound(error)) throw rolloutGone(target);
    // Anything else (the apiserver unreachable, say) is retried: the wave waits for the cluster.
    throw error;
  }
}

/**
 * Writes a Rollout's pod template (and whatever else `also` changes) as one JSON patch, refused if
 * someone wrote the Rollout since it was read: the activity's retry reads it again.
 */
async function writeTemplate(
  kube: KubeClients,
  target: RolloutAddress,
  rollout: FleetRollout,
  template: unknown,
  ...also: object[]
): Promise<void> {
  await kube.custom.patchNamespacedCustomObject(
    {
      ...rolloutType,
      namespace: target.namespace,
      name: target.name,
      body: [
        { op: 'test', path: '/metadata/resourceVersion', value: rollout.metadata.resourceVersion },
        { op: 'replace', path: '/spec/template', value: template },
        ...also,
      ],
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
  );
}

/** The fleet's work on this cluster's Rollouts: write the change, follow, abort, promote, roll back. */
export function createClusterRolloutActivities(
  kube: KubeClients,
  temporal: Client,
): Omit<FleetActivities, 'resolveFleetAnalysis' | 'measureFleetMetric'> {
  const commandTarget = async (target: RolloutAddress, templateHash: string) => {
    const rollout = await readRollout(kube, target);
    const status = rollout.status ?? {};
    const inFlight =
      status.currentTemplateHash === templateHash &&
      status.workflowId !== undefined &&
      status.phase !== 'Healthy' &&
      status.phase !== 'Degraded';
    return { rollout, status, inFlight };
  };

  return {
    async findFleetRollouts({ cluster, namespace, selector }) {
      const list = (await kube.custom.listNamespacedCustomObject({
        ...rolloutType,
        namespace,
        labelSelector: selectorText(selector),
      })) as { items: FleetRollout[] };
      return list.items
        .map((item) => ({ cluster, namespace, name: item.metadata.name }))
        .sort((a, b) => a.name.localeCompare(b.name));
    },

    async applyFleetChange({ target, release, change }) {
      const rollout = await readRollout(kube, target);
      const current = templateHashOf(rollout.spec.template);
      let changed: PodTemplate;
      try {
        changed = changeTemplate(rollout.spec.template, change as TemplateChange);
      } catch (error) {
        if (!(error instanceof TemplateChangeError)) throw error;
        throw ApplicationFailure.nonRetryable(
          `${addressText(target)}: ${error.message}`,
          FailureType.InvalidConfiguration,
        );
      }
      const templateHash = templateHashOf(changed);
      const annotations = rollout.metadata.annotations ?? {};
      if (templateHash === current) {
        const status = rollout.status ?? {};
        // Written by this release before (an answer lost, the activity retried): what it replaced is noted.
        const noted =
          annotations[FLEET_RELEASE_ANNOTATION] === release
            ? annotations[FLEET_PREVIOUS_TEMPLATE_ANNOTATION]
            : undefined;
        const unchanged =
          noted === undefined && status.stableTemplateHash === templateHash && status.phase === 'Healthy';
        return {
          templateHash,
          previousTemplateHash: noted ?? (unchanged ? undefined : status.stableTemplateHash),
          unchanged,
        };
      }
      await writeTemplate(kube, target, rollout, changed, {
        op: 'add',
        path: '/metadata/annotations',
        value: {
          ...annotations,
          [FLEET_RELEASE_ANNOTATION]: release,
          [FLEET_PREVIOUS_TEMPLATE_ANNOTATION]: current,
        },
      });
      return { templateHash, previousTemplateHash: current, unchanged: false };
    },

    followFleetRollout: (input) => followRolloutByWatch(kube, input),

    async abortFleetRollout({ target, templateHash, reason, by }) {
      const { status, inFlight } = await commandTarget(target, templateHash);
      if (!inFlight || !status.workflowId) {
        return `${addressText(target)}: nothing in flight to abort (${status.phase ?? 'no phase'}, revision ${status.revision ?? '-'})`;
      }
      try {
        await temporal.workflow
          .getHandle(status.workflowId)
          .executeUpdate(abortUpdate, { args: [{ reason, by }] });
        return `${addressText(target)}: aborted ${status.workflowId}`;
      } catch (error) {
        if (error instanceof WorkflowUpdateFailedError || error instanceof WorkflowNotFoundError) {
          return `${addressText(target)}: ${status.workflowId} did not take the abort: ${error instanceof WorkflowUpdateFailedError ? (error.cause?.message ?? error.message) : error.message}`;
        }
        throw error;
      }
    },

    async promoteFleetRollout({ target, templateHash, full, by }) {
      const { status, inFlight } = await commandTarget(target, templateHash);
      if (!inFlight || !status.workflowId) {
        return {
          accepted: false,
          message: `${addressText(target)}: nothing in flight to promote (${status.phase ?? 'no phase'})`,
        };
      }
      try {
        await temporal.workflow
          .getHandle(status.workflowId)
          .executeUpdate(promoteUpdate, { args: [{ full, by }] });
        return {
          accepted: true,
          message: `${addressText(target)}: promote accepted by ${status.workflowId}`,
        };
      } catch (error) {
        if (error instanceof WorkflowUpdateFailedError || error instanceof WorkflowNotFoundError) {
          return {
            accepted: false,
            message: `${addressText(target)}: promote refused: ${error instanceof WorkflowUpdateFailedError ? (error.cause?.message ?? error.message) : error.message}`,
          };
        }
        throw error;
      }
    },

    async rollBackFleetRollout({ target, fromTemplateHash, toTemplateHash }) {
      const rollout = await readRollout(kube, target);
      const specHash = templateHashOf(rollout.spec.template);
      if (specHash === toTemplateHash)
        return { restored: true, message: `${addressText(target)}: has its previous template` };
      if (specHash !== fromTemplateHash) {
        return {
          restored: false,
          message: `${addressText(target)}: left as it is, its template changed outside the release (${specHash})`,
        };
      }
      const replicaSets = await kube.apps.listNamespacedReplicaSet({
        namespace: target.namespace,
        labelSelector: `${POD_TEMPLATE_HASH_LABEL}=${toTemplateHash}`,
      });
      const written = replicaSets.items.find((replicaSet) =>
        replicaSet.metadata?.ownerReferences?.some((owner) => owner.uid === rollout.metadata.uid),
      )?.metadata?.annotations?.[POD_TEMPLATE_ANNOTATION];
      if (!written) {
        throw ApplicationFailure.nonRetryable(
          `${addressText(target)}: the ReplicaSet of its previous template ${toTemplateHash} is no longer kept, so it cannot be put back; ` +
            'roll back with `siirto undo` in that cluster',
          FailureType.ReplicaSetMissing,
        );
      }
      await writeTemplate(kube, target, rollout, JSON.parse(written) as unknown);
      return { restored: true, message: `${addressText(target)}: template ${toTemplateHash} put back` };
    },
  };
}
