import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Search attributes every rollout workflow carries, so `temporal workflow list --query` and the
 * bridge find a Rollout's workflows without knowing their IDs. They are registered on the Temporal
 * namespace once (`temporal operator search-attribute create`), all as Keyword.
 * Imports only @temporalio/common: workflow code loads this module too.
 */
export const RolloutNamespaceKey = defineSearchAttributeKey('RolloutNamespace', SearchAttributeType.KEYWORD);
export const RolloutNameKey = defineSearchAttributeKey('RolloutName', SearchAttributeType.KEYWORD);
/** The revision number as text, since Keyword is what the namespace registered. */
export const RolloutRevisionKey = defineSearchAttributeKey('RolloutRevision', SearchAttributeType.KEYWORD);
export const RolloutPhaseKey = defineSearchAttributeKey('RolloutPhase', SearchAttributeType.KEYWORD);
export const RolloutStrategyKey = defineSearchAttributeKey('RolloutStrategy', SearchAttributeType.KEYWORD);
/**
 * SIIRTO_CLUSTER_ID of the cluster whose bridge started the run, set only when it has one: clusters
 * sharing a Temporal namespace tell their runs apart by it (temporal/cluster-identity.ts).
 */
export const SiirtoClusterKey = defineSearchAttributeKey('SiirtoCluster', SearchAttributeType.KEYWORD);

/** Memo key of a revision's images, so `siirto history` can tell revisions apart without the cluster. */
export const ROLLOUT_IMAGES_MEMO = 'images';
/**
 * Memo key with the uid of the Rollout object a run was started for. Workflow IDs carry only the
 * name, so after a Rollout is deleted and created again this tells the old object's runs apart.
 */
export const ROLLOUT_UID_MEMO = 'rolloutUid';
/**
 * A fleet release, `<app>/<release>`, on its fleet workflow (`fleet/<app>`): every run of a release
 * (and of all releases of an app, `SiirtoRelease STARTS_WITH 'checkout/'`) is found by it.
 */
export const SiirtoReleaseKey = defineSearchAttributeKey('SiirtoRelease', SearchAttributeType.KEYWORD);
