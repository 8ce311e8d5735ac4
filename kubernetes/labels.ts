/** Label on a revision's ReplicaSet and pods, and in the Services' selectors, naming its pod template. */
export const POD_TEMPLATE_HASH_LABEL = 'siirto.dev/pod-template-hash';
/** Annotation on a revision's ReplicaSet with the Rollout revision number it belongs to. */
export const REVISION_ANNOTATION = 'siirto.dev/revision';
/** Annotations kubectl-only users set on a Rollout to drive it; the bridge removes them once delivered. */
export const PROMOTE_ANNOTATION = 'siirto.dev/promote';
export const ABORT_ANNOTATION = 'siirto.dev/abort';
export const RETRY_ANNOTATION = 'siirto.dev/retry';
/** Who applied the change, so events and history say who promoted or aborted. */
export const FIELD_MANAGER = 'siirto';
