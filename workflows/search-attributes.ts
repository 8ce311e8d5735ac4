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

/** Memo key of a revision's images, so `siirto history` can tell revisions apart without the cluster. */
export const ROLLOUT_IMAGES_MEMO = 'images';
